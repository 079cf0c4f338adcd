// Server: one listening port for every RPC of a process. Each connection is
// read by one coroutine; every request runs as its own coroutine, so many
// are in flight per connection, bounded by max_inflight_per_connection
// (past it the connection is not read: TCP pushes back on the client).
// A malformed frame closes its connection with a logged reason.
//
// Handlers are coroutines at the service edge; the domain code they call
// stays synchronous.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include <fmt/format.h>
#include <google/protobuf/message.h>

#include "common/status.h"
#include "proto/rpc.pb.h"
#include "rpc/transport.h"

namespace cfs::rpc {

struct Call {
  uint16_t method = 0;
  std::string message;  // the request, serialized
  std::string payload;  // raw bytes beside it
  std::chrono::steady_clock::time_point deadline;  // max() when none
  std::string peer;
};

struct Reply {
  Status status;
  std::string message;  // the response, serialized (ignored unless OK)
  OutPayload payload;
};

using Handler = std::function<asio::awaitable<Reply>(Call&)>;

// The answer of a typed handler: a response message and a raw payload.
template <typename Resp>
struct Answer {
  Resp response;
  std::string payload;
  size_t payload_offset = 0;  // what is sent: payload from here on (<= payload.size())
};

struct ServerOptions {
  FrameLimits limits;
  int max_inflight_per_connection = 1024;
};

struct ServerStats {
  uint64_t connections = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;           // replies with a non-OK status
  uint64_t bad_frames = 0;       // connections closed for a malformed frame
};

class Server {
 public:
  Server(asio::any_io_executor ex, ServerOptions options = {});
  ~Server();

  // Registers before Listen. `h` answers every call of `method`.
  void Register(proto::Method method, Handler h);

  // Typed form: parses Req (InvalidArgument if it does not parse), runs
  // fn(req, payload), serializes the answer.
  template <typename Req, typename Resp>
  void Handle(proto::Method method,
              std::function<asio::awaitable<Result<Answer<Resp>>>(Req&, std::string& payload, const Call&)> fn) {
    Register(method, [fn = std::move(fn)](Call& call) -> asio::awaitable<Reply> {
      Req req;
      if (!req.ParseFromString(call.message)) {
        co_return Reply{Status::InvalidArgument(fmt::format("request for method {} does not parse as {}", call.method,
                                                            Req::descriptor()->name())),
                        {}, {}};
      }
      Result<Answer<Resp>> r = co_await fn(req, call.payload, call);
      if (!r.ok()) co_return Reply{r.status(), {}, {}};
      Reply reply;
      r->response.SerializeToString(&reply.message);
      reply.payload = OutPayload(std::move(r->payload), r->payload_offset);
      co_return reply;
    });
  }

  // Binds and starts accepting. "host:0" picks a free port. Returns the
  // address actually bound.
  Result<std::string> Listen(const std::string& address);
  // Stops accepting and closes every connection.
  void Stop();
  ServerStats Stats() const;

 private:
  class Connection;
  struct State;
  static asio::awaitable<void> AcceptLoop(std::shared_ptr<State> state, std::shared_ptr<tcp::acceptor> acceptor);

  // Everything the server's coroutines touch lives in State, which they
  // share: a Server may be destroyed while they wind down.
  std::shared_ptr<State> state_;
};

}  // namespace cfs::rpc
