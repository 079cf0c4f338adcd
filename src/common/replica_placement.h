// Replica placement code "xyz", as SeaweedFS defines it:
//   x: copies in other data centers, y: copies in other racks of the same
//   data center, z: copies on other servers of the same rack.
// Stored in a superblock as one byte x*100 + y*10 + z.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cfs {

struct ReplicaPlacement {
  uint8_t diff_data_center = 0;
  uint8_t diff_rack = 0;
  uint8_t same_rack = 0;

  // "001" -> {0,0,1}; "" means "000". Each character must be a digit and
  // the value xyz must fit the superblock byte (at most 255).
  static Result<ReplicaPlacement> Parse(std::string_view s);
  // The superblock byte; values above 255 or with a digit over 9 are refused.
  static Result<ReplicaPlacement> FromByte(uint8_t b);
  uint8_t ToByte() const { return static_cast<uint8_t>(diff_data_center * 100 + diff_rack * 10 + same_rack); }
  std::string ToString() const;
  // Total copies, the original included.
  int CopyCount() const { return diff_data_center + diff_rack + same_rack + 1; }
  bool operator==(const ReplicaPlacement&) const = default;
};

}  // namespace cfs
