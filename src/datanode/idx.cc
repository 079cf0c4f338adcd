#include "datanode/idx.h"

#include <algorithm>
#include <string>

#include "common/coding.h"
#include "datanode/needle.h"

namespace cfs::datanode {

bool IdxEntry::IsDeletion() const { return offset_units == 0 || size == 0 || size == kTombstoneSize; }

void EncodeIdxEntry(const IdxEntry& e, char* out) {
  EncodeBE64(out, e.id.value());
  EncodeBE32(out + 8, static_cast<uint32_t>(e.offset_units));
  EncodeBE32(out + 12, e.size);
}

IdxEntry DecodeIdxEntry(const char* p, int offset_bytes) {
  IdxEntry e;
  e.id = NeedleId(DecodeBE64(p));
  e.offset_units = DecodeBE32(p + 8);
  if (offset_bytes == 5) {
    e.offset_units |= uint64_t{static_cast<uint8_t>(p[12])} << 32;
    e.size = DecodeBE32(p + 13);
  } else {
    e.size = DecodeBE32(p + 12);
  }
  return e;
}

size_t ForEachIdxEntry(std::string_view data, int offset_bytes,
                       const std::function<void(const IdxEntry&, uint64_t)>& fn) {
  size_t entry_size = IdxEntrySize(offset_bytes);
  size_t n = data.size() / entry_size;
  for (size_t i = 0; i < n; ++i) fn(DecodeIdxEntry(data.data() + i * entry_size, offset_bytes), i);
  return data.size() - n * entry_size;
}

Result<size_t> ScanIdxFile(const File& file, uint64_t size, int offset_bytes,
                           const std::function<void(const IdxEntry&, uint64_t)>& fn) {
  const size_t entry_size = IdxEntrySize(offset_bytes);
  const size_t chunk_entries = (1 << 20) / 16;
  uint64_t whole = size / entry_size * entry_size;
  // Sized to the file: a small index must not pay for a 1 MiB buffer.
  std::string buf(std::min<uint64_t>(chunk_entries * entry_size, whole), '\0');
  uint64_t index = 0;
  for (uint64_t pos = 0; pos < whole;) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), whole - pos));
    CFS_RETURN_IF_ERROR(ReadExact(file, pos, std::span<char>(buf.data(), n)));
    for (size_t i = 0; i < n; i += entry_size) fn(DecodeIdxEntry(buf.data() + i, offset_bytes), index++);
    pos += n;
  }
  return static_cast<size_t>(size - whole);
}

}  // namespace cfs::datanode
