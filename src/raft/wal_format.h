// The framing of write-ahead log records (raft/wal.h), apart from the log so
// the fuzz target reaches it directly.
//
// A frame: [u32 payload length][u32 masked crc32c of kind+payload][u8 kind]
// [payload], integers big-endian as in every ContainerFS format. The payload
// is a serialized proto::WalRecord.
//
// A segment is a run of frames: the checkpoint frames first, then the log
// frames. ScanWalSegment walks one and decides what a damaged frame means.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace cfs::raft {

inline constexpr size_t kWalFrameHeaderBytes = 9;
// A record larger than this is never written (Wal splits long runs of
// entries), so a larger length on disk is damage, not a record.
inline constexpr uint32_t kWalMaxPayloadBytes = 64 << 20;

enum class WalFrameKind : uint8_t {
  kCheckpoint = 1,  // the state a segment starts from (hard states, snapshot marks)
  kLog = 2,         // a record appended after the checkpoint
};

// Appends one frame holding `payload` (at most kWalMaxPayloadBytes) to *out.
void AppendWalFrame(std::string* out, WalFrameKind kind, std::string_view payload);

struct WalFrame {
  WalFrameKind kind;
  std::string_view payload;  // points into the decoded bytes
  size_t size = 0;           // header and payload
};

// Decodes the frame at the front of `in`. Errors: Corruption naming what is
// wrong (short header, length past the end or over the bound, unknown kind,
// checksum mismatch with both values).
Result<WalFrame> DecodeWalFrame(std::string_view in);

// Walks the frames of one segment image, calling `fn(offset, frame)` for
// each in order; an error from `fn` stops the walk and is returned with the
// offset prefixed. A frame that fails to decode is a torn write (the process
// died mid-append) only when `last_segment` is set and no valid frame
// starts anywhere after it: then *valid_end is set to its offset and the
// walk ends OK. Anywhere else it is Corruption with the offset: the log is
// never silently shortened past records that were intact.
// On OK, *valid_end is where the last good frame ends.
Status ScanWalSegment(std::string_view image, bool last_segment,
                      const std::function<Status(uint64_t offset, const WalFrame& frame)>& fn,
                      uint64_t* valid_end);

}  // namespace cfs::raft
