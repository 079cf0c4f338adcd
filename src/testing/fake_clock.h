// FakeClock: a Clock that moves only when a test says so. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>

#include "common/clock.h"

namespace cfs::testing {

class FakeClock final : public Clock {
 public:
  explicit FakeClock(std::chrono::nanoseconds start = std::chrono::seconds(1'700'000'000)) : now_(start.count()) {}
  std::chrono::nanoseconds WallNow() const override { return std::chrono::nanoseconds(now_.load()); }
  std::chrono::nanoseconds MonotonicNow() const override { return std::chrono::nanoseconds(now_.load()); }
  void Advance(std::chrono::nanoseconds d) { now_ += d.count(); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace cfs::testing
