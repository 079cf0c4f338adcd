// The Raft core (see raft.h). The structure follows etcd-raft's raft.go:
// Step does the term bookkeeping common to every role (§3.3), then hands the
// message to the role's step function; every rule cites the dissertation.
//
// Message conventions beyond raft.proto's comments:
//  - MSG_APPEND_RESP: `index` is the last index the follower now matches
//    (accepted) or the rejected append's previous index (reject), with
//    `reject_hint`/`log_term` the follower's guess of where the logs agree
//    (its FindConflictByTerm), for fast backtracking.
//  - MSG_HEARTBEAT carries the leader's heartbeat round in `context` (a
//    varint; read_only.h) and the answer echoes it, with the follower's
//    commit index in `commit`.
//  - MSG_PROPOSE, MSG_READ_INDEX and MSG_TRANSFER_LEADER are requests a node
//    forwards to its leader: they carry term 0 and skip term checks.
//    MSG_TRANSFER_LEADER names the target in `index`.
//  - MSG_VOTE with context kCampaignTransfer is a leader-transfer election
//    (§3.10): voters grant it even while they hear from a leader.
#include "raft/raft.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <limits>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/coding.h"
#include "raft/progress.h"
#include "raft/raft_log.h"
#include "raft/read_only.h"

namespace cfs::raft {
namespace {

constexpr std::string_view kCampaignTransfer = "CampaignTransfer";

[[noreturn]] void RaftBug(NodeId id, std::string_view what) {
  std::string msg = fmt::format("raft {}: invariant broken: {}\n", id, what);
  std::fputs(msg.c_str(), stderr);
  std::abort();
}

// splitmix64: a small deterministic generator; the same seed gives the same
// election timeouts on every run and platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  uint64_t state_;
};

bool IsForwardedRequest(proto::MessageType t) {
  return t == proto::MSG_PROPOSE || t == proto::MSG_READ_INDEX || t == proto::MSG_TRANSFER_LEADER;
}

bool IsVoteMessage(proto::MessageType t) {
  return t == proto::MSG_VOTE || t == proto::MSG_PRE_VOTE || t == proto::MSG_VOTE_RESP ||
         t == proto::MSG_PRE_VOTE_RESP;
}

bool FromLeader(proto::MessageType t) {
  return t == proto::MSG_APPEND || t == proto::MSG_HEARTBEAT || t == proto::MSG_SNAPSHOT;
}

bool Contains(const std::vector<NodeId>& v, NodeId id) { return std::find(v.begin(), v.end(), id) != v.end(); }

void Insert(std::vector<NodeId>& v, NodeId id) {
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it == v.end() || *it != id) v.insert(it, id);
}

void Erase(std::vector<NodeId>& v, NodeId id) {
  auto it = std::lower_bound(v.begin(), v.end(), id);
  if (it != v.end() && *it == id) v.erase(it);
}

std::string LeaderHint(NodeId leader) { return leader.value() == 0 ? std::string() : fmt::format("{}", leader); }

Status ValidateConfState(const proto::ConfState& cs) {
  std::vector<uint64_t> seen;
  for (uint64_t v : cs.voters()) seen.push_back(v);
  for (uint64_t l : cs.learners()) seen.push_back(l);
  std::sort(seen.begin(), seen.end());
  if (!seen.empty() && seen.front() == 0) return Status::InvalidArgument("membership names node 0");
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) {
    return Status::InvalidArgument("membership names a node twice");
  }
  return Status::OK();
}

