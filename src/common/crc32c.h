// CRC-32C (Castagnoli) through ISA-L, the checksum of needles and of log
// records. Crc32c("123456789") == 0xE3069283.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace cfs::crc32c {

// Extends `crc` (the CRC-32C of some prefix) over data[0, n).
uint32_t Extend(uint32_t crc, const void* data, size_t n);

inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(std::string_view s) { return Extend(0, s.data(), s.size()); }

// The masked form SeaweedFS wrote before 3.09 (and LevelDB uses): a rotation
// plus a constant, so that a CRC of data containing CRCs is not degenerate.
inline uint32_t Mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }
inline uint32_t Unmask(uint32_t masked) {
  uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

}  // namespace cfs::crc32c
