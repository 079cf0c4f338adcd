#include "rpc/http_server.h"

#include <atomic>
#include <exception>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "common/logging.h"
#include "common/metrics.h"

namespace cfs::rpc {

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Room in the read buffer past the header limit: the parser moves body bytes
// out of it into the request as they arrive.
constexpr size_t kReadSlack = 64 << 10;
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

bool IsHttpParseError(const boost::system::error_code& ec) {
  static const boost::system::error_category& kHttpCategory =
      http::make_error_code(http::error::bad_target).category();
  return ec.category() == kHttpCategory && ec != http::error::end_of_stream && ec != http::error::partial_message;
}

}  // namespace

struct HttpServer::State {
  State(asio::any_io_executor e, HttpServerOptions o) : ex(std::move(e)), options(o) {}
  asio::any_io_executor ex;
  const HttpServerOptions options;
  std::atomic<uint64_t> connections{0}, requests{0}, bad_requests{0};

  // A handler runs under a shared lock of routes_mu, so Stop, which sets
  // `stopped` under the exclusive lock, waits for the running ones and no
  // handler starts after it.
  std::shared_mutex routes_mu;
  std::unordered_map<std::string, HttpHandler> routes;  // guarded by routes_mu
  bool stopped = false;                                 // guarded by routes_mu

  // Lock order: mu, then routes_mu.
  std::mutex mu;
  std::shared_ptr<tcp::acceptor> acceptor;      // guarded by mu; null when not listening
  std::vector<std::weak_ptr<Connection>> open;  // guarded by mu
};

// One accepted connection: a single coroutine on the connection's strand
// reads a request, answers it, and loops while the client keeps it alive.
class HttpServer::Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `socket`'s executor is a strand: Run and Close's work both happen there.
  Connection(tcp::socket socket, std::shared_ptr<State> state) : stream_(std::move(socket)), state_(std::move(state)) {
    boost::system::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    peer_ = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
  }

  void Start() {
    asio::co_spawn(stream_.get_executor(), [self = shared_from_this()] { return self->Run(); }, asio::detached);
  }

  void Close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->CloseOnStrand(); });
  }

 private:
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;

  void CloseOnStrand() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  asio::awaitable<void> Run() {
    const HttpServerOptions& opts = state_->options;
    beast::flat_buffer buffer(opts.max_header_bytes + kReadSlack);
    while (!closed_) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<uint32_t>(std::min<size_t>(opts.max_header_bytes, UINT32_MAX)));
      parser.body_limit(opts.max_body_bytes);
      stream_.expires_after(opts.idle_timeout);
      auto [ec, n] = co_await http::async_read(stream_, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (IsHttpParseError(ec)) co_await RefuseBadRequest(ec);
        CloseOnStrand();
        co_return;
      }
      std::optional<Response> res = Answer(parser.get());
      if (!res) {  // stopped
        CloseOnStrand();
        co_return;
      }
      state_->requests++;
      bool keep_alive = res->keep_alive();
      stream_.expires_after(opts.idle_timeout);
      auto [wec, wn] = co_await http::async_write(stream_, *res, asio::as_tuple(asio::use_awaitable));
      if (wec || !keep_alive) {
        CloseOnStrand();
        co_return;
      }
    }
  }

  // Answers a malformed or oversized request with its status, best effort;
  // the caller closes the connection.
  asio::awaitable<void> RefuseBadRequest(const boost::system::error_code& ec) {
    state_->bad_requests++;
    spdlog::warn("http: closing connection from {}: {}", peer_, ec.message());
    http::status status = http::status::bad_request;
    if (ec == http::error::header_limit) status = http::status::request_header_fields_too_large;
    if (ec == http::error::body_limit) status = http::status::payload_too_large;
    Response res{status, 11};
    res.set(http::field::server, "containerfs");
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(false);
    res.body() = ec.message() + "\n";
    res.prepare_payload();
    stream_.expires_after(state_->options.idle_timeout);
    co_await http::async_write(stream_, res, asio::as_tuple(asio::use_awaitable));
  }

  // The response to `req`, or nullopt once the server is stopped.
  std::optional<Response> Answer(const Request& req) {
    const bool head = req.method() == http::verb::head;
    HttpReply reply;
    bool allow = false;
    {
      std::shared_lock l(state_->routes_mu);
      if (state_->stopped) return std::nullopt;
      if (req.method() != http::verb::get && !head) {
        reply = HttpReply{405, "text/plain; charset=utf-8", "method not allowed\n"};
        allow = true;
      } else {
        std::string_view path(req.target().data(), req.target().size());
        path = path.substr(0, path.find('?'));
        auto it = state_->routes.find(std::string(path));
        if (it == state_->routes.end()) {
          reply = HttpReply{404, "text/plain; charset=utf-8", "not found\n"};
        } else {
          try {
            reply = it->second();
          } catch (const std::exception& e) {
            reply = HttpReply{500, "text/plain; charset=utf-8", fmt::format("handler failed: {}\n", e.what())};
          } catch (...) {
            reply = HttpReply{500, "text/plain; charset=utf-8", "handler failed\n"};
          }
        }
      }
    }
    if (reply.status < 100 || reply.status > 599) {
      reply = HttpReply{500, "text/plain; charset=utf-8", fmt::format("handler gave status {}\n", reply.status)};
    }
    Response res{static_cast<http::status>(reply.status), req.version()};
    res.set(http::field::server, "containerfs");
    res.set(http::field::content_type, reply.content_type);
    if (allow) res.set(http::field::allow, "GET, HEAD");
    res.keep_alive(req.keep_alive());
    if (head) {
      // The headers GET would give, without the body.
      res.content_length(reply.body.size());
    } else {
      res.body() = std::move(reply.body);
      res.prepare_payload();
    }
    return res;
  }

  beast::tcp_stream stream_;
  std::shared_ptr<State> state_;
  std::string peer_;
  bool closed_ = false;  // on the strand
};

