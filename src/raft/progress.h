// Progress: what a leader knows of one peer's log, and how it replicates to
// it (the shape of etcd-raft's tracker.Progress).
//
// A leader keeps one Progress per voter and learner (itself included). The
// dissertation's nextIndex/matchIndex (§3.5, Figure 3.1) are `next` and
// `match`; the state says how entries flow:
//
//   kProbe      the leader does not know where the peer's log ends: it sends
//               at most one MSG_APPEND per heartbeat interval and backs up on
//               rejection (§3.5), skipping with the peer's reject hint;
//   kReplicate  the peer's log matched: the leader pipelines MSG_APPENDs,
//               advancing `next` optimistically, with at most `max_inflight`
//               unacknowledged (Inflights);
//   kSnapshot   the peer needs entries the leader compacted away: a snapshot
//               is on its way (§5.1) and nothing else is sent until it is
//               reported installed or failed.
//
// Invariants: match < next; in kReplicate every index in `inflights` is in
// [match + 1, next - 1], increasing.
//
// Thread-safety: none; owned by the Raft core.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/ids.h"

namespace cfs::raft {

enum class ProgressState : uint8_t { kProbe, kReplicate, kSnapshot };
std::string_view ProgressStateName(ProgressState state);

// A sliding window of the MSG_APPENDs sent to one peer and not yet
// acknowledged, each remembered by the last index it carried (a ring buffer:
// no allocation once it has grown to its capacity).
class Inflights {
 public:
  explicit Inflights(size_t capacity);

  // Records an append whose last entry is `last`; aborts when full (the
  // caller checks Full() first) or when `last` does not increase.
  void Add(LogIndex last);
  // Forgets every append whose last index is <= `index` (they were acked).
  void FreeLE(LogIndex index);
  // Forgets the oldest one (a heartbeat answer shows the peer is alive).
  void FreeFirstOne();
  void Reset();

  bool Full() const { return count_ == capacity_; }
  size_t count() const { return count_; }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  size_t start_ = 0;
  size_t count_ = 0;
  std::vector<uint64_t> buffer_;  // grows up to capacity_
};

struct Progress {
  explicit Progress(size_t max_inflight) : inflights(max_inflight) {}

  LogIndex match;  // highest index known replicated on the peer (§3.5)
  LogIndex next;   // next index to send
  ProgressState state = ProgressState::kProbe;
  // kSnapshot: the index of the snapshot being sent.
  LogIndex pending_snapshot;
  // The peer answered since the last CheckQuorum round (§6.2).
  bool recent_active = false;
  // kProbe: a MSG_APPEND is out and no answer or heartbeat came back since.
  bool probe_sent = false;
  bool is_learner = false;
  Inflights inflights;

  // Back to probing from match + 1 (or after a pending snapshot).
  void BecomeProbe();
  // Pipelining from match + 1.
  void BecomeReplicate();
  // Waits for the snapshot at `snapshot_index` to be installed.
  void BecomeSnapshot(LogIndex snapshot_index);

  // The peer acknowledged its log through `index`. Returns false when that
  // is stale (not above match).
  bool MaybeUpdate(LogIndex index);
  // An append carrying entries through `last` was sent (kReplicate).
  void OptimisticUpdate(LogIndex last) { next = LogIndex(last.value() + 1); }
  // The peer rejected an append whose previous index was `rejected`, and
  // hinted that its log matches at most through `match_hint`. Returns false
  // when the rejection is stale (answers an older append).
  bool MaybeDecrTo(LogIndex rejected, LogIndex match_hint);
  // Whether the leader must not send this peer another MSG_APPEND now.
  bool IsPaused() const;

  std::string ToString() const;
};

}  // namespace cfs::raft
