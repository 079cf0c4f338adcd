#include "common/clock.h"

namespace cfs {
namespace {

class RealClock final : public Clock {
 public:
  std::chrono::nanoseconds WallNow() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::system_clock::now().time_since_epoch());
  }
  std::chrono::nanoseconds MonotonicNow() const override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::steady_clock::now().time_since_epoch());
  }
};

}  // namespace

Clock* Clock::Real() {
  static RealClock clock;
  return &clock;
}

}  // namespace cfs
