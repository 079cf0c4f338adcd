#include "common/replica_placement.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace cfs {

Result<ReplicaPlacement> ReplicaPlacement::Parse(std::string_view s) {
  if (s.empty()) return ReplicaPlacement{};
  if (s.size() != 3) {
    return Status::InvalidArgument(fmt::format("replica placement {} must be three digits xyz", Quoted(s)));
  }
  uint8_t d[3];
  for (int i = 0; i < 3; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return Status::InvalidArgument(fmt::format("replica placement {} must be three digits xyz", Quoted(s)));
    }
    d[i] = static_cast<uint8_t>(s[i] - '0');
  }
  // The superblock holds x*100 + y*10 + z in one byte (SeaweedFS refuses > 255 too).
  if (d[0] * 100 + d[1] * 10 + d[2] > 255) {
    return Status::InvalidArgument(
        fmt::format("replica placement {} does not fit in one byte (at most 255)", Quoted(s)));
  }
  return ReplicaPlacement{d[0], d[1], d[2]};
}

Result<ReplicaPlacement> ReplicaPlacement::FromByte(uint8_t b) {
  // Every byte 0..255 decodes to digits; x can reach 2 at most.
  return ReplicaPlacement{static_cast<uint8_t>(b / 100), static_cast<uint8_t>((b / 10) % 10),
                          static_cast<uint8_t>(b % 10)};
}

std::string ReplicaPlacement::ToString() const {
  return fmt::format("{}{}{}", diff_data_center, diff_rack, same_rack);
}

}  // namespace cfs
