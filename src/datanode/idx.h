// The .idx file: 16-byte entries (needle id u64, offset u32 in 8-byte units,
// Size u32), appended in write order. A deletion appends
// (id, tombstone offset / 8, 0xFFFFFFFF). Replayed in order, the last entry
// for an id wins. SeaweedFS's "5BytesOffset" builds write 17-byte entries
// (id, 4 low offset bytes, 1 high offset byte, size); they can be read here
// for inspection only.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "common/env.h"
#include "common/ids.h"
#include "common/status.h"

namespace cfs::datanode {

constexpr size_t kIdxEntrySize = 16;

struct IdxEntry {
  NeedleId id;
  uint64_t offset_units = 0;  // offset in .dat / 8
  uint32_t size = 0;          // body size, or kTombstoneSize for a deletion

  uint64_t offset_bytes() const { return offset_units * 8; }
  // As SeaweedFS loads it: a zero offset or a size that is 0 or the tombstone
  // marker means the needle is deleted.
  bool IsDeletion() const;
};

void EncodeIdxEntry(const IdxEntry& e, char* out);  // kIdxEntrySize bytes
IdxEntry DecodeIdxEntry(const char* p, int offset_bytes = 4);
inline size_t IdxEntrySize(int offset_bytes) { return offset_bytes == 5 ? 17 : 16; }

// Calls fn(entry, index) for each whole entry of `data` and returns the
// number of bytes left over after the last whole entry (a torn tail).
size_t ForEachIdxEntry(std::string_view data, int offset_bytes,
                       const std::function<void(const IdxEntry&, uint64_t)>& fn);

// The same over the first `size` bytes of a file, read in large chunks so a
// 10-million-entry index does not need 160 MB of memory at once.
Result<size_t> ScanIdxFile(const File& file, uint64_t size, int offset_bytes,
                           const std::function<void(const IdxEntry&, uint64_t)>& fn);

}  // namespace cfs::datanode
