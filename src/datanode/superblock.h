// The 8-byte superblock at the start of every .dat file (SeaweedFS version 3):
//   version u8 | replica placement u8 | ttl (count u8, unit u8) |
//   compaction revision u16 | extra size u16
// followed by `extra size` bytes of extra data (we write none). The first
// needle starts right after it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/replica_placement.h"
#include "common/status.h"
#include "common/ttl.h"

namespace cfs::datanode {

constexpr uint8_t kNeedleVersion3 = 3;
constexpr size_t kSuperBlockSize = 8;

struct SuperBlock {
  uint8_t version = kNeedleVersion3;
  ReplicaPlacement placement;
  Ttl ttl;
  uint16_t compaction_revision = 0;
  std::string extra;  // opaque extra bytes, kept as found

  // Offset of the first needle.
  uint64_t BlockSize() const { return kSuperBlockSize + extra.size(); }
  std::string Encode() const;
  // Decodes from the first bytes of a .dat file. `data` must hold at least
  // kSuperBlockSize bytes; `*extra_size` receives the extra size field so the
  // caller can read that many more bytes and call again with all of them.
  // Versions other than 3 are NotSupported; bad fields are Corruption.
  static Result<SuperBlock> Decode(std::string_view data, uint16_t* extra_size = nullptr);
};

}  // namespace cfs::datanode
