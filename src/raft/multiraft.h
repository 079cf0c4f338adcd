// MultiRaft: the host that runs many Raft groups on one node.
//
// - One raft thread owns every group's core (raft/raft.h), the shared WAL
//   (raft/wal.h) and one ticker. A round on it: step inbound messages, tick
//   if due, collect every group's Ready, append them all to the WAL and
//   fdatasync once (group commit across groups), then send, then hand
//   committed entries to the groups' apply threads, then Advance.
// - Messages to the same node in one round go in one RaftBatch (one RPC);
//   heartbeats and their answers are coalesced into it per node pair, so two
//   nodes exchange one heartbeat message per tick however many groups they
//   share.
// - Snapshots: each group's state machine is snapshotted after
//   `snapshot_entries` applied entries (SnapshotStore, atomic), the WAL is
//   marked and the core compacted; a follower too far behind receives the
//   snapshot in chunks of `snapshot_chunk_bytes`. With `fork_snapshots` a
//   child process writes it from a copy-on-write image of the state.
// - State machines are applied on the group's own strand of an apply pool,
//   never on the raft thread; a proposer's callback runs there too.
//
// Thread-safety: every public method may be called from any thread.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/ids.h"
#include "common/status.h"
#include "proto/raft.pb.h"
#include "raft/raft.h"
#include "raft/state_machine.h"
#include "raft/wal.h"

namespace cfs::raft {

// How a host reaches other hosts. Sends are fire-and-forget: Raft retries
// by itself; a failure may be reported back through
// MultiRaft::ReportUnreachable.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual void Send(NodeId to, proto::RaftBatch batch) = 0;
  // One chunk of a snapshot; chunks of one snapshot are sent in order. `done`
  // (any thread) says whether the peer accepted the chunk.
  virtual void SendSnapshotChunk(NodeId to, proto::SnapshotChunk chunk, std::string data,
                                 std::function<void(Status)> done) = 0;
  // The host is stopping (MultiRaft::Stop calls it): queued sends may be
  // dropped, and once Close returns the transport calls no method of the
  // host again (chunk `done` callbacks may still run; the host ignores them).
  virtual void Close() {}
};

struct MultiRaftOptions {
  NodeId node;
  std::string dir;  // wal/ and snapshots/ go under it
  Env* env = nullptr;
  std::chrono::milliseconds tick{100};
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  ReadOnlyMode read_only = ReadOnlyMode::kSafe;
  uint64_t snapshot_entries = 10000;  // snapshot a group after this many applied entries
  uint64_t keep_entries = 1000;       // log entries kept behind a snapshot for slow followers
  // Snapshots are serialized and written by a forked child process from its
  // copy-on-write image of the state, so applying goes on meanwhile (the
  // apply strand pauses only for the fork). Needs an Env on the real file
  // system (the child writes through it); off: on the apply strand.
  bool fork_snapshots = false;
  uint64_t snapshot_chunk_bytes = 1 << 20;
  int apply_threads = 1;
  bool coalesce_heartbeats = true;  // false: one message per group heartbeat (benchmark baseline)
  WalOptions wal;
};

struct GroupStatus {
  NodeId leader;  // 0: unknown
  Term term;
  Role role = Role::kFollower;
  LogIndex commit;
  LogIndex applied;
  LogIndex last_index;
  LogIndex snapshot_index;
  proto::ConfState conf_state;
};

// Counters the benchmarks and /metrics read.
struct HostStats {
  uint64_t batches_sent = 0;    // RPCs (RaftBatch) sent
  uint64_t messages_sent = 0;   // group messages inside them, heartbeats included
  uint64_t heartbeats_sent = 0;  // group heartbeats and their answers
  uint64_t ticks = 0;            // host ticks (each ticks every group)
  uint64_t wal_syncs = 0;
  uint64_t snapshots_sent = 0;
  uint64_t snapshot_chunks_sent = 0;
  uint64_t snapshots_installed = 0;
};

// The leader's node id in a NotLeader from Propose/ReadIndex (the hint is
// the id in decimal); 0 when there is none.
NodeId HintedLeader(const Status& s);

class MultiRaft {
 public:
  // Opens the WAL under options.dir/wal and recovers. Groups the WAL knows
  // are recreated when AddGroup names them (with their state machine).
  static Result<std::unique_ptr<MultiRaft>> Open(MultiRaftOptions options, Transport* transport);
  ~MultiRaft();  // Stop()s

  // Starts the raft thread and the apply pool.
  void Start();
  // Stops ticking and applying; pending callbacks get Unavailable.
  void Stop();

  // Creates a group, or reopens it from the WAL and its snapshot (then
  // `peers` is ignored: the persisted membership wins). A new group's
  // founding members must all be given the same `peers`. A node joining an
  // existing group later is created with empty `peers` and added by the
  // leader with ProposeConfChange.
  Status AddGroup(GroupId group, std::vector<NodeId> peers, std::shared_ptr<StateMachine> machine);
  // Forgets the group and its WAL records and snapshot on this node.
  Status RemoveGroup(GroupId group);

  // Replicates `data`; `done` runs on the group's apply strand with the state
  // machine's answer once the entry is applied here, or with NotLeader (hint:
  // the leader's node id in decimal, or empty), Aborted (leadership lost
  // and the entry overwritten), Unavailable (stopped). The caller bounds the
  // wait with its own deadline.
  void Propose(GroupId group, std::string data, std::function<void(Result<std::string>)> done);
  void ProposeConfChange(GroupId group, proto::ConfChange change, std::function<void(Status)> done);
  // Linearizable read (§6.4): `done` runs on the group's apply strand once
  // the state machine has applied through the read index; the caller then
  // reads the state machine there. Errors: NotLeader, Unavailable.
  void ReadIndex(GroupId group, std::function<void(Status)> done);
  // True when a read of the group's applied state, made now from any
  // thread, is linearizable without a ReadIndex: this node leads under a
  // lease that has not ended (ReadOnlyMode::kLeaseBased, Raft::LeaseEnd)
  // and its state machine has applied an entry of the lease's term, so it
  // holds every entry an earlier leader committed, and every write
  // answered here was applied before it was answered. The read then runs
  // off the apply strand: the state machine must guard its state against
  // its own Apply and Restore.
  bool HoldsReadLease(GroupId group) const;
  Status TransferLeadership(GroupId group, NodeId target);

  // Called with (group, leader, term) on the raft thread whenever a group's
  // known leader changes. Set before Start.
  void SetLeaderListener(std::function<void(GroupId, NodeId, Term)> listener);

  Result<GroupStatus> GetStatus(GroupId group) const;
  std::vector<GroupId> Groups() const;
  HostStats stats() const;

  // Inbound, from the transport.
  void Receive(proto::RaftBatch batch);
  // Errors: InvalidArgument for an out-of-order chunk (the sender restarts).
  Status ReceiveSnapshotChunk(const proto::SnapshotChunk& chunk, std::string_view data);
  void ReportUnreachable(NodeId node);

 private:
  struct Impl;
  explicit MultiRaft(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cfs::raft
