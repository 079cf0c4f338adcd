#include "rpc/channel.h"

#include <optional>

#include <fmt/format.h>

#include "common/logging.h"

namespace cfs::rpc {

using Clock = std::chrono::steady_clock;

struct Channel::Pending {
  explicit Pending(const Strand& s) : done(s, Clock::time_point::max()) {}
  asio::steady_timer done;  // cancelled when the result is in
  std::optional<Result<Response>> result;
};

std::shared_ptr<Channel> Channel::Make(asio::any_io_executor ex, std::string address, ChannelOptions options) {
  return std::shared_ptr<Channel>(new Channel(std::move(ex), std::move(address), options));
}

Channel::Channel(asio::any_io_executor ex, std::string address, ChannelOptions options)
    : ex_(ex),
      strand_(asio::make_strand(ex)),
      address_(std::move(address)),
      options_(options),
      connected_signal_(strand_, Clock::time_point::max()) {}

Channel::~Channel() = default;

void Channel::Close() {
  asio::post(strand_, [self = shared_from_this()] {
    self->closed_ = true;
    self->Disconnect(Status::Unavailable(fmt::format("channel to {} closed", self->address_)));
  });
}

void Channel::FailAll(const Status& why) {
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) {
    if (!p->result) p->result = why;
    p->done.cancel();
  }
}

void Channel::Disconnect(const Status& why) {
  if (writer_) writer_->Close();
  writer_.reset();
  if (socket_) {
    boost::system::error_code ec;
    socket_->close(ec);
  }
  socket_.reset();
  ++generation_;
  last_error_ = why;
  FailAll(why);
}

void Channel::WakeSlotWaiter() {
  while (!slot_waiters_.empty()) {
    auto t = std::move(slot_waiters_.front());
    slot_waiters_.pop_front();
    if (t->cancel() > 0) return;  // woke a waiter; else it had timed out
  }
}

asio::awaitable<void> Channel::Connect() {
  auto self = shared_from_this();
  auto ep = ParseEndpoint(address_);
  Status result;
  auto socket = std::make_shared<tcp::socket>(strand_);
  if (!ep.ok()) {
    result = ep.status();
  } else {
    asio::steady_timer timer(strand_, options_.connect_timeout);
    timer.async_wait([socket](const boost::system::error_code& ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket->close(ignored);
      }
    });
    auto [ec] = co_await socket->async_connect(*ep, asio::as_tuple(asio::use_awaitable));
    timer.cancel();
    if (ec) result = FromErrorCode(ec, fmt::format("connect to {}", address_));
  }
  connecting_ = false;
  if (closed_) result = Status::Unavailable(fmt::format("channel to {} closed", address_));
  if (result.ok()) {
    boost::system::error_code ec;
    socket->set_option(tcp::no_delay(true), ec);
    socket_ = socket;
    writer_ = std::make_shared<FrameWriter>(*socket_, strand_);
    backoff_ = std::chrono::milliseconds(0);
    last_error_ = Status::OK();
    uint64_t gen = ++generation_;
    asio::co_spawn(strand_, ReadLoop(socket, gen), asio::detached);
    asio::co_spawn(strand_, [self, gen, socket, w = writer_]() -> asio::awaitable<void> {
      Status s = co_await w->Run();
      if (!s.ok() && self->generation_ == gen) self->Disconnect(s.WithContext(self->address_));
    }, asio::detached);
  } else {
    backoff_ = backoff_.count() == 0 ? options_.min_backoff : std::min(options_.max_backoff, backoff_ * 2);
    next_attempt_ = Clock::now() + backoff_;
    last_error_ = result;
    spdlog::debug("rpc: {}; next attempt in {} ms", result.message(), backoff_.count());
  }
  connected_signal_.cancel();
}

asio::awaitable<Status> Channel::EnsureConnected(Clock::time_point deadline) {
  while (!socket_) {
    if (closed_) co_return Status::Unavailable(fmt::format("channel to {} closed", address_));
    if (!connecting_) {
      if (Clock::now() < next_attempt_) {
        // Backing off after a failed attempt.
        if (next_attempt_ >= deadline) {
          co_return last_error_.ok() ? Status::Unavailable(fmt::format("{} unreachable", address_)) : last_error_;
        }
        asio::steady_timer t(strand_, next_attempt_);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        continue;
      }
      connecting_ = true;
      asio::co_spawn(strand_, Connect(), asio::detached);
    }
    connected_signal_.expires_at(deadline);
    auto [ec] = co_await connected_signal_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) co_return Status::Timeout(fmt::format("connect to {}: deadline passed", address_));
    // The attempt failed: say why now; the next call retries after the backoff.
    if (!socket_ && !connecting_ && !last_error_.ok()) co_return last_error_;
  }
  co_return Status::OK();
}

