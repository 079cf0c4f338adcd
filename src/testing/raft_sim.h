// RaftSim: a deterministic simulation of a cluster of Raft cores
// (raft::Raft) with a simulated network, disks, clock and clients, used to
// prove the core safe and the key-value service on it linearizable.
//
// Everything is decided by one std::mt19937_64 seeded from SimOptions::seed:
// there is no wall clock, no thread, and no iteration over an unordered
// container that can change what happens, so a seed replays exactly (the
// trace digest is the same).
//
// The simulated world:
//  - Time is integer units; every node Ticks its core every kTickUnits, each
//    at its own phase. Events (message deliveries, disk syncs, client
//    timers, faults) run in (time, sequence) order.
//  - The network delivers raft::Raft messages and client requests with a
//    delay; per scenario it drops, delays, duplicates and reorders them and
//    cuts links, symmetrically or in one direction only.
//  - Each node's host follows raft.h's Ready contract: write the hard
//    state, entries (suffix overwrite) and snapshot (with the state machine
//    snapshot) to its disk, fsync (which may take time), then send, then
//    apply committed entries and answer reads, then Advance. A crash drops
//    what was not synced (keeping a random whole-record prefix of it, as a
//    write-ahead log that recovers to its last intact record) and the
//    in-memory state; Restart rebuilds the core with raft::Raft::Open from
//    the disk.
//  - A key-value state machine applies committed entries (client id,
//    request id, op) with per-client deduplication; its snapshot is what a
//    leader ships with MSG_SNAPSHOT, and hosts compact their logs with
//    raft::Raft::Compact.
//  - Clients send Put/Append/Get to the node they believe leads, follow
//    NotLeader hints, and time out; a Get is served by ReadIndex (§6.4) or,
//    for some, through the log. A timed-out op stays pending in the history
//    (it may or may not have happened) and the client moves on with a new
//    request id.
//
// Checks (a violation stops the run and is reported with the seed and the
// trace tail): election safety (one leader per term), log matching over the
// persisted logs (at checkpoints and at the end), leader completeness
// (entries committed in term T are in the log of every later leader), state
// machine safety (every node applies the same entry at an index), disk
// invariants (term never decreases, one vote per term, a committed entry is
// never overwritten), and linearizability of the client history
// (testing/linearizability.h). After the faults heal the cluster must commit
// a new write within a bound (liveness).
//
// Thread-safety: none; one simulation per thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/ids.h"
#include "testing/linearizability.h"

namespace cfs::testing {

// The kinds of trouble a seed's scenario may include.
enum class SimFault : uint8_t {
  kDrop,                 // messages lost
  kDelay,                // some messages arrive very late
  kDuplicate,            // messages delivered twice
  kReorder,              // wide delay jitter: messages overtake each other
  kPartition,            // the nodes split in two groups
  kAsymmetricPartition,  // a node hears the others but they do not hear it (or the reverse)
  kIsolateLeader,        // the leader is cut off from every other node
  kCrash,                // nodes crash (losing unsynced writes) and restart
  kMembership,           // add a learner, promote it, remove a voter
  kSnapshot,             // aggressive compaction; lagging followers get snapshots
  kLeaderTransfer,       // TransferLeadership to another voter
  kLeaseReads,           // the cores use lease-based reads (§6.4.1)
  kCount,
};
std::string_view SimFaultName(SimFault fault);

// Deliberate bugs in the simulated host, to prove the checks are wired in.
enum class SimBug : uint8_t {
  kNone,
  kLocalReadsAnywhere,  // every node answers Gets from its own state, no ReadIndex
  kLocalReadsOnLeader,  // a node that believes it leads answers Gets at once
  kSendBeforeSync,      // the host sends a Ready's messages before its fsync (§3.8 broken)
};

// Where a crash requested with RaftSim::CrashAt strikes in the host's
// handling of the node's next Ready.
enum class CrashPoint : uint8_t {
  kNow,             // at once (nothing is unsynced between Readies)
  kBeforeSync,      // Ready written but not fsynced: unsynced part lost, nothing sent
  kAfterSync,       // synced, nothing sent yet
  kAfterSend,       // sent, committed entries not applied
};

struct SimOptions {
  uint64_t seed = 1;
  // Random scenario (RunRaftSim). Fixed-scenario tests use RaftSim directly
  // with random_faults = false and auto_clients as they need.
  bool random_faults = true;
  // Bit i set: the scenario includes SimFault i. 0: each kind by chance.
  uint32_t fault_mask = 0;
  bool auto_clients = true;
  int fault_ticks = 1500;   // ticks with faults
  int heal_ticks = 200;     // a new write must commit within this after healing
  int voters = 0;           // founding voters; 0: chosen by the seed (3 or 5)
  int clients = 0;          // 0: chosen by the seed
  int client_timeout_ticks = 30;
  // Core settings of fixed scenarios (random ones choose their own).
  bool pre_vote = true;
  bool check_quorum = true;
  // Compaction: take a snapshot every this many applied entries; 0: never
  // (random scenarios choose).
  int snapshot_interval = 0;
  SimBug bug = SimBug::kNone;
  size_t trace_tail = 60;   // events shown with a failure
};

struct SimStats {
  uint64_t runs = 0;
  uint64_t ticks = 0;
  uint64_t messages_delivered = 0;
  uint64_t messages_dropped = 0;
  uint64_t messages_duplicated = 0;
  uint64_t partitions = 0;           // link cuts of every kind
  uint64_t crashes = 0;
  uint64_t crashes_mid_ready = 0;    // at kBeforeSync/kAfterSync/kAfterSend
  uint64_t unsynced_records_lost = 0;
  uint64_t restarts = 0;
  uint64_t elections = 0;            // terms that had a leader
  uint64_t leader_transfers = 0;     // requested
  uint64_t conf_changes = 0;         // committed conf-change entries
  uint64_t compactions = 0;
  uint64_t snapshots_sent = 0;       // MSG_SNAPSHOT delivered
  uint64_t snapshots_installed = 0;  // Ready.snapshot restored by a host
  uint64_t writes_ok = 0;
  uint64_t reads_index_ok = 0;       // Gets answered through ReadIndex
  uint64_t reads_log_ok = 0;         // Gets answered through the log
  uint64_t ops_pending = 0;          // timed out, outcome unknown
  uint64_t ops_checked = 0;          // operations given to the checker
  uint64_t checker_steps = 0;
  std::array<uint64_t, static_cast<size_t>(SimFault::kCount)> faults{};  // runs with each kind

