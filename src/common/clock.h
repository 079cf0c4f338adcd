// The Clock seam: all time that domain code reads comes through a Clock, so
// tests can drive it (testing/fake_clock.h).
#pragma once

#include <chrono>
#include <cstdint>

namespace cfs {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time since the Unix epoch, for timestamps stored on disk.
  virtual std::chrono::nanoseconds WallNow() const = 0;
  // Monotonic time, for deadlines and intervals.
  virtual std::chrono::nanoseconds MonotonicNow() const = 0;

  // The process-wide real clock.
  static Clock* Real();
};

}  // namespace cfs