HttpServer::HttpServer(asio::any_io_executor ex, HttpServerOptions options)
    : state_(std::make_shared<State>(std::move(ex), options)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Route(std::string path, HttpHandler handler) {
  std::unique_lock l(state_->routes_mu);
  if (state_->stopped) return;
  state_->routes[std::move(path)] = std::move(handler);
}

Result<std::string> HttpServer::Listen(const std::string& address) {
  std::lock_guard l(state_->mu);
  {
    std::shared_lock rl(state_->routes_mu);
    if (state_->stopped) return Status::Unavailable(fmt::format("http listen on {}: server stopped", address));
  }
  if (state_->acceptor) return Status::InvalidArgument(fmt::format("http listen on {}: already listening", address));
  CFS_ASSIGN_OR_RETURN(Listener listener, rpc::Listen(state_->ex, address, "http"));
  state_->acceptor = listener.acceptor;
  Accept(state_, listener.acceptor);
  return listener.bound;
}

// Arms one accept. Called with state->mu held, so it never overlaps Stop
// closing the acceptor from another thread.
void HttpServer::Accept(const std::shared_ptr<State>& state, const std::shared_ptr<tcp::acceptor>& acceptor) {
  acceptor->async_accept(
      asio::any_io_executor(asio::make_strand(state->ex)),
      [state, acceptor](const boost::system::error_code& ec, tcp::socket socket) {
        std::lock_guard l(state->mu);
        if (state->acceptor != acceptor) return;  // stopped
        if (ec) {
          // Out of descriptors, typically: retry soon rather than spin.
          spdlog::warn("http: accept: {}", ec.message());
          auto timer = std::make_shared<asio::steady_timer>(state->ex, kAcceptRetryDelay);
          timer->async_wait([state, acceptor, timer](const boost::system::error_code&) {
            std::lock_guard l2(state->mu);
            if (state->acceptor == acceptor) Accept(state, acceptor);
          });
          return;
        }
        state->connections++;
        auto conn = std::make_shared<Connection>(std::move(socket), state);
        std::erase_if(state->open, [](const auto& w) { return w.expired(); });
        state->open.push_back(conn);
        conn->Start();
        Accept(state, acceptor);
      });
}

void HttpServer::Stop() {
  std::unordered_map<std::string, HttpHandler> routes;  // destroyed outside the locks
  {
    std::unique_lock l(state_->routes_mu);  // waits for running handlers
    state_->stopped = true;
    routes.swap(state_->routes);
  }
  std::lock_guard l(state_->mu);
  CloseListenerAndConnections(state_->acceptor, state_->open);
}

HttpServerStats HttpServer::Stats() const {
  return HttpServerStats{state_->connections.load(), state_->requests.load(), state_->bad_requests.load()};
}

void AddDefaultRoutes(HttpServer& server, std::function<std::string()> status_json) {
  server.Route("/metrics", [] {
    return HttpReply{200, kPrometheusContentType, MetricsRegistry::Default().RenderPrometheus()};
  });
  server.Route("/status", [fn = std::move(status_json)] {
    return HttpReply{200, "application/json", fn ? fn() : std::string("{}")};
  });
}

}  // namespace cfs::rpc
