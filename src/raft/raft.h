// The Raft core: one group's consensus state machine, deterministic, with no
// I/O, no threads and no clock (the shape of etcd-raft).
//
// The host drives it with Tick() (its only notion of time), Step() (messages
// from peers), Propose()/ProposeConfChange()/ReadIndex()/TransferLeadership()
// (local requests), and collects the work it must do with GetReady():
//
//   1. persist ready.hard_state, ready.entries (an entry whose index is <= the
//      last persisted index replaces that index and everything after it) and
//      ready.snapshot (the state machine restores it before applying
//      anything later), and make them durable (fsync);
//   2. send ready.messages (only after step 1: a vote or an append answer
//      promises what is on disk, §3.8);
//   3. apply ready.committed_entries in order (conf changes through
//      ApplyConfChange), answer ready.read_states once applied >= their index;
//   4. call Advance(ready).
//
// The rules are the Raft dissertation's (Diego Ongaro, "Consensus: Bridging
// Theory and Practice", 2014); comments cite its sections as §N.N.
//
// Thread-safety: none; the host calls it from one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "proto/raft.pb.h"

namespace cfs::raft {

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kLeader };
std::string_view RoleName(Role role);

enum class ReadOnlyMode : uint8_t {
  // ReadIndex (§6.4): the leader confirms it is still leader with a round of
  // heartbeats before answering.
  kSafe,
  // Lease (§6.4.1): the leader answers at once while it holds a lease from a
  // quorum's recent acknowledgements; needs check_quorum and bounded drift.
  kLeaseBased,
};

struct Config {
  NodeId id;
  // A follower that hears nothing for a random timeout in
  // [election_ticks, 2 * election_ticks) starts an election (§3.4).
  int election_ticks = 10;
  int heartbeat_ticks = 1;  // must be < election_ticks
  bool pre_vote = true;     // §9.6: no term inflation from partitioned servers
  bool check_quorum = true; // §6.2: a leader steps down without a quorum
  ReadOnlyMode read_only = ReadOnlyMode::kSafe;
  // kLeaseBased: the lease is timed on `clock` (monotonic, any unit) with
  // `tick` its length of one tick. A host whose thread is starved ticks
  // late, and a lease counted in its own ticks would outlast the
  // followers' promise not to vote; a clock does not. Unset: the core's
  // own ticks, tick = 1 (for tests and simulations in logical time).
  std::function<int64_t()> clock;
  int64_t tick = 1;
  uint64_t max_msg_bytes = 1 << 20;  // entries bytes per MSG_APPEND
  int max_inflight = 256;            // MSG_APPENDs unacknowledged per follower
  // Bytes of committed entries per Ready (at least one entry), so a restart
  // with a long unapplied log does not hand it all out at once.
  uint64_t max_committed_bytes_per_ready = 64 << 20;
  uint64_t rng_seed = 0;             // randomized timeouts; same seed, same run
  // §4.2.1: a learner is promoted to voter only once it has caught up: its
  // log within this many entries of the leader's commit index. Until then
  // ProposeConfChange(CONF_ADD_VOTER) answers Busy, so a new voter cannot
  // stall commits while it fetches the log.
  uint64_t max_learner_lag = 100;
};

// What a group restarts from: what the host persisted.
struct InitialState {
  proto::HardState hard_state;
  // Last snapshot; index 0 when none. Its conf_state is the membership then.
  proto::SnapshotMeta snapshot;
  // Entries after snapshot.index, contiguous.
  std::vector<proto::Entry> entries;
  // Membership when there is no snapshot and the log holds no conf change:
  // the group's founding voters (every founding member gets the same list).
  proto::ConfState initial_conf;
  // The state machine's applied index (>= snapshot.index); committed entries
  // after it are returned again by GetReady.
  LogIndex applied;
};

// A linearizable read that may proceed once the state machine has applied
// `index` (§6.4).
struct ReadState {
  LogIndex index;
  std::string context;
};

struct SoftState {
  NodeId leader;  // 0: unknown
  Role role = Role::kFollower;
  bool operator==(const SoftState&) const = default;
};