// Why a message from the network cannot be a valid Raft message; empty when
// it can. Such messages are dropped before they touch any state.
std::string Malformed(const proto::Message& m, NodeId self) {
  const proto::MessageType t = m.type();
  if (t <= proto::MSG_UNSPECIFIED || t > proto::MSG_TRANSFER_LEADER) return "unknown type";
  if (m.from() == 0 || NodeId(m.from()) == self) return "bad sender";
  if (!IsForwardedRequest(t) && m.term() == 0) return "term 0";
  auto valid_entry_type = [](const proto::Entry& e) {
    return e.type() == proto::ENTRY_NORMAL || e.type() == proto::ENTRY_CONF_CHANGE;
  };
  switch (t) {
    case proto::MSG_APPEND: {
      if (m.log_term() > m.term()) return "previous term above message term";
      if (m.index() > UINT64_MAX - static_cast<uint64_t>(m.entries_size()) - 1) return "index overflow";
      uint64_t prev_term = m.log_term();
      for (int k = 0; k < m.entries_size(); ++k) {
        const proto::Entry& e = m.entries(k);
        if (e.index() != m.index() + 1 + static_cast<uint64_t>(k)) return "entries not contiguous";
        if (e.term() < prev_term || e.term() > m.term() || e.term() == 0) return "entry terms out of order";
        if (!valid_entry_type(e)) return "unknown entry type";
        prev_term = e.term();
      }
      return {};
    }
    case proto::MSG_SNAPSHOT: {
      const proto::SnapshotMeta& s = m.snapshot();
      if (s.index() == 0 || s.term() == 0 || s.term() > m.term()) return "bad snapshot meta";
      if (s.conf_state().voters_size() == 0) return "snapshot without voters";
      if (!ValidateConfState(s.conf_state()).ok()) return "bad snapshot membership";
      return {};
    }
    case proto::MSG_VOTE:
    case proto::MSG_PRE_VOTE:
      if (m.log_term() > m.term()) return "last log term above campaign term";
      return {};
    case proto::MSG_PROPOSE:
      if (m.entries_size() == 0) return "empty proposal";
      for (const proto::Entry& e : m.entries()) {
        if (!valid_entry_type(e)) return "unknown entry type";
      }
      return {};
    default:
      return {};
  }
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

bool Ready::empty() const {
  return !soft_state && !hard_state && entries.empty() && !snapshot && messages.empty() &&
         committed_entries.empty() && read_states.empty();
}

struct Raft::Impl {
  enum class CampaignKind : uint8_t { kPreElection, kElection, kTransfer };

  Impl(const Config& c, LogIndex snapshot_index, Term snapshot_term)
      : cfg(c), id(c.id), log(snapshot_index, snapshot_term), rng(c.rng_seed ^ (c.id.value() * 0xd1b54a32d192ed03ULL)) {}

  // ---- membership ----

  bool IsVoter(NodeId n) const { return Contains(voters, n); }
  bool IsMember(NodeId n) const { return prs.count(n) > 0; }
  size_t Quorum() const { return voters.size() / 2 + 1; }

  // Makes `prs` hold exactly the voters and learners, keeping the progress
  // of nodes that stay; rebuilds conf_state.
  void SyncMembership() {
    for (auto it = prs.begin(); it != prs.end();) {
      if (!IsVoter(it->first) && !Contains(learners, it->first)) {
        it = prs.erase(it);
      } else {
        ++it;
      }
    }
    auto add = [&](NodeId n, bool learner) {
      auto [it, inserted] = prs.try_emplace(n, static_cast<size_t>(cfg.max_inflight));
      if (inserted) {
        it->second.next = LogIndex(log.last_index().value() + 1);
        if (n == id) it->second.match = log.last_index();
        // A new member gets a grace period before CheckQuorum counts it
        // against the leader (§6.2).
        it->second.recent_active = true;
      }
      it->second.is_learner = learner;
    };
    for (NodeId n : voters) add(n, false);
    for (NodeId n : learners) add(n, true);
    conf_state.Clear();
    for (NodeId n : voters) conf_state.add_voters(n.value());
    for (NodeId n : learners) conf_state.add_learners(n.value());
  }

  void LoadConfState(const proto::ConfState& cs) {
    voters.clear();
    learners.clear();
    for (uint64_t v : cs.voters()) Insert(voters, NodeId(v));
    for (uint64_t l : cs.learners()) {
      if (!IsVoter(NodeId(l))) Insert(learners, NodeId(l));
    }
    SyncMembership();
  }

  // Applies one single-server change (§4.1) to voters/learners. Changes that
  // would leave no voter are ignored: every replica applies the same entry
  // and must reach the same membership.
  bool ChangeMembership(const proto::ConfChange& cc) {
    const NodeId n(cc.node_id());
    if (n.value() == 0) return false;
    std::vector<NodeId> v = voters;
    std::vector<NodeId> l = learners;
    switch (cc.type()) {
      case proto::CONF_ADD_VOTER:
        Erase(l, n);
        Insert(v, n);
        break;
      case proto::CONF_ADD_LEARNER:
        Erase(v, n);
        Insert(l, n);
        break;
      case proto::CONF_REMOVE_NODE:
        Erase(v, n);
        Erase(l, n);
        break;
      default:
        return false;
    }
    if (v.empty()) return false;
    voters = std::move(v);
    learners = std::move(l);
    SyncMembership();
    return true;
  }

  // ---- state transitions ----

  void ResetElectionTimeout() {
    // §3.4: randomized in [election_ticks, 2 * election_ticks).
    randomized_election_timeout =
        cfg.election_ticks + static_cast<int>(rng.Next() % static_cast<uint64_t>(cfg.election_ticks));
  }

  // What every role change starts from (etcd's reset).
  void Reset(Term new_term) {
    if (new_term != term) {
      term = new_term;
      vote = NodeId(0);
    }
    leader = NodeId(0);
    election_elapsed = 0;
    heartbeat_elapsed = 0;
    ResetElectionTimeout();
    lead_transferee = NodeId(0);
    timeout_now_sent = false;
    votes.clear();
    for (auto& [n, pr] : prs) {
      const bool learner = pr.is_learner;
      pr = Progress(static_cast<size_t>(cfg.max_inflight));
      pr.is_learner = learner;
      pr.next = LogIndex(log.last_index().value() + 1);
      if (n == id) pr.match = log.last_index();
    }
    pending_conf_index = LogIndex(0);
    read_only.Reset();
    reads_awaiting_commit.clear();
    pending_bcast = false;
  }

  void BecomeFollower(Term t, NodeId lead) {
    Reset(t);
    leader = lead;
    role = Role::kFollower;
  }

  void BecomePreCandidate() {
    if (role == Role::kLeader) RaftBug(id, "leader becoming pre-candidate");
    // §9.6: neither the term nor the vote changes; only the role.
    role = Role::kPreCandidate;
    votes.clear();
    leader = NodeId(0);
  }

  void BecomeCandidate() {
    if (role == Role::kLeader) RaftBug(id, "leader becoming candidate");
    // §3.4: increment the term and vote for itself.
    Reset(Term(term.value() + 1));
    vote = id;
    role = Role::kCandidate;
  }

  void BecomeLeader() {
    if (role == Role::kFollower) RaftBug(id, "follower becoming leader");
    Reset(term);
    leader = id;
    role = Role::kLeader;
    if (auto it = prs.find(id); it != prs.end()) {
      it->second.BecomeReplicate();
      it->second.recent_active = true;
    }
    if (log.last_index().value() == 0) {
      // The group's first entries: its founding membership, one change per
      // member. Founders know it from InitialState.initial_conf (these are
      // no-ops for them), but a node that joins later and replays the log
      // from index 1 would otherwise build its membership from the later
      // changes alone, e.g. believe itself the only voter. Nothing can be
      // committed before them (this leader's log is empty), so they are
      // always the log's first committed entries.
      for (NodeId v : voters) AppendEntry(ConfChangeEntry(proto::CONF_ADD_VOTER, v));
      for (NodeId l : learners) AppendEntry(ConfChangeEntry(proto::CONF_ADD_LEARNER, l));
    }
    // Every entry after what this leader knows to be applied may be an
    // unapplied membership change (§4.1): no new one until they are applied.
    pending_conf_index = log.last_index();
    // §6.4 / §3.6.2: an entry of the leader's own term, so that committing it
    // commits everything before it and tells the leader its commit index.
    proto::Entry noop;
    noop.set_type(proto::ENTRY_NORMAL);
    AppendEntry(std::move(noop));
    pending_bcast = true;
  }

  static proto::Entry ConfChangeEntry(proto::ConfChangeType type, NodeId node) {
    proto::ConfChange cc;
    cc.set_type(type);
    cc.set_node_id(node.value());
    proto::Entry e;
    e.set_type(proto::ENTRY_CONF_CHANGE);
    e.set_data(cc.SerializeAsString());
    return e;
  }

  bool Promotable() const {
    return IsVoter(id) && !unstable_snapshot && snapshot_in_flight.value() == 0;
  }

  // Starts an election if this node may (etcd's hup).
  void Hup(CampaignKind kind) {
    if (role == Role::kLeader) return;
    // A node outside the configuration, or a learner, never campaigns (§4.2.1).
    if (!Promotable()) return;
    // A committed but unapplied membership change may make this node's view
    // of the configuration stale: apply it first.
    if (log.HasUnappliedConfChange()) return;
    Campaign(kind);
  }

  void Campaign(CampaignKind kind) {
    proto::MessageType type;
    Term campaign_term;
    if (kind == CampaignKind::kPreElection) {
      BecomePreCandidate();
      type = proto::MSG_PRE_VOTE;
      campaign_term = Term(term.value() + 1);  // the term it would campaign in
    } else {
      BecomeCandidate();
      type = proto::MSG_VOTE;
      campaign_term = term;
    }
    if (Poll(id, true)) return;  // a single voter wins at once
    for (NodeId v : voters) {
      if (v == id) continue;
      proto::Message m;
      m.set_type(type);
      m.set_to(v.value());
      m.set_term(campaign_term.value());
      m.set_index(log.last_index().value());
      m.set_log_term(log.last_term().value());
      if (kind == CampaignKind::kTransfer) m.set_context(std::string(kCampaignTransfer));
      Send(std::move(m));
    }
  }

  // Records a (pre-)vote and acts on the tally. Returns true when the
  // election was decided by it.
  bool Poll(NodeId from, bool granted) {
    if (!IsVoter(from)) return false;  // only voters' answers count (§4.2.1)
    votes.try_emplace(from, granted);
    size_t yes = 0;
    size_t no = 0;
    for (const auto& [n, g] : votes) {
      if (IsVoter(n)) (g ? yes : no)++;  // the membership may have changed since
    }
    if (yes >= Quorum()) {
      if (role == Role::kPreCandidate) {
        Campaign(CampaignKind::kElection);
      } else {
        BecomeLeader();
      }
      return true;
    }
    if (no > voters.size() - Quorum()) {
      BecomeFollower(term, NodeId(0));
      return true;
    }
    return false;
  }

  // §4.2.3: a server that heard from a current leader within the minimum
  // election timeout does not grant (pre-)votes or adopt a candidate's
  // term. A restarted server does not know whether it did, so in lease mode
  // it waits one election timeout first (the lease of §6.4.1 relies on it).
  bool InLease() const {
    if (leader.value() != 0 && election_elapsed < cfg.election_ticks) return true;
    return cfg.read_only == ReadOnlyMode::kLeaseBased && ticks < static_cast<uint64_t>(cfg.election_ticks);
  }

  // ---- sending ----

  void Send(proto::Message m) {
    m.set_from(id.value());
    if (IsForwardedRequest(m.type())) {
      m.set_term(0);
    } else if (!IsVoteMessage(m.type())) {
      m.set_term(term.value());
    }
    msgs.push_back(std::move(m));
  }

  // Sends `to` the entries it lacks, or a snapshot if they were compacted
  // (§5.1). Returns whether a message was sent. With send_if_empty false,
  // nothing is sent when there are no new entries.
  bool SendAppend(NodeId to, bool send_if_empty = true) {
    auto it = prs.find(to);
    if (it == prs.end() || to == id) return false;
    Progress& pr = it->second;
    if (pr.IsPaused()) return false;
    const LogIndex prev(pr.next.value() - 1);
    std::optional<Term> prev_term = log.TermAt(prev);
    if (!prev_term || pr.next < log.first_index()) return SendSnapshot(to, pr);
    const LogIndex last = log.last_index();
    proto::Message m;
    if (pr.next <= last) {
      log.Slice(pr.next, LogIndex(last.value() + 1), cfg.max_msg_bytes, m.mutable_entries());
    }
    if (m.entries_size() == 0 && !send_if_empty) return false;
    m.set_type(proto::MSG_APPEND);
    m.set_to(to.value());
    m.set_index(prev.value());
    m.set_log_term(prev_term->value());
    m.set_commit(log.committed().value());
    if (m.entries_size() > 0) {
      const LogIndex sent_last(m.entries(m.entries_size() - 1).index());
      if (pr.state == ProgressState::kReplicate) {
        // Pipelining (etcd): assume it will be accepted and go on.
        pr.OptimisticUpdate(sent_last);
        pr.inflights.Add(sent_last);
      }
    }
    if (pr.state == ProgressState::kProbe) pr.probe_sent = true;
    Send(std::move(m));
    return true;
  }

  bool SendSnapshot(NodeId to, Progress& pr) {
    // A peer that has not answered lately may be down: a snapshot is costly.
    if (!pr.recent_active) return false;
    if (snapshot.index() < log.prev_index().value()) {
      RaftBug(id, fmt::format("snapshot {} below compaction point {}", snapshot.index(), log.prev_index()));
    }
    proto::Message m;
    m.set_type(proto::MSG_SNAPSHOT);
    m.set_to(to.value());
    *m.mutable_snapshot() = snapshot;
    pr.BecomeSnapshot(LogIndex(snapshot.index()));
    Send(std::move(m));
    return true;
  }

  void BcastAppend() {
    for (auto& [n, pr] : prs) {
      if (n != id) SendAppend(n);
    }
  }

  // Heartbeats (§3.4) to every peer, as a new read round (read_only.h).
  void BcastHeartbeat() {
    const uint64_t round = read_only.StartRound(Now());
    std::string ctx;
    PutVarint64(&ctx, round);
    for (auto& [n, pr] : prs) {
      if (n == id) continue;
      proto::Message m;
      m.set_type(proto::MSG_HEARTBEAT);
      m.set_to(n.value());
      // Not beyond what the peer is known to hold: its log may still have a
      // conflicting suffix after match.
      m.set_commit(std::min(pr.match, log.committed()).value());
      m.set_context(ctx);
      Send(std::move(m));
    }
  }

  void SendTimeoutNow(NodeId to) {
    proto::Message m;
    m.set_type(proto::MSG_TIMEOUT_NOW);
    m.set_to(to.value());
    Send(std::move(m));
    // The target may now win without waiting out anyone's lease: this
    // leader's lease (§6.4.1) no longer holds for the rest of its term.
    timeout_now_sent = true;
  }

  // Sends what was deferred: one append per peer for all proposals since
  // the last Ready, and a heartbeat round for reads waiting for one.
  void Flush() {
    if (role != Role::kLeader) {
      pending_bcast = false;
      return;
    }
    if (pending_bcast) {
      pending_bcast = false;
      BcastAppend();
    }
    if (read_only.NeedsRound()) BcastHeartbeat();
  }

  // ---- leader ----

  LogIndex AppendEntry(proto::Entry e) {
    e.set_term(term.value());
    const LogIndex index = log.Append(std::move(e));
    // The leader counts its own entry as replicated at once: Ready hands it
    // to the host, which persists it before sending any message or applying
    // anything that depends on it.
    if (auto it = prs.find(id); it != prs.end()) it->second.MaybeUpdate(index);
    if (MaybeCommit()) OnCommitAdvanced();
    return index;
  }

  // §3.6.2: the leader commits the highest index a quorum of voters holds,
  // but only if that entry is of its current term (Figure 3.7); earlier
  // entries are committed indirectly with it.
  bool MaybeCommit() {
    if (voters.empty()) return false;
    std::vector<uint64_t>& matches = scratch;  // no allocation per acknowledgement
    matches.clear();
    for (NodeId v : voters) {
      auto it = prs.find(v);
      matches.push_back(it == prs.end() ? 0 : it->second.match.value());
    }
    const size_t q = Quorum();
    std::nth_element(matches.begin(), matches.begin() + static_cast<std::ptrdiff_t>(q - 1), matches.end(),
                     std::greater<>());
    const LogIndex index(matches[q - 1]);
    if (index <= log.committed()) return false;
    if (log.TermAt(index) != term) return false;
    log.CommitTo(index);
    return true;
  }

  bool CommittedInCurrentTerm() const { return log.TermAt(log.committed()) == term; }

  void OnCommitAdvanced() {
    pending_bcast = true;
    if (CommittedInCurrentTerm() && !reads_awaiting_commit.empty()) {
      std::vector<proto::Message> waiting;
      waiting.swap(reads_awaiting_commit);
      for (const proto::Message& m : waiting) LeaderReadIndex(m);
    }
  }

  // §6.4 ReadIndex on the leader.
  void LeaderReadIndex(const proto::Message& m) {
    // Step 1: until an entry of its term is committed the leader may not
    // know the latest commit index; wait for its no-op.
    if (!CommittedInCurrentTerm()) {
      reads_awaiting_commit.push_back(m);
      return;
    }
    const LogIndex index = log.committed();
    if (voters.size() == 1 && IsVoter(id)) {
      // A single voter is a quorum by itself.
      AnswerRead(NodeId(m.from()), index, m.context());
      return;
    }
    if (LeaseValid()) {  // lease mode with check_quorum (LeaseEnd)
      AnswerRead(NodeId(m.from()), index, m.context());
      return;
    }
    // Steps 2-3: confirm leadership with a heartbeat round sent after now.
    read_only.Add(index, NodeId(m.from()), m.context());
  }

  // §6.4.1: the quorum that acknowledged round r heard this leader no
  // earlier than when r was sent, and none of them grants a vote until
  // election_ticks of its own ticks have passed after hearing it (InLease).
  // A host's ticks come late, never early, but the first may come at once
  // after a late one: that is at least election_ticks - 2 ticks of time,
  // so no other leader exists before r's time + (election_ticks - 2)
  // ticks. One more tick is kept as margin for clock drift.
  bool LeaseValid() const {
    std::optional<int64_t> end = LeaseEnd();
    return end && Now() < *end;
  }

  // The time (on Now's clock) before which no other leader can exist, as
  // LeaseValid dates it; nullopt when this node holds no lease: not a
  // leader, not in lease mode, or a transfer under way (the target may win
  // at once). A sole voter holds it for the rest of its term.
  std::optional<int64_t> LeaseEnd() const {
    if (role != Role::kLeader || cfg.read_only != ReadOnlyMode::kLeaseBased || !cfg.check_quorum) return std::nullopt;
    if (timeout_now_sent || lead_transferee.value() != 0) return std::nullopt;
    if (voters.size() == 1 && IsVoter(id)) return std::numeric_limits<int64_t>::max();
    const uint64_t round = read_only.ConfirmedRound(voters, id);
    std::optional<int64_t> sent = read_only.RoundTime(round);
    if (!sent) return std::nullopt;
    return *sent + (cfg.election_ticks - 3) * cfg.tick;
  }

  // The lease's time: the host's clock, or the core's ticks.
  int64_t Now() const { return cfg.clock ? cfg.clock() : static_cast<int64_t>(ticks) * cfg.tick; }

  void AnswerRead(NodeId from, LogIndex index, const std::string& context) {
    if (from == id) {
      read_states.push_back(ReadState{index, context});
      return;
    }
    proto::Message r;
    r.set_type(proto::MSG_READ_INDEX_RESP);
    r.set_to(from.value());
    r.set_index(index.value());
    r.set_context(context);
    Send(std::move(r));
  }

  void ReleaseConfirmedReads() {
    std::vector<ReadOnly::Request> ready;
    read_only.Release(read_only.ConfirmedRound(voters, id), &ready);
    for (ReadOnly::Request& r : ready) AnswerRead(r.from, r.index, r.context);
  }

  Status StartTransfer(NodeId target) {
    if (!IsVoter(target)) {
      return Status::InvalidArgument(fmt::format("raft {}: node {} is not a voter", id, target));
    }
    if (lead_transferee.value() != 0) {
      if (lead_transferee == target) return Status::OK();  // already under way
      lead_transferee = NodeId(0);
    }
    if (target == id) return Status::OK();  // already leader; cancels a transfer
    // §3.10: stop accepting proposals, bring the target up to date, then let
    // it time out at once. Abandoned after an election timeout.
    election_elapsed = 0;
    lead_transferee = target;
    Progress& pr = prs.at(target);
    if (pr.match == log.last_index()) {
      SendTimeoutNow(target);
    } else {
      SendAppend(target);
    }
    return Status::OK();
  }

  void StepLeader(const proto::Message& m) {
    const NodeId from(m.from());
    switch (m.type()) {
      case proto::MSG_PROPOSE:
        LeaderForwardedProposal(m);
        return;
      case proto::MSG_READ_INDEX:
        LeaderReadIndex(m);
        return;
      case proto::MSG_TRANSFER_LEADER:
        if (IsMember(from)) (void)StartTransfer(NodeId(m.index()));
        return;
      case proto::MSG_APPEND_RESP:
      case proto::MSG_HEARTBEAT_RESP:
        break;
      default:
        // Among them MSG_APPEND/HEARTBEAT/SNAPSHOT of this term from another
        // node: two leaders in one term is impossible (§3.6.3); drop.
        return;
    }
    auto it = prs.find(from);
    if (it == prs.end()) return;  // not a member (any more)
    Progress& pr = it->second;
    pr.recent_active = true;  // §6.2
    if (m.type() == proto::MSG_HEARTBEAT_RESP) {
      LeaderHeartbeatResp(from, pr, m);
    } else {
      LeaderAppendResp(from, pr, m);
    }
  }

  void LeaderAppendResp(NodeId from, Progress& pr, const proto::Message& m) {
    const LogIndex index(m.index());
    if (m.reject()) {
      // §3.5: the consistency check failed at `index`; back up, skipping with
      // the follower's hint straight to where the terms can agree.
      LogIndex hint = std::min(LogIndex(m.reject_hint()), log.last_index());
      if (m.log_term() > 0) hint = log.FindConflictByTerm(hint, Term(m.log_term())).first;
      if (pr.MaybeDecrTo(index, hint)) {
        if (pr.state == ProgressState::kReplicate) pr.BecomeProbe();
        SendAppend(from);
      }
      return;
    }
    if (index > log.last_index()) return;  // acknowledges what was never sent
    LeaderMatched(from, pr, index);
  }

  // `from` holds the leader's log through `index` (<= last index).
  void LeaderMatched(NodeId from, Progress& pr, LogIndex index) {
    const bool was_paused = pr.IsPaused();
    if (!pr.MaybeUpdate(index)) return;
    switch (pr.state) {
      case ProgressState::kProbe:
        pr.BecomeReplicate();
        break;
      case ProgressState::kSnapshot:
        // The follower holds what it needs to continue from the log.
        if (pr.match.value() + 1 >= log.first_index().value()) {
          pr.BecomeProbe();
          pr.BecomeReplicate();
        }
        break;
      case ProgressState::kReplicate:
        pr.inflights.FreeLE(index);
        break;
    }
    if (MaybeCommit()) {
      OnCommitAdvanced();
    } else if (was_paused) {
      SendAppend(from);
    }
    while (SendAppend(from, false)) {
    }
    if (from == lead_transferee && pr.match == log.last_index()) SendTimeoutNow(from);
  }

  void LeaderHeartbeatResp(NodeId from, Progress& pr, const proto::Message& m) {
    // The answer carries the follower's commit index. Committed entries are
    // the same on every server (§3.6.3) and all in this leader's log (Leader
    // Completeness), so the follower's log matches through it: this repairs
    // a lost append answer, e.g. the one for an installed snapshot.
    if (LogIndex(m.commit()) > pr.match && LogIndex(m.commit()) <= log.last_index()) {
      LeaderMatched(from, pr, LogIndex(m.commit()));
    }
    pr.probe_sent = false;
    // The peer is alive: let one more append through a full window so a
    // lost acknowledgement cannot stall it for good.
    if (pr.state == ProgressState::kReplicate && pr.inflights.Full()) pr.inflights.FreeFirstOne();
    if (pr.match < log.last_index()) SendAppend(from);
    std::string_view ctx = m.context();
    if (ctx.empty() || !IsVoter(from)) return;
    std::optional<uint64_t> round = GetVarint64(&ctx);
    if (!round || !ctx.empty()) return;
    read_only.Ack(from, *round);
    ReleaseConfirmedReads();
  }

  void LeaderForwardedProposal(const proto::Message& m) {
    if (lead_transferee.value() != 0) return;  // §3.10: no proposals while transferring
    for (const proto::Entry& in : m.entries()) {
      proto::Entry e;
      e.set_type(in.type());
      e.set_data(in.data());
      if (e.type() == proto::ENTRY_CONF_CHANGE) {
        if (pending_conf_index > log.applied()) {
          // §4.1: one change at a time; this one becomes a no-op.
          e.set_type(proto::ENTRY_NORMAL);
          e.clear_data();
          AppendEntry(std::move(e));
          continue;
        }
        pending_conf_index = AppendEntry(std::move(e));
        continue;
      }
      AppendEntry(std::move(e));
    }
    pending_bcast = true;
  }

  // ---- candidate ----

  void StepCandidate(const proto::Message& m) {
    const proto::MessageType want = role == Role::kPreCandidate ? proto::MSG_PRE_VOTE_RESP : proto::MSG_VOTE_RESP;
    switch (m.type()) {
      case proto::MSG_APPEND:
      case proto::MSG_HEARTBEAT:
      case proto::MSG_SNAPSHOT:
        // §3.4: a leader of this term exists; return to follower.
        BecomeFollower(term, NodeId(m.from()));
        StepFollower(m);
        return;
      default:
        if (m.type() == want) Poll(NodeId(m.from()), !m.reject());
        return;
    }
  }

  // ---- follower ----

  void StepFollower(const proto::Message& m) {
    switch (m.type()) {
      case proto::MSG_APPEND:
        election_elapsed = 0;
        leader = NodeId(m.from());
        FollowerAppend(m);
        return;
      case proto::MSG_HEARTBEAT:
        election_elapsed = 0;
        leader = NodeId(m.from());
        FollowerHeartbeat(m);
        return;
      case proto::MSG_SNAPSHOT:
        election_elapsed = 0;
        leader = NodeId(m.from());
        FollowerSnapshot(m);
        return;
      case proto::MSG_TIMEOUT_NOW:
        // §3.10: the leader hands over; campaign at once, without pre-vote,
        // marked so voters that still hear the old leader grant it.
        Hup(CampaignKind::kTransfer);
        return;
      case proto::MSG_READ_INDEX_RESP:
        read_states.push_back(ReadState{LogIndex(m.index()), m.context()});
        return;
      default:
        return;
    }
  }

  void FollowerAppend(const proto::Message& m) {
    proto::Message r;
    r.set_type(proto::MSG_APPEND_RESP);
    r.set_to(m.from());
    if (LogIndex(m.index()) < log.committed()) {
      // Everything up to the commit index is settled (and may be compacted):
      // tell the leader where to continue.
      r.set_index(log.committed().value());
      Send(std::move(r));
      return;
    }
    if (std::optional<LogIndex> last_new =
            log.MaybeAppend(LogIndex(m.index()), Term(m.log_term()), LogIndex(m.commit()), m.entries())) {
      r.set_index(last_new->value());
      Send(std::move(r));
      return;
    }
    // §3.5: the consistency check failed. Hint where the logs may agree: the
    // last entry whose term is <= the leader's term at m.index.
    const LogIndex probe = std::min(LogIndex(m.index()), log.last_index());
    auto [hint_index, hint_term] = log.FindConflictByTerm(probe, Term(m.log_term()));
    r.set_index(m.index());
    r.set_reject(true);
    r.set_reject_hint(hint_index.value());
    r.set_log_term(hint_term.value());
    Send(std::move(r));
  }

  void FollowerHeartbeat(const proto::Message& m) {
    // The leader never sends a commit beyond what it knows this node holds;
    // one beyond the log is malformed and ignored.
    if (LogIndex(m.commit()) <= log.last_index()) log.CommitTo(LogIndex(m.commit()));
    proto::Message r;
    r.set_type(proto::MSG_HEARTBEAT_RESP);
    r.set_to(m.from());
    r.set_commit(log.committed().value());
    r.set_context(m.context());
    Send(std::move(r));
  }

  void FollowerSnapshot(const proto::Message& m) {
    proto::Message r;
    r.set_type(proto::MSG_APPEND_RESP);
    r.set_to(m.from());
    if (RestoreSnapshot(m.snapshot())) {
      r.set_index(log.last_index().value());
    } else {
      r.set_index(log.committed().value());
    }
    Send(std::move(r));
  }

  // §5.1 InstallSnapshot on the receiver. Returns whether the log was reset.
  bool RestoreSnapshot(const proto::SnapshotMeta& meta) {
    const LogIndex index(meta.index());
    const Term t(meta.term());
    if (index <= log.committed()) return false;  // older than what is known committed
    if (log.MatchTerm(index, t)) {
      // The log already holds the snapshot's last entry: by Log Matching it
      // holds everything before it too, and the snapshot says it is
      // committed. Keep the entries after it.
      log.CommitTo(index);
      return false;
    }
    log.RestoreSnapshot(index, t);
    snapshot = meta;
    unstable_snapshot = meta;
    LoadConfState(meta.conf_state());
    conf_snapshot_index = index;
    return true;
  }

  // ---- common ----

  void StepChecked(const proto::Message& m) {
    const proto::MessageType type = m.type();
    if (!IsForwardedRequest(type)) {
      const Term mt(m.term());
      if (mt > term) {
        if (type == proto::MSG_VOTE || type == proto::MSG_PRE_VOTE) {
          const bool force = m.context() == kCampaignTransfer;
          if (!force && InLease()) return;  // §4.2.3 disruptive servers
        }
        if (type == proto::MSG_PRE_VOTE) {
          // §9.6: a pre-vote does not change the voter's term.
        } else if (type == proto::MSG_PRE_VOTE_RESP && !m.reject()) {
          // A granted pre-vote carries the term the candidate will use.
        } else {
          // §3.3: a newer term: step down (to a follower of its leader if
          // the message comes from one).
          BecomeFollower(mt, FromLeader(type) ? NodeId(m.from()) : NodeId(0));
        }
      } else if (mt < term) {
        if ((cfg.check_quorum || cfg.pre_vote) && (type == proto::MSG_APPEND || type == proto::MSG_HEARTBEAT)) {
          // A stale leader (e.g. after a partition) would otherwise never
          // learn the newer term from nodes that ignore it: answer so it
          // steps down.
          proto::Message r;
          r.set_type(proto::MSG_APPEND_RESP);
          r.set_to(m.from());
          Send(std::move(r));
        } else if (type == proto::MSG_PRE_VOTE) {
          proto::Message r;
          r.set_type(proto::MSG_PRE_VOTE_RESP);
          r.set_to(m.from());
          r.set_term(term.value());
          r.set_reject(true);
          Send(std::move(r));
        }
        return;  // §3.3: stale terms are ignored
      }
    }
    if (type == proto::MSG_VOTE || type == proto::MSG_PRE_VOTE) {
      HandleVote(m);
      return;
    }
    switch (role) {
      case Role::kLeader:
        StepLeader(m);
        return;
      case Role::kCandidate:
      case Role::kPreCandidate:
        StepCandidate(m);
        return;
      case Role::kFollower:
        StepFollower(m);
        return;
    }
  }

  void HandleVote(const proto::Message& m) {
    const NodeId from(m.from());
    const bool pre = m.type() == proto::MSG_PRE_VOTE;
    // §3.4: at most one vote per term (first come, first served), and none
    // while this node knows the term's leader. A pre-vote for a later term
    // promises nothing.
    const bool can_vote =
        vote == from || (vote.value() == 0 && leader.value() == 0) || (pre && Term(m.term()) > term);
    proto::Message r;
    r.set_type(pre ? proto::MSG_PRE_VOTE_RESP : proto::MSG_VOTE_RESP);
    r.set_to(from.value());
    // §3.6.1: only for a candidate whose log is at least as up-to-date.
    if (can_vote && log.IsUpToDate(LogIndex(m.index()), Term(m.log_term()))) {
      r.set_term(m.term());
      if (!pre) {
        election_elapsed = 0;
        vote = from;  // persisted through Ready.hard_state before the answer is sent
      }
    } else {
      r.set_term(term.value());
      r.set_reject(true);
    }
    Send(std::move(r));
  }

  void Tick() {
    ++ticks;
    if (role == Role::kLeader) {
      TickLeader();
      return;
    }
    ++election_elapsed;
    if (Promotable() && election_elapsed >= randomized_election_timeout) {
      election_elapsed = 0;
      Hup(cfg.pre_vote ? CampaignKind::kPreElection : CampaignKind::kElection);
    }
  }

  void TickLeader() {
    ++heartbeat_elapsed;
    ++election_elapsed;
    if (election_elapsed >= cfg.election_ticks) {
      election_elapsed = 0;
      if (cfg.check_quorum) {
        // §6.2: step down without a quorum heard from in the last election
        // timeout.
        size_t active = 0;
        for (NodeId v : voters) {
          auto it = prs.find(v);
          if (v == id || (it != prs.end() && it->second.recent_active)) ++active;
        }
        for (auto& [n, pr] : prs) {
          if (n != id) pr.recent_active = false;
        }
        if (active < Quorum()) {
          BecomeFollower(term, NodeId(0));
          return;
        }
      }
      // §3.10: a transfer that did not finish within an election timeout is
      // abandoned; proposals are accepted again.
      lead_transferee = NodeId(0);
    }
    if (heartbeat_elapsed >= cfg.heartbeat_ticks) {
      heartbeat_elapsed = 0;
      BcastHeartbeat();
    }
  }

  Config cfg;
  const NodeId id;
  Term term;
  NodeId vote;
  NodeId leader;
  Role role = Role::kFollower;
  RaftLog log;
  // The latest snapshot (to send followers); index >= log.prev_index().
  proto::SnapshotMeta snapshot;
  // Installed from a leader, not yet handed out in a Ready.
  std::optional<proto::SnapshotMeta> unstable_snapshot;
  // Handed out in a Ready, not yet Advanced: 0 when none.
  LogIndex snapshot_in_flight;

  // Indexes of conf-change entries handed out in committed_entries whose
  // ApplyConfChange has not come yet, in order; and the index of the last
  // snapshot whose membership replaced the configuration. A change at or
  // below it is already part of that membership (a snapshot installed
  // between GetReady and the host applying the Ready).
  std::deque<LogIndex> conf_changes_handed_out;
  LogIndex conf_snapshot_index;

  std::vector<NodeId> voters;    // sorted
  std::vector<NodeId> learners;  // sorted, disjoint from voters
  proto::ConfState conf_state;
  std::map<NodeId, Progress> prs;  // every member; meaningful on a leader
  std::map<NodeId, bool> votes;    // this campaign's answers

  int election_elapsed = 0;
  int heartbeat_elapsed = 0;
  int randomized_election_timeout = 0;
  uint64_t ticks = 0;  // since Open
  NodeId lead_transferee;
  bool timeout_now_sent = false;
  LogIndex pending_conf_index;
  ReadOnly read_only;
  std::vector<proto::Message> reads_awaiting_commit;
  bool pending_bcast = false;
  std::vector<uint64_t> scratch;

  std::vector<proto::Message> msgs;
  std::vector<ReadState> read_states;
  SoftState prev_soft;
  proto::HardState prev_hard;
  Rng rng;
};

namespace {

bool SameHardState(const proto::HardState& a, const proto::HardState& b) {
  return a.term() == b.term() && a.vote() == b.vote() && a.commit() == b.commit();
}

}  // namespace

Result<std::unique_ptr<Raft>> Raft::Open(const Config& config, InitialState state) {
  if (config.id.value() == 0) return Status::InvalidArgument("raft: node id 0 is reserved");
  if (config.heartbeat_ticks < 1 || config.election_ticks <= config.heartbeat_ticks) {
    return Status::InvalidArgument(fmt::format("raft {}: need 1 <= heartbeat_ticks ({}) < election_ticks ({})",
                                               config.id, config.heartbeat_ticks, config.election_ticks));
  }
  if (config.max_inflight < 1) return Status::InvalidArgument(fmt::format("raft {}: max_inflight < 1", config.id));
  if (config.read_only == ReadOnlyMode::kLeaseBased && (config.election_ticks < 4 || config.tick < 1)) {
    return Status::InvalidArgument(
        fmt::format("raft {}: a lease needs election_ticks >= 4 ({}) and tick >= 1 ({})", config.id,
                    config.election_ticks, config.tick));
  }

  const proto::SnapshotMeta& snap = state.snapshot;
  if (snap.index() > 0 && snap.term() == 0) {
    return Status::InvalidArgument(fmt::format("raft {}: snapshot {} has term 0", config.id, snap.index()));
  }
  // Entries the snapshot covers are dropped; if the log disagrees with the
  // snapshot at its index, the snapshot replaced the whole log (§5.1).
  std::vector<proto::Entry> entries;
  entries.reserve(state.entries.size());
  bool keep = true;
  for (const proto::Entry& e : state.entries) {
    if (snap.index() > 0 && e.index() == snap.index() && e.term() != snap.term()) keep = false;
  }
  if (keep) {
    for (proto::Entry& e : state.entries) {
      if (e.index() > snap.index()) entries.push_back(std::move(e));
    }
  }
  uint64_t last_index = snap.index() + entries.size();
  uint64_t last_term = entries.empty() ? snap.term() : entries.back().term();

  proto::HardState hs = state.hard_state;
  const proto::HardState given = hs;
  if (last_term > hs.term()) {
    // Entries of a newer term reached the disk but the hard state did not
    // (a crash between the two writes). Nothing was sent on its behalf (the
    // host sends only after both are durable), so adopting the entries'
    // term without a vote is safe.
    hs.set_term(last_term);
    hs.set_vote(0);
  }
  const uint64_t applied = std::max(state.applied.value(), snap.index());
  if (applied > last_index) {
    return Status::InvalidArgument(
        fmt::format("raft {}: applied {} beyond the last entry {}", config.id, applied, last_index));
  }
  // The commit index may have reached the disk without the entries it
  // covers (another torn write); what was applied was committed.
  hs.set_commit(std::clamp<uint64_t>(hs.commit(), applied, last_index));

  proto::ConfState conf = snap.conf_state();
  if (snap.index() == 0 && (state.initial_conf.voters_size() > 0 || state.initial_conf.learners_size() > 0)) {
    conf = state.initial_conf;
  }
  CFS_RETURN_IF_ERROR(ValidateConfState(conf).WithContext(fmt::format("raft {}", config.id)));

  auto impl = std::make_unique<Impl>(config, LogIndex(snap.index()), Term(snap.term()));
  CFS_RETURN_IF_ERROR(impl->log.Load(std::move(entries), LogIndex(hs.commit()), LogIndex(applied))
                          .WithContext(fmt::format("raft {}", config.id)));
  impl->snapshot = snap;
  impl->LoadConfState(conf);
  // Membership changes the state machine already applied are not handed out
  // again: replay them here (later ones come back through ApplyConfChange).
  for (uint64_t i = snap.index() + 1; i <= applied; ++i) {
    const proto::Entry& e = impl->log.At(LogIndex(i));
    if (e.type() != proto::ENTRY_CONF_CHANGE) continue;
    proto::ConfChange cc;
    if (!cc.ParseFromString(e.data())) {
      return Status::InvalidArgument(fmt::format("raft {}: entry {} is not a ConfChange", config.id, i));
    }
    impl->ChangeMembership(cc);
  }
  impl->BecomeFollower(Term(hs.term()), NodeId(0));
  impl->vote = NodeId(hs.vote());
  impl->prev_hard = given;
  return std::unique_ptr<Raft>(new Raft(std::move(impl)));
}

Raft::Raft(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Raft::~Raft() = default;

void Raft::Tick() { impl_->Tick(); }

Status Raft::Step(const proto::Message& message) {
  if (NodeId(message.to()) != impl_->id) {
    return Status::InvalidArgument(
        fmt::format("raft {}: message for node {} (type {})", impl_->id, message.to(), static_cast<int>(message.type())));
  }
  if (std::string why = Malformed(message, impl_->id); !why.empty()) {
    spdlog::debug("raft {}: dropping message type {} from {}: {}", impl_->id, static_cast<int>(message.type()),
                  message.from(), why);
    return Status::OK();
  }
  impl_->StepChecked(message);
  return Status::OK();
}

Result<Raft::Proposed> Raft::Propose(std::string data) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader) {
    return Status::NotLeader(fmt::format("raft {}: not the leader", r.id), LeaderHint(r.leader));
  }
  if (r.lead_transferee.value() != 0) {
    return Status::Busy(fmt::format("raft {}: transferring leadership to {}", r.id, r.lead_transferee));
  }
  proto::Entry e;
  e.set_type(proto::ENTRY_NORMAL);
  e.set_data(std::move(data));
  const LogIndex index = r.AppendEntry(std::move(e));
  r.pending_bcast = true;
  return Proposed{index, r.term};
}

