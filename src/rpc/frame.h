// The RPC frame: a fixed 32-byte header, then a protobuf message, then an
// optional raw payload (needle data travels here, never copied into
// protobuf). All integers big-endian.
//
//   0  magic "CFS" and version (1)     4 bytes
//   4  kind: 1 request, 2 response     1
//   5  flags (0)                       1
//   6  method (request) or Code (response)   2
//   8  request id                      8
//  16  deadline: ms the caller will wait, 0 none (requests)   4
//  20  message length                  4
//  24  payload length                  4
//  28  CRC-32C of bytes 0..27          4
//
// A response with a code other than OK carries an RpcError message.
// Frames from the network are validated before anything is allocated: a bad
// magic, version, kind or header checksum, or a length over the limits, is an
// error that closes the connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace cfs::rpc {

constexpr size_t kFrameHeaderSize = 32;
constexpr uint8_t kFrameVersion = 1;

enum class FrameKind : uint8_t { kRequest = 1, kResponse = 2 };

struct FrameLimits {
  uint32_t max_message_bytes = 4 << 20;
  uint32_t max_payload_bytes = 64 << 20;
};

struct FrameHeader {
  FrameKind kind = FrameKind::kRequest;
  uint16_t method_or_code = 0;
  uint64_t request_id = 0;
  uint32_t deadline_ms = 0;
  uint32_t message_len = 0;
  uint32_t payload_len = 0;
};

void EncodeFrameHeader(const FrameHeader& h, char* out);  // kFrameHeaderSize bytes
// Decodes and validates; InvalidArgument naming what is wrong.
Result<FrameHeader> DecodeFrameHeader(std::string_view in, const FrameLimits& limits);

}  // namespace cfs::rpc
