// Runtime: an io_context and the threads that run it. Every process and
// tool runs its RPC on one. Thread-safe.
#pragma once

#include <chrono>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

namespace cfs::rpc {

class Runtime {
 public:
  // `spin`: a thread that runs out of work keeps polling (epoll without
  // waiting, yielding to anything runnable) this long before it sleeps, so
  // an answer or request arriving meanwhile is taken at once. Waking a
  // sleeping thread costs far more on these VMs than a poll (a sleeping
  // vCPU halts; docs/architecture.md, Client): worth it where latency
  // counts (the mount), paid in CPU while work keeps arriving. Zero: sleep
  // at once.
  explicit Runtime(int threads = 1, std::chrono::microseconds spin = std::chrono::microseconds(0));
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  boost::asio::any_io_executor executor() { return ioc_.get_executor(); }
  boost::asio::io_context& context() { return ioc_; }

  // Runs a coroutine on the runtime and blocks the calling thread (which
  // must not be one of the runtime's) until it finishes.
  template <typename T>
  T Run(boost::asio::awaitable<T> a) {
    return boost::asio::co_spawn(ioc_, std::move(a), boost::asio::use_future).get();
  }

  // Stops the loop and joins the threads; pending work is dropped.
  void Stop();

 private:
  void Loop(std::chrono::microseconds spin);

  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

}  // namespace cfs::rpc
