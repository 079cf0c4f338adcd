// The node's write-ahead log: one log shared by every Raft group on the node,
// so one fdatasync makes a whole round of appends durable across groups.
//
// On disk: segment files DIR/NNNNNNNNNNNNNNNN.wal (16 hex digits, increasing).
// A segment is a sequence of records:
//   [u32 length][u32 masked crc32c of type+payload][u8 kind][payload: WalRecord]
// little-endian. A new segment starts with a checkpoint of every live group's
// hard state and snapshot mark, so older segments hold only entries.
//
// Recovery (Open) reads every segment in order. A record that fails its
// length or checksum at the tail of the last segment is a torn write from a
// crash: the file is truncated there. One anywhere else is Corruption (the
// log is not silently shortened).
//
// Garbage collection: a segment is deleted once every group that has entries
// in it has compacted (WAL_SNAPSHOT) past them.
//
// Thread-safety: not thread-safe; the MultiRaft host calls it from its one
// raft thread.
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

  // Buffers records; nothing is durable until Sync.
  Status AppendEntries(GroupId group, const std::vector<proto::Entry>& entries);
  Status SaveHardState(GroupId group, const proto::HardState& state);
  // The group's state machine snapshot through meta.index is durable
  // elsewhere (SnapshotStore): entries through it are no longer needed.
  Status MarkSnapshot(GroupId group, const proto::SnapshotMeta& meta);
  Status RemoveGroup(GroupId group);

  // Writes buffered records and fdatasyncs once: the group commit.
  Status Sync();

  // Deletes segments no group needs (see above). Returns how many.
  Result<int> CollectGarbage();

  size_t segment_count() const;

 private:
  struct Impl;
  explicit Wal(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cfs::raft
