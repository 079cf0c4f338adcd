#include "rpc/server.h"

#include <atomic>

#include <fmt/format.h>

#include "common/logging.h"
#include "common/metrics.h"

namespace cfs::rpc {

struct Server::State {
  State(asio::any_io_executor e, ServerOptions o) : ex(std::move(e)), options(o) {}
  asio::any_io_executor ex;
  const ServerOptions options;
  // Filled by Register before Listen; read-only afterwards.
  std::unordered_map<uint16_t, Handler> handlers;
  std::atomic<uint64_t> connections{0}, requests{0}, errors{0}, bad_frames{0};
  std::mutex mu;
  std::shared_ptr<tcp::acceptor> acceptor;           // guarded by mu
  std::vector<std::weak_ptr<Connection>> open;        // guarded by mu
};

class Server::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, std::shared_ptr<State> state)
      : socket_(std::move(socket)),
        strand_(asio::make_strand(socket_.get_executor())),
        writer_(socket_, strand_),
        state_(std::move(state)),
        options_(state_->options),
        resume_(strand_, std::chrono::steady_clock::time_point::max()) {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? "?" : fmt::format("{}:{}", ep.address().to_string(), ep.port());
    socket_.set_option(tcp::no_delay(true), ec);
  }

  void Start() {
    auto self = shared_from_this();
    asio::co_spawn(strand_, [self]() -> asio::awaitable<void> {
      Status s = co_await self->writer_.Run();
      if (!s.ok()) self->CloseOnStrand(s.message());
    }, asio::detached);
    asio::co_spawn(strand_, [self]() { return self->ReadLoop(); }, asio::detached);
  }

  void Close() {
    asio::post(strand_, [self = shared_from_this()] { self->CloseOnStrand("server stopping"); });
  }

 private:
  void CloseOnStrand(std::string_view why) {
    if (closed_) return;
    closed_ = true;
    spdlog::debug("rpc: closing connection from {}: {}", peer_, why);
    writer_.Close();
    resume_.cancel();
    boost::system::error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  asio::awaitable<void> ReadLoop() {
    auto self = shared_from_this();
    while (!closed_) {
      if (inflight_ >= options_.max_inflight_per_connection) {
        // Push back: stop reading until a request finishes.
        co_await resume_.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      auto frame = co_await reader_.Next(socket_);
      if (!frame.ok()) {
        if (frame.status().Is(Code::kInvalidArgument)) {
          state_->bad_frames++;
          spdlog::warn("rpc: closing connection from {}: {}", peer_, frame.status().message());
        }
        CloseOnStrand(frame.status().message());
        co_return;
      }
      if (frame->header.kind != FrameKind::kRequest) {
        state_->bad_frames++;
        spdlog::warn("rpc: closing connection from {}: a response frame sent to a server", peer_);
        CloseOnStrand("response frame from a client");
        co_return;
      }
      ++inflight_;
      state_->requests++;
      asio::co_spawn(socket_.get_executor(), Serve(std::move(*frame), std::chrono::steady_clock::now()),
                     asio::detached);
    }
  }

  // Runs one request off the strand, then queues its response on it.
  asio::awaitable<void> Serve(InFrame frame, std::chrono::steady_clock::time_point received) {
    auto self = shared_from_this();
    Call call;
    call.method = frame.header.method_or_code;
    call.message = std::move(frame.message);
    call.payload = std::move(frame.payload);
    call.deadline = frame.header.deadline_ms == 0 ? std::chrono::steady_clock::time_point::max()
                                                  : received + std::chrono::milliseconds(frame.header.deadline_ms);
    call.peer = peer_;
    static Counter& requests = MetricsRegistry::Default().GetCounter("cfs_rpc_requests_total", "RPC requests served");
    static Counter& errors =
        MetricsRegistry::Default().GetCounter("cfs_rpc_errors_total", "RPC requests answered with an error");
    static Histogram& latency =
        MetricsRegistry::Default().GetHistogram("cfs_rpc_request_seconds", "Time from receipt to reply of RPC requests");
    requests.Inc();
    Reply reply;
    auto it = state_->handlers.find(call.method);
    if (it == state_->handlers.end()) {
      reply.status = Status::NotSupported(fmt::format("method {} is not served here", call.method));
    } else if (std::chrono::steady_clock::now() >= call.deadline) {
      reply.status = Status::Timeout("deadline passed before the request ran");
    } else {
      try {
        reply = co_await it->second(call);
      } catch (const std::exception& e) {
        reply.status = Status::Internal(fmt::format("handler for method {} threw: {}", call.method, e.what()));
      }
    }
    FrameHeader h;
    h.kind = FrameKind::kResponse;
    h.request_id = frame.header.request_id;
    h.method_or_code = static_cast<uint16_t>(reply.status.code());
    latency.Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - received).count());
    if (!reply.status.ok()) {
      errors.Inc();
      state_->errors++;
      proto::RpcError err;
      err.set_message(reply.status.message());
      err.set_leader_hint(reply.status.leader_hint());
      reply.message = err.SerializeAsString();
      reply.payload = OutPayload();
    }
    // The writer lives on the strand.
    asio::post(strand_, [self, h, message = std::move(reply.message), payload = std::move(reply.payload)]() mutable {
      self->writer_.Enqueue(h, std::move(message), std::move(payload));
      if (self->inflight_-- == self->options_.max_inflight_per_connection) self->resume_.cancel();
    });
  }

  tcp::socket socket_;
  Strand strand_;
  FrameWriter writer_;
  std::shared_ptr<State> state_;
  FrameReader reader_{state_->options.limits};
  const ServerOptions& options_;
  asio::steady_timer resume_;
  std::string peer_;
  int inflight_ = 0;  // on the strand
  bool closed_ = false;
};

Server::Server(asio::any_io_executor ex, ServerOptions options)
    : state_(std::make_shared<State>(std::move(ex), options)) {}

Server::~Server() { Stop(); }

void Server::Register(proto::Method method, Handler h) { state_->handlers[static_cast<uint16_t>(method)] = std::move(h); }

Result<std::string> Server::Listen(const std::string& address) {
  CFS_ASSIGN_OR_RETURN(Listener listener, rpc::Listen(state_->ex, address, "rpc"));
  {
    std::lock_guard l(state_->mu);
    state_->acceptor = listener.acceptor;
  }
  asio::co_spawn(state_->ex, AcceptLoop(state_, listener.acceptor), asio::detached);
  return listener.bound;
}

asio::awaitable<void> Server::AcceptLoop(std::shared_ptr<State> state, std::shared_ptr<tcp::acceptor> acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
    std::lock_guard l(state->mu);
    if (state->acceptor != acceptor) co_return;  // stopped
    if (ec) {
      spdlog::warn("rpc: accept: {}", ec.message());
      continue;
    }
    state->connections++;
    auto conn = std::make_shared<Connection>(std::move(socket), state);
    std::erase_if(state->open, [](const auto& w) { return w.expired(); });
    state->open.push_back(conn);
    conn->Start();
  }
}

void Server::Stop() {
  std::lock_guard l(state_->mu);
  CloseListenerAndConnections(state_->acceptor, state_->open);
}

ServerStats Server::Stats() const {
  return ServerStats{state_->connections.load(), state_->requests.load(), state_->errors.load(),
                     state_->bad_frames.load()};
}

}  // namespace cfs::rpc
