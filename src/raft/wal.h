// The node's write-ahead log: one log shared by every Raft group on the node,
// so one fdatasync makes a whole round of appends durable across groups
// (group commit). It holds what Raft requires on stable storage before a
// server answers (Ongaro 2014, §3.8): each group's hard state and log
// entries, plus the mark up to which a group's log is compacted into a
// snapshot kept elsewhere (§5.1, raft/snapshot_store.h).
//
// On disk: segment files DIR/NNNNNNNNNNNNNNNN.wal (16 hex digits, increasing
// by one, no gaps). A segment is a sequence of frames
// (raft/wal_format.h):
//   [u32 length][u32 masked crc32c of kind+payload][u8 kind][payload: WalRecord]
// big-endian. kind 1 is a checkpoint frame, kind 2 a log frame. A new
// segment starts with a checkpoint of every live group's hard state and
// snapshot mark (so older segments are needed only for their entries), and
// is created whole: written to NNN.wal.tmp, synced, renamed, directory
// synced.
//
// Recovery (Open) reads every segment in order. A frame that fails its
// length or checksum at the tail of the last segment, with no intact frame
// after it, is a torn write from a crash: the file is truncated there (or,
// when no log frame came before it, written again whole with a fresh
// checkpoint, which later collection relies on). One anywhere else is
// Corruption (the log is not silently shortened). Every record is
// validated (proto parses, known type, entries contiguous), and the
// checkpoint of every segment but the oldest must restate exactly what the
// segments before it say. A group whose entries do not continue right
// after its mark once every segment is read is Corruption too.
// Per group, in log order:
//  - WAL_ENTRIES whose first index is <= the group's last index replaces the
//    log from there (a new leader overwrote the suffix, §3.5); entries at or
//    below the snapshot mark are dropped.
//  - WAL_HARD_STATE: the latest wins.
//  - WAL_SNAPSHOT sets the mark and drops the entries through it (§5.1);
//    those after it stay.
//  - WAL_REMOVE_GROUP forgets the group.
//
// Garbage collection deletes the oldest segments, in order, while every
// group that has entries in one has since been removed or has a durable
// snapshot mark at or past its highest entry there. The segment being
// appended to is never deleted.
//
// Errors: a failed write, fdatasync or segment roll is sticky (as in
// LevelDB): the records of that Sync are not reported durable, and every
// later call returns the same error. Reopen to recover.
//
// Thread-safety: not thread-safe; the MultiRaft host calls it from its one
// raft thread. One Wal per directory.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/ids.h"
#include "common/status.h"
#include "proto/raft.pb.h"

namespace cfs::raft {

using GroupId = PartitionId;  // a Raft group is a partition (master: 0)

// What the log held for one group at Open.
struct WalGroupState {
  proto::HardState hard_state;
  proto::SnapshotMeta snapshot;       // latest WAL_SNAPSHOT mark
  std::vector<proto::Entry> entries;  // after snapshot.index, contiguous
};

struct WalOptions {
  uint64_t segment_bytes = 64 << 20;  // roll to a new segment past this
};

class Wal {
 public:
  // Opens (creating) the log in `dir`, recovering every group's state.
  // Errors: IOError, Corruption (with segment name and offset).
  static Result<std::unique_ptr<Wal>> Open(Env* env, std::string dir, WalOptions options = {});
  ~Wal();

  // The state recovered at Open, by group (groups removed are absent).
  const std::map<GroupId, WalGroupState>& recovered() const;
  // Moves the recovered state out (recovered() is empty afterwards), so the
  // entries are not held twice once the host has loaded them.
  std::map<GroupId, WalGroupState> TakeRecovered();

  // These buffer records in memory; nothing is durable until Sync returns OK.
  // Records of one group are recovered in the order they were buffered.
  //
  // `entries` must be contiguous, with indexes >= 1, and start at or below
  // the group's last index + 1 (no gap; at or below overwrites, §3.5); else
  // InvalidArgument. Empty: nothing to do. A long run is split into several
  // records.
  Status AppendEntries(GroupId group, const std::vector<proto::Entry>& entries);
  Status SaveHardState(GroupId group, const proto::HardState& state);
  // The group's state machine snapshot through meta.index is durable
  // elsewhere (SnapshotStore): entries through it are no longer needed.
  // InvalidArgument if meta.index is below the group's current mark.
  Status MarkSnapshot(GroupId group, const proto::SnapshotMeta& meta);
  Status RemoveGroup(GroupId group);

  // Writes buffered records with one write and fdatasyncs once: the group
  // commit. Rolls to a new segment first when the current one has grown
  // past options.segment_bytes. OK: everything buffered is durable.
  // Errors (sticky): IOError and what the Env returns.
  Status Sync();

  // Deletes segments no group needs (see above), each removal made durable
  // before the next. Returns how many. Counts only records already synced.
  Result<int> CollectGarbage();

  size_t segment_count() const;

 private:
  struct Impl;
  explicit Wal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cfs::raft