Result<Raft::Proposed> Raft::ProposeConfChange(const proto::ConfChange& change) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader) {
    return Status::NotLeader(fmt::format("raft {}: not the leader", r.id), LeaderHint(r.leader));
  }
  if (r.lead_transferee.value() != 0) {
    return Status::Busy(fmt::format("raft {}: transferring leadership to {}", r.id, r.lead_transferee));
  }
  if (change.node_id() == 0) return Status::InvalidArgument("membership change names node 0");
  if (!proto::ConfChangeType_IsValid(change.type())) return Status::InvalidArgument("unknown membership change");
  if (change.type() != proto::CONF_ADD_VOTER && r.voters.size() == 1 && r.IsVoter(NodeId(change.node_id()))) {
    return Status::InvalidArgument(fmt::format("raft {}: would leave the group without voters", r.id));
  }
  // §4.1: one change at a time, and only once the previous one is applied
  // (etcd applies a change when applying its entry, not when appending it).
  if (r.pending_conf_index > r.log.applied()) {
    return Status::Busy(fmt::format("raft {}: membership change at {} not yet applied (applied {})", r.id,
                                    r.pending_conf_index, r.log.applied()));
  }
  // §4.2.1: a learner becomes a voter only once it has caught up.
  if (change.type() == proto::CONF_ADD_VOTER) {
    auto it = r.prs.find(NodeId(change.node_id()));
    if (it != r.prs.end() && it->second.is_learner &&
        it->second.match.value() + r.cfg.max_learner_lag < r.log.committed().value()) {
      return Status::Busy(fmt::format("raft {}: learner {} has not caught up (match {}, commit {})", r.id,
                                      change.node_id(), it->second.match, r.log.committed()));
    }
  }
  proto::Entry e;
  e.set_type(proto::ENTRY_CONF_CHANGE);
  e.set_data(change.SerializeAsString());
  const LogIndex index = r.AppendEntry(std::move(e));
  r.pending_conf_index = index;
  r.pending_bcast = true;
  return Proposed{index, r.term};
}

