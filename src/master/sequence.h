// IdRange: the ids of one sequence (needle ids, block group ids) that this
// master, as leader, reserved through the cluster map and has not handed out
// yet: [next, end).
//
// The durable part of a sequence is its mark in the ClusterMap (every id
// below it may have been handed out); a leader reserves [mark, mark + n) with
// a ReserveIds log entry, then hands the ids out from memory, so most ids
// cost no I/O. Ids are strictly increasing and never reused: a new leader
// starts from the replicated mark, skipping what the old one left unused.
//
// Thread-safety: none; the owner serializes calls.
#pragma once

#include <cstdint>

#include "common/status.h"

namespace cfs::master {

// How many ids one reservation takes when fewer are asked for.
inline constexpr uint64_t kNeedleIdBatch = 10000;
inline constexpr uint64_t kBlockGroupIdBatch = 100;

class IdRange {
 public:
  // Ids available without a new reservation.
  uint64_t available() const { return end_ - next_; }
  uint64_t next() const { return next_; }
  uint64_t end() const { return end_; }

  // Hands out `count` (>= 1) consecutive ids and returns the first.
  // InvalidArgument for 0; Unavailable when fewer than `count` are left
  // (reserve more, then retry).
  Result<uint64_t> Take(uint64_t count = 1);

  // Skips every id <= v (e.g. a block group id a heartbeat reported).
  void SkipThrough(uint64_t v);

  // Adopts a newly reserved [from, to). A range below what this one already
  // reached is ignored (ids only grow); leftovers of the old range are
  // dropped when the new one does not continue it.
  void Add(uint64_t from, uint64_t to);

  // Forgets the range (leadership lost: the next leader owns what follows).
  void Clear() { next_ = end_ = 0; }

 private:
  uint64_t next_ = 0;
  uint64_t end_ = 0;
};

}  // namespace cfs::master
