// ExtentsDigest: a digest of a file's visible extents, the same on the
// metanode (over its list) and on a client (over what GetExtents gave it),
// so a client's rewrite of a fragmented file lands only on the list it read
// (AppendExtentsOp.rewrite). Any write or truncate since changes the list:
// new extents name new needles, cut ones new offsets or lengths.
//
// Not cryptographic: a 64-bit mix, deterministic across processes and
// machines (unlike std::hash); a collision needs 2^32 changes on average.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>

#include "proto/metanode.pb.h"

namespace cfs::proto {

class ExtentsDigest {
 public:
  void Add(uint64_t file_offset, uint64_t length, uint64_t block_group, uint64_t needle_id, uint64_t needle_offset) {
    for (uint64_t v : {file_offset, length, block_group, needle_id, needle_offset}) Mix(v);
  }
  uint64_t value() const { return h_; }

 private:
  // splitmix64's finalizer over the running value and the next word.
  void Mix(uint64_t v) {
    uint64_t z = h_ + v + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    h_ = z ^ (z >> 31);
  }
  uint64_t h_ = 0x6a09e667f3bcc908ULL;
};

// The digest of visible extents as GetExtents answers them.
inline uint64_t DigestOf(const google::protobuf::RepeatedPtrField<Extent>& extents) {
  ExtentsDigest d;
  for (const Extent& e : extents) d.Add(e.file_offset(), e.length(), e.block_group(), e.needle_id(), e.needle_offset());
  return d.value();
}

}  // namespace cfs::proto
