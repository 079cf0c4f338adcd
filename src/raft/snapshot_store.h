// Per-group state machine snapshots on disk: DIR/<group>/snapshot, written
// atomically (temp file, fsync, rename, fsync dir), so a crash leaves the
// old snapshot or the new one, never a mix.
//
// File: [u32 magic "CFSS"][u32 meta length][SnapshotMeta][data]
//       [u32 masked crc32c of everything before].
//
// Thread-safety: calls for different groups may run concurrently.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/env.h"
#include "common/status.h"
#include "proto/raft.pb.h"
#include "raft/wal.h"

namespace cfs::raft {

struct StoredSnapshot {
  proto::SnapshotMeta meta;
  std::string data;
};

class SnapshotStore {
 public:
  SnapshotStore(Env* env, std::string dir);

  // Replaces the group's snapshot. Durable when OK is returned.
  Status Save(GroupId group, const proto::SnapshotMeta& meta, std::string_view data);
  // Save in two steps, for a snapshot written by another process: Stage
  // writes it durably beside the group's snapshot (which stays in place);
  // Promote then replaces the snapshot with the staged one, atomically;
  // Discard drops a staged one. A staged snapshot is never loaded.
  Status Stage(GroupId group, const proto::SnapshotMeta& meta, std::string_view data);
  Status Promote(GroupId group);
  Status Discard(GroupId group);
  // The group's snapshot; NotFound if it has none; Corruption if the file
  // fails its checksum.
  Result<StoredSnapshot> Load(GroupId group) const;
  Status Remove(GroupId group);

 private:
  std::string GroupDir(GroupId group) const;
  Status EnsureGroupDir(GroupId group);
  // The file: magic, meta, data, checksum.
  static std::string Encode(const proto::SnapshotMeta& meta, std::string_view data);
  Env* env_;
  std::string dir_;
};

}  // namespace cfs::raft