  void Add(const SimStats& other);
  std::string ToString() const;
};

struct SimResult {
  bool ok = true;
  std::string failure;   // seed, scenario, what broke, trace tail
  std::string scenario;  // the kinds and parameters the seed chose
  uint64_t digest = 0;   // of the whole trace: equal for equal seeds
  SimStats stats;
};

// Runs one random scenario chosen by options.seed, then heals, requires
// progress, and checks everything above.
SimResult RunRaftSim(const SimOptions& options);

// The simulation, for fixed scenarios.
class RaftSim {
 public:
  explicit RaftSim(const SimOptions& options);
  ~RaftSim();
  RaftSim(const RaftSim&) = delete;
  RaftSim& operator=(const RaftSim&) = delete;

  // Advances simulated time; stops early once a check failed.
  void RunTicks(int ticks);
  // Runs until `done` holds (checked every tick) or max_ticks pass.
  bool RunUntil(const std::function<bool()>& done, int max_ticks);

  // The running node that is leader with the highest term; 0 when none.
  NodeId Leader() const;
  std::vector<NodeId> Nodes() const;  // every started node
  bool IsUp(NodeId node) const;
  Term NodeTerm(NodeId node) const;   // 0 when down

  // Network. Cuts count: a link is up when every cut of it is healed.
  void CutLink(NodeId from, NodeId to);  // `to` stops hearing `from`
  void Isolate(NodeId node);             // both directions to every node; clients still reach it
  void HealNetwork();                    // every link up, no drop/duplicate

  // Crashes; Restart reopens the core from the node's disk.
  void CrashAt(NodeId node, CrashPoint point);
  void Restart(NodeId node);
  // Last log index on the node's disk: everything written / only synced.
  LogIndex DiskLastIndex(NodeId node) const;
  LogIndex SyncedLastIndex(NodeId node) const;
  // Makes the node's next fsyncs take `units` of time (0: synchronous), so a
  // crash can strike while a Ready is written but not synced.
  void SetSyncLatency(NodeId node, int units);

  // Starts an operation of client `client` (ids from 0; one op in flight per
  // client) sent to `target`. Without follow_redirects a NotLeader answer
  // ends the op as not executed. Returns the op's index in history().
  size_t Submit(int client, KvOpKind kind, std::string key, std::string value, NodeId target,
                bool via_log = false, bool follow_redirects = false);
  bool Done(size_t op) const;      // completed (ok)
  bool Rejected(size_t op) const;  // NotLeader without redirects: never executed
  const std::vector<KvOperation>& history() const;
  // The value of `key` in the node's state machine (nullopt: absent or down).
  std::optional<std::string> LocalValue(NodeId node, const std::string& key) const;

  // All checks so far, with the client history checked for
  // linearizability; empty when everything holds, else what broke.
  std::string Check();
  // The first failure seen while running (empty if none).
  const std::string& failure() const;
  std::string TraceTail() const;
  const SimStats& stats() const;
  uint64_t digest() const;

 private:
  friend SimResult RunRaftSim(const SimOptions& options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cfs::testing
