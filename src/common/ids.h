// Strong id types: distinct types for every kind of id, so a NeedleId can
// never be passed where a BlockGroupId is expected. Never a bare integer in an
// interface.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

#include <fmt/format.h>

namespace cfs {

template <typename Tag, typename Rep>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr auto operator<=>(const StrongId&) const = default;

  template <typename H>
  friend H AbslHashValue(H h, StrongId id) {
    return H::combine(std::move(h), id.v_);
  }
  friend std::ostream& operator<<(std::ostream& os, StrongId id) { return os << id.v_; }

 private:
  Rep v_{};
};

using BlockGroupId = StrongId<struct BlockGroupIdTag, uint32_t>;
using NeedleId = StrongId<struct NeedleIdTag, uint64_t>;
using Cookie = StrongId<struct CookieTag, uint32_t>;
using VolumeId = StrongId<struct VolumeIdTag, uint64_t>;
using InodeId = StrongId<struct InodeIdTag, uint64_t>;
using PartitionId = StrongId<struct PartitionIdTag, uint64_t>;
using NodeId = StrongId<struct NodeIdTag, uint64_t>;
using Term = StrongId<struct TermTag, uint64_t>;
using LogIndex = StrongId<struct LogIndexTag, uint64_t>;

}  // namespace cfs

template <typename Tag, typename Rep>
struct std::hash<cfs::StrongId<Tag, Rep>> {
  size_t operator()(cfs::StrongId<Tag, Rep> id) const noexcept { return std::hash<Rep>()(id.value()); }
};

template <typename Tag, typename Rep>
struct fmt::formatter<cfs::StrongId<Tag, Rep>> : fmt::formatter<Rep> {
  auto format(cfs::StrongId<Tag, Rep> id, fmt::format_context& ctx) const {
    return fmt::formatter<Rep>::format(id.value(), ctx);
  }
};
