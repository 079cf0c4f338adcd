#include "raft/wal_format.h"

#include <fmt/format.h>

#include "common/coding.h"
#include "common/crc32c.h"

namespace cfs::raft {
namespace {

bool KnownKind(uint8_t kind) {
  return kind == static_cast<uint8_t>(WalFrameKind::kCheckpoint) || kind == static_cast<uint8_t>(WalFrameKind::kLog);
}

// The checksum covers the kind byte and the payload, which sit side by side.
uint32_t FrameCrc(const char* kind_and_payload, size_t n) { return crc32c::Value(kind_and_payload, n); }

// Whether a whole, intact frame starts at the front of `in` (DecodeWalFrame
// without building messages).
bool IntactFrameAt(std::string_view in) {
  if (in.size() < kWalFrameHeaderBytes) return false;
  uint32_t length = DecodeBE32(in.data());
  if (length > kWalMaxPayloadBytes || length > in.size() - kWalFrameHeaderBytes) return false;
  if (!KnownKind(static_cast<uint8_t>(in[8]))) return false;
  return crc32c::Unmask(DecodeBE32(in.data() + 4)) == FrameCrc(in.data() + 8, 1 + length);
}

// Whether any offset after `from` holds an intact frame. Only reached on
// damage in the last segment, to tell a torn tail (nothing intact after it)
// from a damaged record in the middle (intact records follow). Cheap per
// offset: most candidate headers fail the length or kind test before the
// checksum is computed.
bool AnyFrameAfter(std::string_view image, size_t from) {
  for (size_t at = from + 1; at + kWalFrameHeaderBytes <= image.size(); ++at) {
    if (IntactFrameAt(image.substr(at))) return true;
  }
  return false;
}

}  // namespace

void AppendWalFrame(std::string* out, WalFrameKind kind, std::string_view payload) {
  size_t start = out->size();
  PutBE32(out, static_cast<uint32_t>(payload.size()));
  PutBE32(out, 0);  // the checksum, filled in below
  out->push_back(static_cast<char>(kind));
  out->append(payload);
  uint32_t crc = FrameCrc(out->data() + start + 8, 1 + payload.size());
  EncodeBE32(out->data() + start + 4, crc32c::Mask(crc));
}

Result<WalFrame> DecodeWalFrame(std::string_view in) {
  if (in.size() < kWalFrameHeaderBytes) {
    return Status::Corruption(fmt::format("frame header cut short: {} of {} bytes", in.size(), kWalFrameHeaderBytes));
  }
  uint32_t length = DecodeBE32(in.data());
  if (length > kWalMaxPayloadBytes) {
    return Status::Corruption(fmt::format("frame length {} is over the bound {}", length, kWalMaxPayloadBytes));
  }
  if (length > in.size() - kWalFrameHeaderBytes) {
    return Status::Corruption(fmt::format("frame of {} payload bytes runs past the end ({} bytes left)", length,
                                          in.size() - kWalFrameHeaderBytes));
  }
  auto kind = static_cast<uint8_t>(in[8]);
  if (!KnownKind(kind)) return Status::Corruption(fmt::format("unknown frame kind {}", kind));
  uint32_t stored = crc32c::Unmask(DecodeBE32(in.data() + 4));
  uint32_t computed = FrameCrc(in.data() + 8, 1 + length);
  if (stored != computed) {
    return Status::Corruption(
        fmt::format("frame checksum mismatch: stored {:#010x}, computed {:#010x}", stored, computed));
  }
  return WalFrame{static_cast<WalFrameKind>(kind), in.substr(kWalFrameHeaderBytes, length),
                  kWalFrameHeaderBytes + length};
}

Status ScanWalSegment(std::string_view image, bool last_segment,
                      const std::function<Status(uint64_t offset, const WalFrame& frame)>& fn,
                      uint64_t* valid_end) {
  size_t at = 0;
  while (at < image.size()) {
    auto frame = DecodeWalFrame(image.substr(at));
    if (!frame.ok()) {
      if (last_segment && !AnyFrameAfter(image, at)) break;  // a torn tail
      return frame.status().WithContext(fmt::format("offset {}", at));
    }
    Status s = fn(at, *frame);
    if (!s.ok()) return std::move(s).WithContext(fmt::format("offset {}", at));
    at += frame->size;
  }
  *valid_end = at;
  return Status::OK();
}

}  // namespace cfs::raft