proto::ConfState Raft::ApplyConfChange(const proto::ConfChange& change) {
  Impl& r = *impl_;
  if (!r.conf_changes_handed_out.empty()) {
    const LogIndex index = r.conf_changes_handed_out.front();
    r.conf_changes_handed_out.pop_front();
    if (index <= r.conf_snapshot_index) return r.conf_state;  // superseded by a snapshot
  }
  if (!r.ChangeMembership(change)) return r.conf_state;
  if (r.role == Role::kLeader) {
    if (!r.IsVoter(r.id)) {
      // A leader removed from (or demoted in) the configuration steps down
      // once the change is applied; the others elect a new leader (§4.2.2).
      r.BecomeFollower(r.term, NodeId(0));
      return r.conf_state;
    }
    if (r.lead_transferee.value() != 0 && !r.IsVoter(r.lead_transferee)) r.lead_transferee = NodeId(0);
    // The quorum changed: entries and reads may now be confirmed, and a new
    // member needs the log.
    if (r.MaybeCommit()) r.OnCommitAdvanced();
    r.ReleaseConfirmedReads();
    r.pending_bcast = true;
  } else if (r.role != Role::kFollower && !r.IsVoter(r.id)) {
    r.BecomeFollower(r.term, NodeId(0));
  }
  return r.conf_state;
}

