// HttpServer: the small HTTP/1.1 port of every process (Boost.Beast), for
// /metrics (Prometheus text) and /status (JSON). Not for data.
//
// Only GET and HEAD are served (other methods: 405 with Allow); a path
// without a route is 404; the query string is ignored for routing. Keep-alive
// follows HTTP/1.1 (and "Connection: close" / HTTP/1.0). Input is bounded: a
// request whose header passes max_header_bytes (431), whose body passes
// max_body_bytes (413) or that does not parse (400) gets that status and its
// connection is closed; an idle or stalled connection is closed after
// idle_timeout. None of it touches the other connections.
//
// Handlers are plain synchronous functions run on the server's executor:
// they must be quick (render a page from state they can read safely from
// that thread). A handler that throws gives 500.
//
// Thread-safety: every method may be called from any thread, but not from
// inside a handler. The server's coroutines own their state through a
// shared_ptr, so the HttpServer may be destroyed while connections wind down;
// once Stop (or the destructor) returns, no handler is running and none will
// run again, so objects the handlers capture may be destroyed next.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/status.h"
#include "rpc/transport.h"

namespace cfs::rpc {

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpReply()>;

struct HttpServerOptions {
  size_t max_header_bytes = 8 << 10;
  size_t max_body_bytes = 1 << 20;
  // How long a connection may sit between requests, or take to send one or
  // to read a response, before it is closed.
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
};

struct HttpServerStats {
  uint64_t connections = 0;   // accepted
  uint64_t requests = 0;      // answered, any status
  uint64_t bad_requests = 0;  // connections closed for a malformed or oversized request
};

class HttpServer {
 public:
  explicit HttpServer(asio::any_io_executor ex, HttpServerOptions options = {});
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Serves GET/HEAD of exactly `path` ("/metrics") with `handler`, replacing
  // an earlier route of that path. May be called before or after Listen;
  // ignored after Stop.
  void Route(std::string path, HttpHandler handler);

  // Binds and starts accepting. "host:0" picks a free port. Returns the
  // address actually bound ("127.0.0.1:41234"); InvalidArgument for an
  // address that does not parse, Unavailable when it cannot be bound.
  Result<std::string> Listen(const std::string& address);

  // Stops accepting and closes every connection (asynchronously, on their
  // strands). Waits for handlers that are running; afterwards no handler runs
  // and the routes (and what they capture) are destroyed. Idempotent; the
  // server cannot Listen again.
  void Stop();

  HttpServerStats Stats() const;

 private:
  class Connection;
  struct State;
  static void Accept(const std::shared_ptr<State>& state, const std::shared_ptr<tcp::acceptor>& acceptor);

  std::shared_ptr<State> state_;
};

// The content type of the Prometheus text exposition format.
inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4";

// Registers /metrics (MetricsRegistry::Default().RenderPrometheus()) and
// /status (`status_json()`, as application/json; "{}" when it is empty).
void AddDefaultRoutes(HttpServer& server, std::function<std::string()> status_json);

}  // namespace cfs::rpc
