#include "rpc/frame.h"

#include <fmt/format.h>

#include "common/coding.h"
#include "common/crc32c.h"

namespace cfs::rpc {

constexpr char kMagic[3] = {'C', 'F', 'S'};

void EncodeFrameHeader(const FrameHeader& h, char* out) {
  out[0] = kMagic[0];
  out[1] = kMagic[1];
  out[2] = kMagic[2];
  out[3] = static_cast<char>(kFrameVersion);
  out[4] = static_cast<char>(h.kind);
  out[5] = 0;
  EncodeBE16(out + 6, h.method_or_code);
  EncodeBE64(out + 8, h.request_id);
  EncodeBE32(out + 16, h.deadline_ms);
  EncodeBE32(out + 20, h.message_len);
  EncodeBE32(out + 24, h.payload_len);
  EncodeBE32(out + 28, crc32c::Value(out, 28));
}

Result<FrameHeader> DecodeFrameHeader(std::string_view in, const FrameLimits& limits) {
  if (in.size() < kFrameHeaderSize) {
    return Status::InvalidArgument(fmt::format("frame header is {} bytes, needs {}", in.size(), kFrameHeaderSize));
  }
  const char* p = in.data();
  if (p[0] != kMagic[0] || p[1] != kMagic[1] || p[2] != kMagic[2]) {
    return Status::InvalidArgument("frame does not start with the CFS magic (not a cfs peer, or the stream lost sync)");
  }
  if (static_cast<uint8_t>(p[3]) != kFrameVersion) {
    return Status::InvalidArgument(fmt::format("frame version {} is not supported (this node speaks {})",
                                               static_cast<uint8_t>(p[3]), kFrameVersion));
  }
  uint32_t crc = DecodeBE32(p + 28);
  if (crc != crc32c::Value(p, 28)) return Status::InvalidArgument("frame header checksum mismatch");
  FrameHeader h;
  uint8_t kind = static_cast<uint8_t>(p[4]);
  if (kind != 1 && kind != 2) return Status::InvalidArgument(fmt::format("frame kind {} is unknown", kind));
  if (p[5] != 0) return Status::InvalidArgument(fmt::format("frame flags {} are unknown", static_cast<uint8_t>(p[5])));
  h.kind = static_cast<FrameKind>(kind);
  h.method_or_code = DecodeBE16(p + 6);
  h.request_id = DecodeBE64(p + 8);
  h.deadline_ms = DecodeBE32(p + 16);
  h.message_len = DecodeBE32(p + 20);
  h.payload_len = DecodeBE32(p + 24);
  if (h.message_len > limits.max_message_bytes) {
    return Status::InvalidArgument(
        fmt::format("frame message of {} bytes is over the limit of {}", h.message_len, limits.max_message_bytes));
  }
  if (h.payload_len > limits.max_payload_bytes) {
    return Status::InvalidArgument(
        fmt::format("frame payload of {} bytes is over the limit of {}", h.payload_len, limits.max_payload_bytes));
  }
  if (h.kind == FrameKind::kResponse && h.method_or_code > static_cast<uint16_t>(Code::kDelegated)) {
    return Status::InvalidArgument(fmt::format("response code {} is unknown", h.method_or_code));
  }
  return h;
}

}  // namespace cfs::rpc
