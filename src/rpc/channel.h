// Channel: the client side of one peer. One TCP connection carries every
// call to that peer (multiplexed by request id, many in flight).
//
// - Deadlines: each call has a timeout, sent to the server and enforced here.
// - Cancellation: a call whose awaiting coroutine is cancelled (asio
//   cancellation slot) completes with Cancelled; its late reply is dropped.
// - Reconnect: a lost connection fails the calls in flight (Unavailable) and
//   is reopened by the next call, with exponential backoff between attempts.
// - Push-back: at most max_inflight calls are in flight; later calls wait
//   for a slot (within their deadline).
// - Errors from the server arrive as their Status code, NotLeader with the
//   leader's address.
//
// Thread-safety: Call may be awaited from any executor; the channel's state
// lives on its own strand.
#pragma once

#include <chrono>
#include <deque>
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

struct ChannelOptions {
  FrameLimits limits;
  int max_inflight = 256;
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds min_backoff{20};
  std::chrono::milliseconds max_backoff{2000};
};

struct Response {
  std::string message;
  std::string payload;
};

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  static std::shared_ptr<Channel> Make(asio::any_io_executor ex, std::string address, ChannelOptions options = {});
  ~Channel();

  // Sends one request and awaits its response.
  asio::awaitable<Result<Response>> Call(proto::Method method, std::string message, OutPayload payload,
                                         std::chrono::milliseconds timeout);

  // Typed form: serializes `req`, parses the response into *resp.
  template <typename Resp>
  asio::awaitable<Result<std::string>> Call(proto::Method method, const google::protobuf::Message& req, Resp* resp,
                                            OutPayload payload, std::chrono::milliseconds timeout) {
    auto r = co_await Call(method, req.SerializeAsString(), std::move(payload), timeout);
    if (!r.ok()) co_return r.status();
    if (!resp->ParseFromString(r->message)) {
      co_return Status::Corruption(fmt::format("{}: response does not parse as {}", address_, Resp::descriptor()->name()));
    }
    co_return std::move(r->payload);
  }

  // Closes the connection; calls in flight fail with Unavailable.
  void Close();
  const std::string& address() const { return address_; }

 private:
  struct Pending;
  Channel(asio::any_io_executor ex, std::string address, ChannelOptions options);
  asio::awaitable<Result<Response>> CallOnStrand(proto::Method method, std::string message, OutPayload payload,
                                                 std::chrono::milliseconds timeout);
  asio::awaitable<Status> EnsureConnected(std::chrono::steady_clock::time_point deadline);
  asio::awaitable<void> Connect();
  asio::awaitable<void> ReadLoop(std::shared_ptr<tcp::socket> socket, uint64_t generation);
  void FailAll(const Status& why);
  void Disconnect(const Status& why);
  void WakeSlotWaiter();

  asio::any_io_executor ex_;
  Strand strand_;
  const std::string address_;
  const ChannelOptions options_;

  // All below on strand_.
  std::shared_ptr<tcp::socket> socket_;
  // Shared with the coroutine that runs it, which may outlive a disconnect.
  std::shared_ptr<FrameWriter> writer_;
  uint64_t generation_ = 0;  // bumped per connection
  bool connecting_ = false;
  bool closed_ = false;
  Status last_error_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  asio::steady_timer connected_signal_;  // cancelled when a connect attempt ends
  uint64_t next_id_ = 1;
  int inflight_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<Pending>> pending_;
  std::deque<std::shared_ptr<asio::steady_timer>> slot_waiters_;
};

// A set of channels by address, made on first use. Thread-safe.
class ChannelPool {
 public:
  explicit ChannelPool(asio::any_io_executor ex, ChannelOptions options = {}) : ex_(std::move(ex)), options_(options) {}
  std::shared_ptr<Channel> Get(const std::string& address);
  void CloseAll();
  const asio::any_io_executor& executor() const { return ex_; }

 private:
  asio::any_io_executor ex_;
  ChannelOptions options_;
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<Channel>> channels_;
};

}  // namespace cfs::rpc