asio::awaitable<Result<Response>> Channel::Call(proto::Method method, std::string message, OutPayload payload,
                                                std::chrono::milliseconds timeout) {
  // The call's state lives on the strand: run it there. co_spawn forwards
  // the caller's cancellation to it.
  co_return co_await asio::co_spawn(
      strand_, CallOnStrand(method, std::move(message), std::move(payload), timeout), asio::use_awaitable);
}

asio::awaitable<Result<Response>> Channel::CallOnStrand(proto::Method method, std::string message, OutPayload payload,
                                                        std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  const auto deadline = Clock::now() + timeout;
  auto cancel_state = co_await asio::this_coro::cancellation_state;

  // Push-back: wait for an in-flight slot.
  while (inflight_ >= options_.max_inflight) {
    auto t = std::make_shared<asio::steady_timer>(strand_, deadline);
    slot_waiters_.push_back(t);
    auto [ec] = co_await t->async_wait(asio::as_tuple(asio::use_awaitable));
    if (!ec) co_return Status::Timeout(fmt::format("call to {}: no free slot before the deadline ({} in flight)",
                                                   address_, inflight_));
    if (cancel_state.cancelled() != asio::cancellation_type::none) {
      co_return Status(Code::kCancelled, fmt::format("call to {} cancelled", address_));
    }
  }
  ++inflight_;
  struct SlotGuard {
    Channel* c;
    ~SlotGuard() {
      --c->inflight_;
      c->WakeSlotWaiter();
    }
  } guard{this};

  Status conn = co_await EnsureConnected(deadline);
  if (!conn.ok()) co_return conn;

  const uint64_t id = next_id_++;
  auto pending = std::make_shared<Pending>(strand_);
  pending->done.expires_at(deadline);
  pending_[id] = pending;
  FrameHeader h;
  h.kind = FrameKind::kRequest;
  h.method_or_code = static_cast<uint16_t>(method);
  h.request_id = id;
  h.deadline_ms = static_cast<uint32_t>(std::max<int64_t>(1, timeout.count()));
  writer_->Enqueue(h, std::move(message), std::move(payload));

  auto [ec] = co_await pending->done.async_wait(asio::as_tuple(asio::use_awaitable));
  if (pending->result) co_return std::move(*pending->result);
  pending_.erase(id);  // a late reply is dropped
  if (!ec) co_return Status::Timeout(fmt::format("call {} to {}: no reply within {} ms", static_cast<int>(method),
                                                 address_, timeout.count()));
  co_return Status(Code::kCancelled, fmt::format("call {} to {} cancelled", static_cast<int>(method), address_));
}

asio::awaitable<void> Channel::ReadLoop(std::shared_ptr<tcp::socket> socket, uint64_t generation) {
  auto self = shared_from_this();
  FrameReader reader(options_.limits);
  for (;;) {
    auto frame = co_await reader.Next(*socket);
    if (generation != generation_) co_return;  // this connection was replaced
    if (!frame.ok()) {
      if (frame.status().Is(Code::kInvalidArgument)) {
        spdlog::warn("rpc: closing connection to {}: {}", address_, frame.status().message());
      }
      Disconnect(Status::Unavailable(fmt::format("connection to {} lost: {}", address_, frame.status().message())));
      co_return;
    }
    if (frame->header.kind != FrameKind::kResponse) {
      spdlog::warn("rpc: closing connection to {}: it sent a request frame", address_);
      Disconnect(Status::Unavailable(fmt::format("connection to {}: protocol error", address_)));
      co_return;
    }
    auto it = pending_.find(frame->header.request_id);
    if (it == pending_.end()) continue;  // timed out or cancelled meanwhile
    auto p = std::move(it->second);
    pending_.erase(it);
    auto code = static_cast<Code>(frame->header.method_or_code);
    if (code == Code::kOk) {
      p->result = Response{std::move(frame->message), std::move(frame->payload)};
    } else {
      proto::RpcError err;
      err.ParseFromString(frame->message);
      p->result = Status(code, fmt::format("{}: {}", address_, err.message()), err.leader_hint());
    }
    p->done.cancel();
  }
}

std::shared_ptr<Channel> ChannelPool::Get(const std::string& address) {
  std::lock_guard l(mu_);
  auto& c = channels_[address];
  if (!c) c = Channel::Make(ex_, address, options_);
  return c;
}

void ChannelPool::CloseAll() {
  std::lock_guard l(mu_);
  for (auto& [a, c] : channels_) c->Close();
  channels_.clear();
}

}  // namespace cfs::rpc