void Raft::ReadIndex(std::string context) {
  Impl& r = *impl_;
  if (r.role == Role::kLeader) {
    proto::Message m;
    m.set_type(proto::MSG_READ_INDEX);
    m.set_from(r.id.value());
    m.set_context(std::move(context));
    r.LeaderReadIndex(m);
    return;
  }
  if (r.leader.value() == 0) return;  // no leader known: the host times out
  proto::Message m;
  m.set_type(proto::MSG_READ_INDEX);
  m.set_to(r.leader.value());
  m.set_context(std::move(context));
  r.Send(std::move(m));
}

Status Raft::TransferLeadership(NodeId target) {
  Impl& r = *impl_;
  if (r.role == Role::kLeader) return r.StartTransfer(target);
  if (r.leader.value() == 0) {
    return Status::NotLeader(fmt::format("raft {}: no leader known", r.id), "");
  }
  if (!r.IsVoter(target)) {
    return Status::InvalidArgument(fmt::format("raft {}: node {} is not a voter", r.id, target));
  }
  proto::Message m;
  m.set_type(proto::MSG_TRANSFER_LEADER);
  m.set_to(r.leader.value());
  m.set_index(target.value());
  r.Send(std::move(m));
  return Status::OK();
}

void Raft::ReportUnreachable(NodeId node) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader || node == r.id) return;
  auto it = r.prs.find(node);
  if (it == r.prs.end()) return;
  // Appends in flight were probably lost.
  if (it->second.state == ProgressState::kReplicate) it->second.BecomeProbe();
}

