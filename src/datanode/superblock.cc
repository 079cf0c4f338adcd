#include "datanode/superblock.h"

#include <fmt/format.h>

#include "common/coding.h"

namespace cfs::datanode {

std::string SuperBlock::Encode() const {
  std::string out(kSuperBlockSize, '\0');
  out[0] = static_cast<char>(version);
  out[1] = static_cast<char>(placement.ToByte());
  out[2] = static_cast<char>(ttl.count);
  out[3] = static_cast<char>(ttl.unit);
  EncodeBE16(&out[4], compaction_revision);
  EncodeBE16(&out[6], static_cast<uint16_t>(extra.size()));
  out += extra;
  return out;
}

Result<SuperBlock> SuperBlock::Decode(std::string_view data, uint16_t* extra_size) {
  if (data.size() < kSuperBlockSize) {
    return Status::Corruption(fmt::format("superblock is {} bytes, needs {}", data.size(), kSuperBlockSize));
  }
  SuperBlock sb;
  sb.version = static_cast<uint8_t>(data[0]);
  if (sb.version != kNeedleVersion3) {
    return Status::NotSupported(fmt::format("needle version {} is not supported (only version 3)", sb.version));
  }
  CFS_ASSIGN_OR_RETURN(sb.placement, ReplicaPlacement::FromByte(static_cast<uint8_t>(data[1])));
  CFS_ASSIGN_OR_RETURN(sb.ttl, Ttl::FromBytes(static_cast<uint8_t>(data[2]), static_cast<uint8_t>(data[3])));
  sb.compaction_revision = DecodeBE16(&data[4]);
  uint16_t extra = DecodeBE16(&data[6]);
  if (extra_size) *extra_size = extra;
  if (extra % 8 != 0) {
    return Status::NotSupported(fmt::format("superblock extra size {} would misalign needles", extra));
  }
  if (data.size() >= kSuperBlockSize + extra) sb.extra.assign(data.substr(kSuperBlockSize, extra));
  return sb;
}

}  // namespace cfs::datanode
