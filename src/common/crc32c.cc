#include "common/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace cfs::crc32c {

uint32_t Extend(uint32_t crc, const void* data, size_t n) {
  // ISA-L's crc32_iscsi neither pre- nor post-inverts and takes an int length.
  auto p = static_cast<const unsigned char*>(data);
  uint32_t c = ~crc;
  while (n > 0) {
    size_t chunk = n > (size_t{1} << 30) ? (size_t{1} << 30) : n;
    c = crc32_iscsi(const_cast<unsigned char*>(p), static_cast<int>(chunk), c);
    p += chunk;
    n -= chunk;
  }
  return ~c;
}

}  // namespace cfs::crc32c
