// Big-endian fixed-width and LEB128 varint coding. All on-disk and wire
// integers of the needle formats are big-endian (DESIGN.md section 3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace cfs {

inline void EncodeBE16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
inline void EncodeBE32(char* p, uint32_t v) {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline void EncodeBE64(char* p, uint64_t v) {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}
inline uint16_t DecodeBE16(const char* p) {
  return static_cast<uint16_t>((static_cast<uint8_t>(p[0]) << 8) | static_cast<uint8_t>(p[1]));
}
inline uint32_t DecodeBE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline uint64_t DecodeBE64(const char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

inline void PutBE16(std::string* out, uint16_t v) {
  char b[2];
  EncodeBE16(b, v);
  out->append(b, 2);
}
inline void PutBE32(std::string* out, uint32_t v) {
  char b[4];
  EncodeBE32(b, v);
  out->append(b, 4);
}
inline void PutBE64(std::string* out, uint64_t v) {
  char b[8];
  EncodeBE64(b, v);
  out->append(b, 8);
}

constexpr size_t kMaxVarint64Bytes = 10;

// Appends v as an unsigned LEB128 varint (1..10 bytes).
void PutVarint64(std::string* out, uint64_t v);

// Decodes a varint from the front of *in and advances it. Returns nullopt on
// truncated input or an encoding longer than 10 bytes or overflowing 64 bits.
std::optional<uint64_t> GetVarint64(std::string_view* in);

}  // namespace cfs
