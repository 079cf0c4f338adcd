// Awaiting the MultiRaft host from a coroutine at a service edge: Propose and
// ReadIndex take callbacks that run on a group's apply thread; these turn
// them into awaitables with a deadline, resumed on the caller's executor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio.hpp>
#include <fmt/format.h>

#include "common/status.h"
#include "raft/multiraft.h"

namespace cfs::raft {

namespace asio = boost::asio;

namespace await_detail {

// Completes a coroutine exactly once, from whichever comes first: the
// host's callback (any thread) or the deadline timer.
template <typename T, typename Handler>
struct Waiter {
  Waiter(Handler h, asio::any_io_executor e) : handler(std::move(h)), ex(e), timer(e) {}
  void Complete(T value) {
    std::optional<Handler> h;
    {
      std::lock_guard l(mu);
      if (!handler) return;
      h.emplace(std::move(*handler));
      handler.reset();
    }
    // The deadline timer goes too: left pending it would hold this waiter
    // (and a timer queue slot) until the deadline, for every call.
    asio::post(ex, [this_waiter = self.lock(), h = std::move(*h), v = std::move(value)]() mutable {
      if (this_waiter) this_waiter->timer.cancel();
      std::move(h)(std::move(v));
    });
  }
  std::weak_ptr<Waiter> self;
  std::mutex mu;
  std::optional<Handler> handler;
  asio::any_io_executor ex;
  asio::steady_timer timer;
};

template <typename T>
struct Initiation {
  std::function<void(std::function<void(T)>)> start;
  std::chrono::milliseconds timeout;
  std::string what;
  asio::any_io_executor ex;

  template <typename Handler>
  void operator()(Handler handler) {
    auto waiter = std::make_shared<Waiter<T, Handler>>(std::move(handler), ex);
    waiter->self = waiter;
    waiter->timer.expires_after(timeout);
    waiter->timer.async_wait([waiter, what = what, ms = timeout.count()](boost::system::error_code) {
      waiter->Complete(T(Status::Timeout(fmt::format("{}: no answer in {} ms", what, ms))));
    });
    start([waiter](T value) { waiter->Complete(std::move(value)); });
  }
};

}  // namespace await_detail

// Calls start(done) and awaits done's value, or Timeout after `timeout`.
template <typename T>
asio::awaitable<T> AwaitCallback(std::function<void(std::function<void(T)>)> start, std::chrono::milliseconds timeout,
                                 std::string what) {
  auto ex = co_await asio::this_coro::executor;
  await_detail::Initiation<T> init{std::move(start), timeout, std::move(what), ex};
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(T)>(std::move(init),
                                                                                   asio::use_awaitable);
}

// MultiRaft::Propose, awaited: the state machine's answer, or the host's
// error, or Timeout.
inline asio::awaitable<Result<std::string>> Propose(MultiRaft& host, GroupId group, std::string data,
                                                    std::chrono::milliseconds timeout) {
  std::function<void(std::function<void(Result<std::string>)>)> start =
      [&host, group, data = std::move(data)](std::function<void(Result<std::string>)> done) mutable {
        host.Propose(group, std::move(data), std::move(done));
      };
  co_return co_await AwaitCallback<Result<std::string>>(std::move(start), timeout, "raft proposal");
}

// MultiRaft::ReadIndex, awaited: OK once this node may serve a linearizable
// read of the group's state machine.
inline asio::awaitable<Status> ReadIndex(MultiRaft& host, GroupId group, std::chrono::milliseconds timeout) {
  std::function<void(std::function<void(Status)>)> start = [&host, group](std::function<void(Status)> done) {
    host.ReadIndex(group, std::move(done));
  };
  co_return co_await AwaitCallback<Status>(std::move(start), timeout, "raft read index");
}

}  // namespace cfs::raft
