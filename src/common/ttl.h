// Time to live of a block group or needle, as SeaweedFS encodes it: a count
// byte and a unit byte (0 none, 1 minute, 2 hour, 3 day, 4 week, 5 month,
// 6 year). Written "3m", "4h", "5d", "1w", "2M", "1y"; a bare number means
// minutes; "" means no TTL.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cfs {

enum class TtlUnit : uint8_t { kNone = 0, kMinute = 1, kHour = 2, kDay = 3, kWeek = 4, kMonth = 5, kYear = 6 };

struct Ttl {
  uint8_t count = 0;
  TtlUnit unit = TtlUnit::kNone;

  static Result<Ttl> Parse(std::string_view s);
  // From the two stored bytes; an unknown unit is Corruption.
  static Result<Ttl> FromBytes(uint8_t count, uint8_t unit);
  bool empty() const { return count == 0 || unit == TtlUnit::kNone; }
  // Months are 30 days and years 365, as in SeaweedFS.
  std::chrono::seconds Duration() const;
  std::string ToString() const;
  bool operator==(const Ttl&) const = default;
};

}  // namespace cfs