void Raft::ReportSnapshot(NodeId node, bool ok) {
  Impl& r = *impl_;
  if (r.role != Role::kLeader || node == r.id) return;
  auto it = r.prs.find(node);
  if (it == r.prs.end()) return;
  Progress& pr = it->second;
  if (pr.state != ProgressState::kSnapshot) return;
  if (!ok) pr.pending_snapshot = LogIndex(0);
  pr.BecomeProbe();
  // Installed: wait for the follower's answer before appending. Failed:
  // wait a heartbeat before trying again.
  pr.probe_sent = true;
}

Status Raft::Compact(const proto::SnapshotMeta& meta, uint64_t keep) {
  Impl& r = *impl_;
  const LogIndex index(meta.index());
  if (index > r.log.applied()) {
    return Status::InvalidArgument(
        fmt::format("raft {}: snapshot {} beyond applied {}", r.id, index, r.log.applied()));
  }
  if (meta.index() <= r.snapshot.index()) return Status::OK();  // not newer
  std::optional<Term> t = r.log.TermAt(index);
  if (!t || *t != Term(meta.term())) {
    return Status::InvalidArgument(fmt::format("raft {}: snapshot {} has term {}, the log has {}", r.id, index,
                                               meta.term(), t ? t->value() : 0));
  }
  if (meta.conf_state().voters_size() == 0) {
    return Status::InvalidArgument(fmt::format("raft {}: snapshot {} has no voters", r.id, index));
  }
  r.snapshot = meta;
  const uint64_t through = meta.index() > keep ? meta.index() - keep : 0;
  if (through > r.log.prev_index().value() && LogIndex(through) <= r.log.stable()) {
    r.log.CompactTo(LogIndex(through));
  }
  return Status::OK();
}