// The host persists hard_state, entries and snapshot (one sync), then
// sends messages, then applies committed_entries, then calls Advance; no
// message is stepped in between. MSG_APPEND and MSG_HEARTBEAT may be sent
// before the sync (§10.2.1): they promise nothing about this node's disk,
// and the answers that would count its unsynced entries are stepped after.
struct Ready {
  std::optional<SoftState> soft_state;          // changed since last Ready
  std::optional<proto::HardState> hard_state;   // changed: persist
  std::vector<proto::Entry> entries;            // persist before sending (but appends, heartbeats)
  std::optional<proto::SnapshotMeta> snapshot;  // install before applying
  std::vector<proto::Message> messages;         // send after persisting (but appends, heartbeats)
  std::vector<proto::Entry> committed_entries;  // apply in order
  std::vector<ReadState> read_states;
  bool empty() const;
};

struct Progress;  // raft/progress.h
class RaftLog;    // raft/raft_log.h

class Raft {
 public:
  // Errors: InvalidArgument for a bad config or inconsistent state.
  static Result<std::unique_ptr<Raft>> Open(const Config& config, InitialState state);
  ~Raft();
  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  // One unit of logical time.
  void Tick();

  // A message from a peer. Stale or malformed ones are dropped (OK);
  // InvalidArgument if `to` is not this node.
  Status Step(const proto::Message& message);

  // Appends `data` as a normal entry. Errors: NotLeader (hint: leader's id
  // as decimal, empty if unknown) on a follower; Busy while a leader
  // transfer is in progress. Returns the entry's index and term on a leader
  // so the host can match the committed entry to the waiting caller.
  struct Proposed {
    LogIndex index;
    Term term;
  };
  Result<Proposed> Propose(std::string data);

  // One membership change at a time (§4.1): Busy while one is uncommitted
  // or unapplied. A learner is promoted (CONF_ADD_VOTER) only once its log
  // is within Config::max_learner_lag entries of the commit index, else
  // Busy (§4.2.1). Adding a node that is not a member straight as a voter
  // is allowed, but the host should add it as a learner first.
  Result<Proposed> ProposeConfChange(const proto::ConfChange& change);

  // The host calls this when it applies a committed ENTRY_CONF_CHANGE, for
  // every one handed out in Ready.committed_entries, in order; returns the
  // new membership (to store in the next snapshot). A change handed out
  // before a newer snapshot was installed (a Step between GetReady and
  // Advance) is already part of that snapshot's membership and is ignored.
  proto::ConfState ApplyConfChange(const proto::ConfChange& change);

  // Requests a linearizable read; a ReadState with `context` arrives in a
  // later Ready (on a follower: via the leader). Dropped (no ReadState) when
  // no leader is known or leadership is lost: the host times the read out.
  void ReadIndex(std::string context);

  // Asks the leader to hand leadership to `target` (§3.10). Errors:
  // NotLeader on a follower without a known leader, InvalidArgument for a
  // non-voter.
  Status TransferLeadership(NodeId target);

  // The host could not reach `node`: a replicating follower goes back to probe.
  void ReportUnreachable(NodeId node);
  // The snapshot sent to `node` was installed (ok) or failed. The host must
  // report every MSG_SNAPSHOT it was handed: until then (or until the
  // follower answers) the leader sends that follower nothing else.
  void ReportSnapshot(NodeId node, bool ok);

  // The state machine holds a snapshot through `index` (<= applied): drop
  // log entries through `index`, keeping the last `keep` of them for slow
  // followers. A follower further behind gets the snapshot (§5.1).
  Status Compact(const proto::SnapshotMeta& snapshot, uint64_t keep = 0);

  bool HasReady() const;
  Ready GetReady();
  void Advance(const Ready& ready);

  NodeId id() const;
  NodeId leader() const;
  Term term() const;
  Role role() const;
  LogIndex committed() const;
  // kLeaseBased leader: the time on Config::clock before which no other
  // leader can exist (§6.4.1); nullopt when it holds no lease (not leader,
  // kSafe, a leadership transfer under way). A read of a state that has
  // applied an entry of this term, made before then, is linearizable.
  std::optional<int64_t> LeaseEnd() const;
  LogIndex applied() const;
  LogIndex last_index() const;
  LogIndex first_index() const;  // first entry still in the log
  const proto::ConfState& conf_state() const;
  const proto::SnapshotMeta& snapshot() const;  // latest (to send to followers)
  // Leader only: the replication state of each peer (empty otherwise).
  std::vector<std::pair<NodeId, const Progress*>> progress() const;

 private:
  struct Impl;
  explicit Raft(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cfs::raft
