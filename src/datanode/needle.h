// Needle version 3, byte-compatible with SeaweedFS (DESIGN.md section 3).
//
//   header (16)  cookie u32 | needle id u64 | Size u32
//   body (Size)  only when data is non-empty:
//                data_size u32 | data | flags u8 | [name_len u8 name] |
//                [mime_len u8 mime] | [last_modified 5 bytes] | [ttl 2 bytes] |
//                [pairs_len u16 pairs]          (each present when its flag is)
//   tail         checksum u32 (CRC-32C of data; the masked form is accepted) |
//                append time u64 ns | padding of 1..8 bytes
//
// Size counts only the body: empty data means Size 0 and no body, which is
// also what a deletion tombstone looks like. A tombstone's checksum field is
// not meaningful (SeaweedFS stores whatever the deleting request carried) and
// is never checked. All integers big-endian; every
// record starts 8-byte aligned.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/file_id.h"
#include "common/ids.h"
#include "common/status.h"
#include "common/ttl.h"

namespace cfs::datanode {

constexpr uint32_t kNeedleHeaderSize = 16;
constexpr uint32_t kNeedleChecksumSize = 4;
constexpr uint32_t kNeedleTimestampSize = 8;
constexpr uint32_t kNeedleAlignment = 8;
// Size recorded in .idx for a deletion.
constexpr uint32_t kTombstoneSize = 0xFFFFFFFF;
// Block groups address needles in 8-byte units with a u32: at most 32 GiB.
constexpr uint64_t kMaxBlockGroupBytes = (uint64_t{1} << 32) * kNeedleAlignment;

enum NeedleFlag : uint8_t {
  kFlagGzip = 0x01,
  kFlagName = 0x02,
  kFlagMime = 0x04,
  kFlagLastModified = 0x08,
  kFlagTtl = 0x10,
  kFlagPairs = 0x20,
  kFlagChunkManifest = 0x80,
};

// Padding after a record whose body is `size` bytes: 1..8, never 0.
constexpr uint32_t NeedlePadding(uint32_t size) {
  return kNeedleAlignment - static_cast<uint32_t>((kNeedleHeaderSize + uint64_t{size} + kNeedleChecksumSize +
                                                   kNeedleTimestampSize) % kNeedleAlignment);
}
// Bytes a record with body `size` occupies in .dat, padding included.
constexpr uint64_t NeedleRecordSize(uint32_t size) {
  return uint64_t{kNeedleHeaderSize} + size + kNeedleChecksumSize + kNeedleTimestampSize + NeedlePadding(size);
}
// Bytes to read to decode a record: everything but the padding.
constexpr uint64_t NeedleReadSize(uint32_t size) {
  return uint64_t{kNeedleHeaderSize} + size + kNeedleChecksumSize + kNeedleTimestampSize;
}

// A needle whose variable fields point into a buffer owned elsewhere.
// Optional fields count only when their flag is set in `flags`.
struct NeedleView {
  Cookie cookie;
  NeedleId id;
  uint32_t size = 0;  // body size as stored (set by Encode/Decode)
  std::string_view data;
  uint8_t flags = 0;
  std::string_view name;
  std::string_view mime;
  uint64_t last_modified = 0;  // Unix seconds, 40 bits stored
  Ttl ttl;
  std::string_view pairs;
  uint32_t checksum = 0;  // as stored (raw or masked)
  uint64_t append_at_ns = 0;

  bool IsTombstone() const { return size == 0; }
};

struct NeedleHeader {
  Cookie cookie;
  NeedleId id;
  uint32_t size = 0;
};

NeedleHeader DecodeNeedleHeader(const char* p);  // p holds kNeedleHeaderSize bytes
void EncodeNeedleHeader(const NeedleHeader& h, char* p);

// Body size for `n`, or InvalidArgument when a field is too long for its
// length prefix (name/mime 255, pairs 65535, last_modified 40 bits) or the
// record would not fit the u32 Size.
Result<uint32_t> NeedleBodySize(const NeedleView& n);

// Appends the full record (padding included) to *out, with the raw CRC-32C
// of n.data and `append_at_ns`. Returns the body size.
Result<uint32_t> EncodeNeedle(const NeedleView& n, uint64_t append_at_ns, std::string* out);

// The record's bytes before and after n.data: the record is *head, n.data,
// *tail (both replaced), so that large data is written from where it lies.
// `data_checksum` must be NeedleChecksum(n.data). Returns the body size.
Result<uint32_t> EncodeNeedleAround(const NeedleView& n, uint64_t append_at_ns, uint32_t data_checksum,
                                    std::string* head, std::string* tail);

// Decodes a record from `record`, which must hold at least
// NeedleReadSize(header size) bytes. Every length is bounds-checked: a field
// running past the body, or a body with bytes left over, is Corruption. The
// checksum is not verified here (see VerifyNeedleChecksum).
Result<NeedleView> DecodeNeedle(std::string_view record);

// CRC-32C of the data, the value EncodeNeedle stores.
uint32_t NeedleChecksum(std::string_view data);
// True when `stored` is the raw or the masked CRC-32C of `data`.
bool NeedleChecksumMatches(uint32_t stored, std::string_view data);


}  // namespace cfs::datanode
