#include "rpc/runtime.h"

namespace cfs::rpc {

Runtime::Runtime(int threads, std::chrono::microseconds spin) : ioc_(threads), work_(ioc_.get_executor()) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this, spin] { Loop(spin); });
}

void Runtime::Loop(std::chrono::microseconds spin) {
  if (spin.count() <= 0) {
    ioc_.run();
    return;
  }
  using Clock = std::chrono::steady_clock;
  auto idle_since = Clock::now();
  while (!ioc_.stopped()) {
    if (ioc_.poll() > 0) {
      idle_since = Clock::now();
    } else if (Clock::now() - idle_since < spin) {
      std::this_thread::yield();
    } else {
      ioc_.run_one();  // sleeps until there is work (or Stop)
      idle_since = Clock::now();
    }
  }
}

Runtime::~Runtime() { Stop(); }

void Runtime::Stop() {
  work_.reset();
  ioc_.stop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace cfs::rpc
