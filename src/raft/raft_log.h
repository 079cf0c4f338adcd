// RaftLog: one group's replicated log as the core sees it (the shape of
// etcd-raft's raftLog with its unstable part folded in).
//
// The log holds every entry after a compaction point (prev_index, prev_term):
// the last entry a snapshot covers, or (0, 0) for a log never compacted. The
// core keeps the whole uncompacted log in memory; the host persists what
// Ready hands it and compacts with Compact. Indexes:
//
//   prev_index < first_index = prev_index + 1 <= ... <= last_index
//   applied <= applying <= committed <= last_index
//   stable <= handed <= last_index
//
// `committed` is the highest index known committed (§3.5); `applying` the
// last committed entry handed to the host to apply, `applied` the last it
// said it applied (Advance). `handed` is the last entry handed to the host
// to persist and `stable` the last it said it persisted: entries after
// `handed` go into the next Ready. Truncating a conflicting suffix (§3.5)
// pulls `stable` and `handed` back, so the replacement is persisted again.
//
// Invariants (checked, abort when broken): entries are contiguous from
// first_index, their terms never decrease, and nothing at or below
// `committed` is ever truncated (Log Matching and State Machine Safety,
// §3.5 and §3.6).
//
// Thread-safety: none; owned by the Raft core.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "proto/raft.pb.h"

namespace cfs::raft {

using EntryList = google::protobuf::RepeatedPtrField<proto::Entry>;

class RaftLog {
 public:
  // An empty log after (prev_index, prev_term); everything up to it counts
  // as committed, applied and persisted.
  RaftLog(LogIndex prev_index, Term prev_term);

  // At Open: adopts persisted entries (which must follow prev_index,
  // contiguous, with non-decreasing terms) and the commit and applied
  // indexes (prev_index <= applied <= commit <= last). Errors:
  // InvalidArgument naming what is inconsistent.
  Status Load(std::vector<proto::Entry> entries, LogIndex commit, LogIndex applied);

  LogIndex prev_index() const { return LogIndex(prev_index_); }
  Term prev_term() const { return Term(prev_term_); }
  LogIndex first_index() const { return LogIndex(prev_index_ + 1); }
  LogIndex last_index() const { return LogIndex(prev_index_ + entries_.size()); }
  Term last_term() const { return entries_.empty() ? Term(prev_term_) : Term(entries_.back().term()); }

  // The term of the entry at `index`: known for prev_index..last_index,
  // nullopt below (compacted) or above (absent).
  std::optional<Term> TermAt(LogIndex index) const;
  // Whether the log holds an entry at `index` with `term` (prev_index
  // counts: its term is known).
  bool MatchTerm(LogIndex index, Term term) const;
  // §3.6.1: a candidate's log whose last entry is (index, term) is at least
  // as up-to-date as this one: a later last term, or the same last term and
  // at least as long.
  bool IsUpToDate(LogIndex index, Term term) const;
  // The entry at `index` in [first_index, last_index]; aborts otherwise.
  const proto::Entry& At(LogIndex index) const;

  // Leader: appends `entry` after the last one, giving it the next index.
  // Aborts if its term is below the last term. Returns its index.
  LogIndex Append(proto::Entry entry);

  // Follower, AppendEntries (§3.5): if the log holds (prev_index, prev_term)
  // the entries are merged (an entry that conflicts with an existing one,
  // same index and a different term, replaces it and everything after it;
  // entries already present are kept), the commit index advances to
  // min(leader_commit, index of the last new entry), and the index of the
  // last new entry is returned. nullopt when the consistency check fails.
  // The caller has checked that `entries` are contiguous after prev_index
  // and that prev_index >= committed.
  std::optional<LogIndex> MaybeAppend(LogIndex prev_index, Term prev_term, LogIndex leader_commit,
                                      const EntryList& entries);
  // The index of the first entry of `entries` (contiguous) that is not in
  // the log with the same term; 0 when the log holds all of them.
  LogIndex FindConflict(const EntryList& entries) const;
  // For fast backtracking: the largest index <= `index` whose term is <=
  // `term`, with that term. Terms never decrease along the log, so this is
  // a binary search. When no entry qualifies, the compaction point (its term
  // may exceed `term`; the leader then sends a snapshot).
  std::pair<LogIndex, Term> FindConflictByTerm(LogIndex index, Term term) const;

  // Appends copies of entries [lo, hi) to `out`, stopping before the total
  // serialized size exceeds max_bytes but always at least one entry when
  // lo < hi. Requires first_index <= lo <= hi <= last_index + 1.
  void Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, EntryList* out) const;
  void Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, std::vector<proto::Entry>* out) const;

  LogIndex committed() const { return LogIndex(committed_); }
  // Raises the commit index; aborts if `index` is beyond the last entry (the
  // caller bounds what it learned from the network). Lower values are no-ops.
  void CommitTo(LogIndex index);

  LogIndex applied() const { return LogIndex(applied_); }
  LogIndex applying() const { return LogIndex(applying_); }
  // Committed entries not yet handed out for applying.
  bool HasNextCommitted() const { return committed_ > applying_; }
  // Copies committed entries after `applying` (at least one if any, then up
  // to max_bytes) into `out` and marks them as being applied.
  void TakeCommitted(uint64_t max_bytes, std::vector<proto::Entry>* out);
  // The host applied everything through `index` (<= applying).
  void AppliedTo(LogIndex index);

  LogIndex stable() const { return LogIndex(stable_); }
  // Entries not yet handed out for persisting.
  bool HasUnstable() const { return last_index().value() > handed_; }
  // Copies the entries after `handed` into `out` and marks them handed out.
  void TakeUnstable(std::vector<proto::Entry>* out);
  // The host persisted entries through (index, term). Ignored when the log
  // no longer holds that entry (it was replaced meanwhile: its successor
  // will be persisted by a later Ready).
  void StableTo(LogIndex index, Term term);

  // Resets the log to a snapshot through (index, term) (§5.1): every entry
  // is dropped, and the snapshot counts as committed. Its persistence and
  // application are the caller's (Ready.snapshot), so `stable`, `handed`
  // and `applying` move to `index` and `applied` moves on Advance.
  void RestoreSnapshot(LogIndex index, Term term);
  // Drops entries through `index`, which must be in the log, applied and
  // persisted (aborts otherwise).
  void CompactTo(LogIndex index);

  // Whether a committed entry not yet applied (in (applied, committed])
  // changes the membership. O(entries in that range).
  bool HasUnappliedConfChange() const;

  size_t size() const { return entries_.size(); }

 private:
  // Drops entries at and after `index` (> committed), pulling persistence
  // marks back.
  void TruncateFrom(uint64_t index);
  const proto::Entry& EntryAt(uint64_t index) const { return entries_[index - prev_index_ - 1]; }

  uint64_t prev_index_;
  uint64_t prev_term_;
  std::deque<proto::Entry> entries_;
  uint64_t committed_;
  uint64_t applying_;
  uint64_t applied_;
  uint64_t stable_;
  uint64_t handed_;
};

}  // namespace cfs::raft
