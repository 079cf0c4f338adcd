// NeedleMap: the in-memory index of a block group, needle id -> (offset, size).
//
// Memory is the point (SeaweedFS spends 16 bytes a needle): entries are packed
// 16-byte records in sorted segments of up to 32,768 entries; only the last
// segment has spare room (it doubles from 64 entries as it fills), so a map
// of N needles written in rising id order (the master hands out ids from a
// sequence) costs about 16 bytes each, and a small map stays small. Ids that arrive out of order, below
// the largest id seen and not already present, go to a small overflow B-tree.
// A deletion keeps the entry with the size set to kTombstoneSize, as the
// .idx replay expects; Compact() drops deleted entries.
//
// Not thread-safe: the owning BlockGroup guards it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include <absl/container/btree_map.h>

#include "common/ids.h"

namespace cfs::datanode {

struct NeedleValue {
  uint32_t offset_units = 0;  // offset in .dat / 8
  uint32_t size = 0;          // body size; kTombstoneSize once deleted
  bool deleted() const;
};

class NeedleMap {
 public:
  NeedleMap();
  ~NeedleMap();
  NeedleMap(NeedleMap&&) noexcept;
  NeedleMap& operator=(NeedleMap&&) noexcept;

  // Inserts or replaces; returns the previous value if there was one.
  std::optional<NeedleValue> Set(NeedleId id, NeedleValue v);
  // The value for `id`, deleted ones included (check deleted()).
  std::optional<NeedleValue> Get(NeedleId id) const;
  // Marks `id` deleted; returns its previous value if it was live.
  std::optional<NeedleValue> Delete(NeedleId id);

  uint64_t live_count() const { return live_count_; }
  // Bytes the live needles' records occupy in .dat, padding included; the
  // rest of .dat after the superblock is garbage that vacuum reclaims.
  uint64_t live_bytes() const { return live_bytes_; }
  // Ids whose last entry is a deletion.
  uint64_t deleted_count() const { return deleted_count_; }
  NeedleId max_id() const { return NeedleId(max_id_); }

  // Bytes of heap this map holds (segments plus an estimate for the overflow).
  size_t MemoryBytes() const;
  // Calls fn for every live needle, in id order within segments and overflow.
  void ForEachLive(const std::function<void(NeedleId, NeedleValue)>& fn) const;
  // Rebuilds the segments without deleted entries and merges the overflow.
  void Compact();

 private:
  struct Entry {
    uint64_t id;
    NeedleValue value;
  };
  static_assert(sizeof(Entry) == 16);
  static constexpr uint32_t kSegmentCapacity = 1 << 15;  // 512 KiB a segment
  static constexpr uint32_t kFirstSegmentCapacity = 64;
  struct Segment {
    std::unique_ptr<Entry[]> entries;
    uint32_t count = 0;
    uint32_t capacity = 0;
    uint64_t first() const { return entries[0].id; }
    uint64_t last() const { return entries[count - 1].id; }
  };

  Entry* FindInSegments(uint64_t id) const;
  void Account(const std::optional<NeedleValue>& old, const NeedleValue& now);

  std::vector<Segment> segments_;
  absl::btree_map<uint64_t, NeedleValue> overflow_;
  uint64_t max_id_ = 0;
  bool empty_ = true;
  uint64_t live_count_ = 0, live_bytes_ = 0, deleted_count_ = 0;
};

}  // namespace cfs::datanode
