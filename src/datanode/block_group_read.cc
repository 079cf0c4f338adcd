// BlockGroup: reads.
#include <fmt/format.h>

#include "common/crc32c.h"
#include "datanode/block_group.h"

namespace cfs::datanode {

Result<NeedleView> BlockGroup::Read(NeedleId id, Cookie cookie, std::string* buffer) const {
  NeedleValue v;
  std::shared_ptr<File> dat;
  uint64_t dat_size = 0;
  {
    std::shared_lock l(mu_);
    auto got = map_.Get(id);
    if (!got || got->deleted()) {
      return Status::NotFound(fmt::format("block group {}: needle {:x} not found", id_, id.value()));
    }
    v = *got;
    dat = dat_;
    dat_size = dat_size_;
  }
  const uint64_t offset = uint64_t{v.offset_units} * kNeedleAlignment;
  // Trust an .idx entry only as far as .dat reaches: a damaged Size must not
  // make us allocate up to 4 GiB before the read fails anyway.
  if (offset + NeedleReadSize(v.size) > dat_size) {
    return Status::Corruption(fmt::format(
        "block group {}: index points needle {:x} (size {}) at offset {}, past the end of .dat ({} bytes)", id_,
        id.value(), v.size, offset, dat_size));
  }
  const uint64_t length = NeedleReadSize(v.size);
  // A hint only: a failure leaves the read as it was.
  if (options_.will_need_min_read != 0 && length >= options_.will_need_min_read) (void)dat->WillNeed(offset, length);
  buffer->resize(length);
  Status s = ReadExact(*dat, offset, *buffer);
  if (!s.ok()) return s.WithContext(fmt::format("block group {}: needle {:x}", id_, id.value()));
  auto decoded = DecodeNeedle(*buffer);
  if (!decoded.ok()) {
    return decoded.status().WithContext(fmt::format("block group {}: offset {}", id_, offset));
  }
  NeedleView& n = *decoded;
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
  const uint32_t crc = NeedleChecksum(n.data);
  if (n.checksum != crc && n.checksum != crc32c::Mask(crc)) {
    return Status::Corruption(fmt::format("block group {}: needle {:x} at offset {}: checksum mismatch: stored {:08x}, "
                                          "computed {:08x}",
                                          id_, id.value(), offset, n.checksum, crc));
  }
  n.checksum = crc;
  if ((n.flags & kFlagTtl) && (n.flags & kFlagLastModified) && !n.ttl.empty()) {
    // In seconds: last_modified has 40 bits, too many to count in nanoseconds.
    auto expires = std::chrono::seconds(n.last_modified) + n.ttl.Duration();
    if (std::chrono::duration_cast<std::chrono::seconds>(options_.clock->WallNow()) >= expires) {
      return Status::NotFound(fmt::format("block group {}: needle {:x} expired (ttl {})", id_, id.value(),
                                          n.ttl.ToString()));
    }
  }
  return n;
}

}  // namespace cfs::datanode
