// BlockGroup: reads.
#include <fmt/format.h>

#include "datanode/block_group.h"

namespace cfs::datanode {

Result<NeedleView> BlockGroup::Read(NeedleId id, Cookie cookie, std::string* buffer) const {
  NeedleValue v;
  std::shared_ptr<File> dat;
  {
    std::shared_lock l(mu_);
    auto got = map_.Get(id);
    if (!got || got->deleted()) {
      return Status::NotFound(fmt::format("block group {}: needle {:x} not found", id_, id.value()));
    }
    v = *got;
    dat = dat_;
  }
  const uint64_t offset = uint64_t{v.offset_units} * kNeedleAlignment;
  buffer->resize(NeedleReadSize(v.size));
  Status s = ReadExact(*dat, offset, *buffer);
  if (!s.ok()) return s.WithContext(fmt::format("block group {}: needle {:x}", id_, id.value()));
  auto decoded = DecodeNeedle(*buffer);
  if (!decoded.ok()) {
    return decoded.status().WithContext(fmt::format("block group {}: offset {}", id_, offset));
  }
  const NeedleView& n = *decoded;
  if (n.id != id || n.size != v.size) {
    return Status::Corruption(fmt::format(
        "block group {}: index points needle {:x} (size {}) at offset {}, which holds needle {:x} (size {})", id_,
        id.value(), v.size, offset, n.id.value(), n.size));
  }
  // A wrong cookie reads exactly like a missing needle: nothing leaks.
  if (n.cookie != cookie) {
    buffer->clear();
    return Status::NotFound(fmt::format("block group {}: needle {:x} not found", id_, id.value()));
  }
  if (!NeedleChecksumMatches(n.checksum, n.data)) {
    return Status::Corruption(fmt::format("block group {}: needle {:x} at offset {}: checksum mismatch: stored {:08x}, "
                                          "computed {:08x}",
                                          id_, id.value(), offset, n.checksum, NeedleChecksum(n.data)));
  }
  if ((n.flags & kFlagTtl) && (n.flags & kFlagLastModified) && !n.ttl.empty()) {
    auto expires = std::chrono::seconds(n.last_modified) + n.ttl.Duration();
    if (options_.clock->WallNow() >= expires) {
      return Status::NotFound(fmt::format("block group {}: needle {:x} expired (ttl {})", id_, id.value(),
                                          n.ttl.ToString()));
    }
  }
  return n;
}

}  // namespace cfs::datanode