bool Raft::HasReady() const {
  const Impl& r = *impl_;
  if (SoftState{r.leader, r.role} != r.prev_soft) return true;
  if (r.term.value() != r.prev_hard.term() || r.vote.value() != r.prev_hard.vote() ||
      r.log.committed().value() != r.prev_hard.commit()) {
    return true;
  }
  if (r.log.HasUnstable() || r.unstable_snapshot || !r.msgs.empty() || r.log.HasNextCommitted() ||
      !r.read_states.empty()) {
    return true;
  }
  return r.role == Role::kLeader && (r.pending_bcast || r.read_only.NeedsRound());
}

Ready Raft::GetReady() {
  Impl& r = *impl_;
  r.Flush();
  Ready rd;
  SoftState soft{r.leader, r.role};
  if (soft != r.prev_soft) {
    rd.soft_state = soft;
    r.prev_soft = soft;
  }
  proto::HardState hs;
  hs.set_term(r.term.value());
  hs.set_vote(r.vote.value());
  hs.set_commit(r.log.committed().value());
  if (!SameHardState(hs, r.prev_hard)) {
    rd.hard_state = hs;
    r.prev_hard = hs;
  }
  if (r.unstable_snapshot) {
    rd.snapshot = std::move(*r.unstable_snapshot);
    r.unstable_snapshot.reset();
    r.snapshot_in_flight = LogIndex(rd.snapshot->index());
  }
  r.log.TakeUnstable(&rd.entries);
  rd.messages = std::move(r.msgs);
  r.msgs.clear();
  r.log.TakeCommitted(r.cfg.max_committed_bytes_per_ready, &rd.committed_entries);
  for (const proto::Entry& e : rd.committed_entries) {
    if (e.type() == proto::ENTRY_CONF_CHANGE) r.conf_changes_handed_out.push_back(LogIndex(e.index()));
  }
  rd.read_states = std::move(r.read_states);
  r.read_states.clear();
  return rd;
}

