#include "rpc/runtime.h"

namespace cfs::rpc {

Runtime::Runtime(int threads) : ioc_(threads), work_(ioc_.get_executor()) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
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