void Raft::Advance(const Ready& ready) {
  Impl& r = *impl_;
  if (ready.snapshot) {
    const LogIndex index(ready.snapshot->index());
    if (index <= r.log.applying()) r.log.AppliedTo(index);
    if (r.snapshot_in_flight == index) r.snapshot_in_flight = LogIndex(0);
  }
  if (!ready.entries.empty()) {
    const proto::Entry& last = ready.entries.back();
    r.log.StableTo(LogIndex(last.index()), Term(last.term()));
  }
  if (!ready.committed_entries.empty()) r.log.AppliedTo(LogIndex(ready.committed_entries.back().index()));
}

NodeId Raft::id() const { return impl_->id; }
NodeId Raft::leader() const { return impl_->leader; }
Term Raft::term() const { return impl_->term; }
Role Raft::role() const { return impl_->role; }
LogIndex Raft::committed() const { return impl_->log.committed(); }
std::optional<int64_t> Raft::LeaseEnd() const { return impl_->LeaseEnd(); }
LogIndex Raft::applied() const { return impl_->log.applied(); }
LogIndex Raft::last_index() const { return impl_->log.last_index(); }
LogIndex Raft::first_index() const { return impl_->log.first_index(); }
const proto::ConfState& Raft::conf_state() const { return impl_->conf_state; }
const proto::SnapshotMeta& Raft::snapshot() const { return impl_->snapshot; }

std::vector<std::pair<NodeId, const Progress*>> Raft::progress() const {
  std::vector<std::pair<NodeId, const Progress*>> out;
  if (impl_->role != Role::kLeader) return out;
  out.reserve(impl_->prs.size());
  for (const auto& [n, pr] : impl_->prs) out.emplace_back(n, &pr);
  return out;
}

}  // namespace cfs::raft
