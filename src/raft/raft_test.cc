// Scenario tests of the Raft core, named by the dissertation's rules (Ongaro
// 2014, cited as §N.N), in the manner of etcd-raft's raft_paper_test.go.
//
// The harness (Cluster) runs several cores in one thread: it persists each
// Ready to an in-memory disk, queues its messages, applies committed entries
// to a tiny state machine (the list of applied entry data), and Advances.
// Tests cut links, drop or rewrite messages, crash and restart nodes, and
// step hand-made messages into single cores.
#include "raft/raft.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <set>

#include "common/coding.h"
#include "raft/progress.h"

namespace cfs::raft {
namespace {

constexpr int kElection = 10;

proto::Entry E(uint64_t index, uint64_t term, std::string data = "") {
  proto::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

proto::Message Msg(proto::MessageType type, uint64_t from, uint64_t to, uint64_t term) {
  proto::Message m;
  m.set_type(type);
  m.set_from(from);
  m.set_to(to);
  m.set_term(term);
  return m;
}

proto::ConfState Voters(std::initializer_list<uint64_t> ids) {
  proto::ConfState cs;
  for (uint64_t id : ids) cs.add_voters(id);
  return cs;
}

proto::ConfChange Change(proto::ConfChangeType type, uint64_t node) {
  proto::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(node);
  return cc;
}

// One node: its core, its disk and its state machine.
struct Node {
  std::unique_ptr<Raft> raft;
  Config config;
  bool up = true;
  bool founder = true;  // restarts with the founding membership
  // Disk.
  proto::HardState hard_state;
  proto::SnapshotMeta snapshot;
  std::vector<proto::Entry> log;  // after snapshot.index
  std::vector<std::string> snapshot_data;
  // State machine: data of applied entries, index i at [i - 1].
  std::vector<std::string> applied;
  std::vector<ReadState> reads;
  // Snapshot bytes received from a leader, waiting for Ready.snapshot.
  std::vector<std::string> incoming_snapshot;

  InitialState Initial(const proto::ConfState& founding) const {
    InitialState s;
    s.hard_state = hard_state;
    s.snapshot = snapshot;
    s.entries = log;
    s.initial_conf = founding;
    s.applied = LogIndex(snapshot.index());
    return s;
  }
};

struct ClusterOptions {
  int voters = 3;
  // Initial log terms per node (entries 1..n); the hard state's term is the
  // last entry's.
  std::map<uint64_t, std::vector<uint64_t>> logs;
  std::function<void(Config&)> tweak;
};

class Cluster {
 public:
  explicit Cluster(ClusterOptions opts = {}) : opts_(std::move(opts)) {
    for (int i = 1; i <= opts_.voters; ++i) founding_.add_voters(static_cast<uint64_t>(i));
    for (int i = 1; i <= opts_.voters; ++i) {
      Node& n = nodes_[static_cast<uint64_t>(i)];
      n.config = MakeConfig(static_cast<uint64_t>(i));
      auto it = opts_.logs.find(static_cast<uint64_t>(i));
      if (it != opts_.logs.end()) {
        for (size_t k = 0; k < it->second.size(); ++k) n.log.push_back(E(k + 1, it->second[k]));
        if (!it->second.empty()) n.hard_state.set_term(it->second.back());
      }
      Open(static_cast<uint64_t>(i), founding_);
    }
  }

  Config MakeConfig(uint64_t id) const {
    Config c;
    c.id = NodeId(id);
    c.election_ticks = kElection;
    c.heartbeat_ticks = 1;
    c.rng_seed = 42;
    if (opts_.tweak) opts_.tweak(c);
    return c;
  }

  void Open(uint64_t id, const proto::ConfState& founding) {
    Node& n = nodes_[id];
    Result<std::unique_ptr<Raft>> r = Raft::Open(n.config, n.Initial(founding));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    n.raft = std::move(*r);
    n.applied = n.snapshot_data;
    n.up = true;
  }

  // A node that joins later: empty log and no membership until the leader
  // tells it.
  void AddEmptyNode(uint64_t id) {
    Node& n = nodes_[id];
    n.config = MakeConfig(id);
    n.founder = false;
    Open(id, proto::ConfState());
  }

  Raft& operator[](uint64_t id) { return *nodes_.at(id).raft; }
  Node& node(uint64_t id) { return nodes_.at(id); }
  std::vector<uint64_t> ids() const {
    std::vector<uint64_t> out;
    for (const auto& [id, n] : nodes_) out.push_back(id);
    return out;
  }

  // Handles one Ready of `id` like a host: persist, send, apply, Advance.
  // Returns its messages (also queued unless `queue` is false).
  std::vector<proto::Message> HandleReady(uint64_t id, bool queue = true) {
    Node& n = nodes_.at(id);
    Ready rd = n.raft->GetReady();
    if (rd.snapshot) {
      EXPECT_EQ(n.incoming_snapshot.size(), rd.snapshot->index()) << "node " << id;
      n.snapshot = *rd.snapshot;
      n.snapshot_data = n.incoming_snapshot;
      n.log.clear();
      n.applied = n.snapshot_data;
    }
    if (rd.hard_state) n.hard_state = *rd.hard_state;
    if (!rd.entries.empty()) {
      const uint64_t first = rd.entries.front().index();
      while (!n.log.empty() && n.log.back().index() >= first) n.log.pop_back();
      EXPECT_TRUE(n.log.empty() ? first == n.snapshot.index() + 1 : n.log.back().index() + 1 == first)
          << "node " << id << " persists a gap before " << first;
      for (const proto::Entry& e : rd.entries) n.log.push_back(e);
    }
    for (const proto::Entry& e : rd.committed_entries) {
      if (e.index() <= n.applied.size()) continue;  // covered by a snapshot
      EXPECT_EQ(e.index(), n.applied.size() + 1) << "node " << id << " applies out of order";
      n.applied.push_back(e.data());
      if (e.type() == proto::ENTRY_CONF_CHANGE) {
        proto::ConfChange cc;
        EXPECT_TRUE(cc.ParseFromString(e.data()));
        n.raft->ApplyConfChange(cc);
        n.applied.back() = "conf:" + std::to_string(cc.type()) + ":" + std::to_string(cc.node_id());
      }
    }
    for (const ReadState& rs : rd.read_states) n.reads.push_back(rs);
    if (rd.soft_state) soft_changes_[id].push_back(*rd.soft_state);
    n.raft->Advance(rd);
    if (queue) {
      for (const proto::Message& m : rd.messages) queue_.push_back(m);
    }
    return rd.messages;
  }

  // Delivers one message, through the link filters. Like a host, reports
  // the outcome of every snapshot sent.
  void Deliver(proto::Message m) {
    ++sent_[m.type()];
    const uint64_t from = m.from();
    const uint64_t to = m.to();
    const bool snapshot = m.type() == proto::MSG_SNAPSHOT;
    const bool delivered = DeliverFiltered(std::move(m));
    auto sender = nodes_.find(from);
    if (snapshot && report_snapshots && sender != nodes_.end() && sender->second.up) {
      sender->second.raft->ReportSnapshot(NodeId(to), delivered);
    }
  }

  bool DeliverFiltered(proto::Message m) {
    const uint64_t from = m.from();
    const uint64_t to = m.to();
    auto it = nodes_.find(to);
    if (it == nodes_.end() || !it->second.up) return false;
    if (cut_.count({from, to}) > 0) return false;
    if (intercept && !intercept(m)) return false;
    if (m.type() == proto::MSG_SNAPSHOT) {
      const Node& sender = nodes_.at(from);
      EXPECT_EQ(sender.snapshot.index(), m.snapshot().index());
      it->second.incoming_snapshot = sender.snapshot_data;
    }
    ++delivered_[m.type()];
    Status s = it->second.raft->Step(m);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return true;
  }

  // Runs Readies and delivers messages until nothing is left to do.
  void Stabilize(int max_rounds = 10000) {
    for (int round = 0; round < max_rounds; ++round) {
      bool any = false;
      for (auto& [id, n] : nodes_) {
        if (n.up && n.raft->HasReady()) {
          HandleReady(id);
          any = true;
        }
      }
      std::deque<proto::Message> q;
      q.swap(queue_);
      for (proto::Message& m : q) {
        Deliver(std::move(m));
        any = true;
      }
      if (!any) return;
    }
    ADD_FAILURE() << "cluster did not stabilize";
  }

  void Tick(uint64_t id, int n = 1) {
    for (int i = 0; i < n; ++i) nodes_.at(id).raft->Tick();
  }
  // Ticks every live node once and stabilizes, `n` times.
  void TickAll(int n = 1) {
    for (int i = 0; i < n; ++i) {
      for (auto& [id, node] : nodes_) {
        if (node.up) node.raft->Tick();
      }
      Stabilize();
    }
  }

  // Ticks `id` until it starts a (pre-)campaign, then stabilizes.
  void Campaign(uint64_t id) {
    Raft& r = *nodes_.at(id).raft;
    for (int i = 0; i < 2 * kElection && r.role() != Role::kPreCandidate && r.role() != Role::kCandidate &&
                    r.role() != Role::kLeader;
         ++i) {
      r.Tick();
    }
    Stabilize();
  }

  void Elect(uint64_t id) {
    Campaign(id);
    ASSERT_EQ(nodes_.at(id).raft->role(), Role::kLeader) << "node " << id << " was not elected";
  }

  Raft::Proposed Propose(uint64_t id, std::string data) {
    Result<Raft::Proposed> r = nodes_.at(id).raft->Propose(std::move(data));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : Raft::Proposed{};
  }

  void Cut(uint64_t from, uint64_t to) { cut_.insert({from, to}); }
  void Isolate(uint64_t id) {
    for (const auto& [other, n] : nodes_) {
      if (other == id) continue;
      cut_.insert({id, other});
      cut_.insert({other, id});
    }
  }
  void Heal() { cut_.clear(); }

  void Crash(uint64_t id) {
    Node& n = nodes_.at(id);
    n.up = false;
    n.raft.reset();
  }
  void Restart(uint64_t id) { Open(id, nodes_.at(id).founder ? founding_ : proto::ConfState()); }

  // A snapshot of `id`'s state machine through its applied index, compacting
  // the core's log (keeping `keep` entries) and the disk.
  void Compact(uint64_t id, uint64_t keep = 0) {
    Node& n = nodes_.at(id);
    const uint64_t index = n.raft->applied().value();
    proto::SnapshotMeta meta;
    meta.set_index(index);
    uint64_t term = n.snapshot.index() == index ? n.snapshot.term() : 0;
    for (const proto::Entry& e : n.log) {
      if (e.index() == index) term = e.term();
    }
    meta.set_term(term);
    *meta.mutable_conf_state() = n.raft->conf_state();
    Status s = n.raft->Compact(meta, keep);
    ASSERT_TRUE(s.ok()) << s.ToString();
    n.snapshot = meta;
    n.snapshot_data.assign(n.applied.begin(), n.applied.begin() + static_cast<std::ptrdiff_t>(index));
    std::erase_if(n.log, [&](const proto::Entry& e) { return e.index() <= index; });
  }

  uint64_t sent(proto::MessageType t) const { return sent_.count(t) ? sent_.at(t) : 0; }
  uint64_t delivered(proto::MessageType t) const { return delivered_.count(t) ? delivered_.at(t) : 0; }
  void ResetCounts() {
    sent_.clear();
    delivered_.clear();
  }
  const std::vector<SoftState>& soft_changes(uint64_t id) { return soft_changes_[id]; }
  std::deque<proto::Message>& queue() { return queue_; }

  // A rewrite or drop of delivered messages (false: drop).
  std::function<bool(proto::Message&)> intercept;
  // Whether the harness reports each snapshot's outcome, as a host must.
  bool report_snapshots = true;

 private:
  ClusterOptions opts_;
  proto::ConfState founding_;
  std::map<uint64_t, Node> nodes_;
  std::deque<proto::Message> queue_;
  std::set<std::pair<uint64_t, uint64_t>> cut_;
  std::map<int, uint64_t> sent_;
  std::map<int, uint64_t> delivered_;
  std::map<uint64_t, std::vector<SoftState>> soft_changes_;
};

ClusterOptions NoPreVote(int voters = 3) {
  ClusterOptions o;
  o.voters = voters;
  o.tweak = [](Config& c) { c.pre_vote = false; };
  return o;
}

ClusterOptions WithVoters(int voters) {
  ClusterOptions o;
  o.voters = voters;
  return o;
}

// A single core opened from a hand-made state, for tests that step crafted
// messages into it.
std::unique_ptr<Raft> OpenCore(uint64_t id, std::vector<uint64_t> log_terms, uint64_t term,
                               proto::ConfState conf = Voters({1, 2, 3}), uint64_t commit = 0,
                               std::function<void(Config&)> tweak = {}) {
  Config c;
  c.id = NodeId(id);
  c.election_ticks = kElection;
  c.rng_seed = 7;
  if (tweak) tweak(c);
  InitialState s;
  for (size_t k = 0; k < log_terms.size(); ++k) s.entries.push_back(E(k + 1, log_terms[k]));
  s.hard_state.set_term(term);
  s.hard_state.set_commit(commit);
  s.initial_conf = std::move(conf);
  Result<std::unique_ptr<Raft>> r = Raft::Open(c, std::move(s));
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(*r);
}

// Takes a core's Ready and Advances it, returning it.
Ready Drain(Raft& r) {
  Ready rd = r.GetReady();
  r.Advance(rd);
  return rd;
}

std::vector<proto::Message> DrainMessages(Raft& r) { return Drain(r).messages; }

const proto::Message* FindMessage(const std::vector<proto::Message>& msgs, proto::MessageType type,
                                  uint64_t to = 0) {
  for (const proto::Message& m : msgs) {
    if (m.type() == type && (to == 0 || m.to() == to)) return &m;
  }
  return nullptr;
}
// The answer points into `msgs`: a temporary would leave it dangling.
const proto::Message* FindMessage(std::vector<proto::Message>&&, proto::MessageType, uint64_t = 0) = delete;

proto::Message Append(uint64_t from, uint64_t to, uint64_t term, uint64_t prev_index, uint64_t prev_term,
                      std::vector<std::pair<uint64_t, uint64_t>> entries, uint64_t commit = 0) {
  proto::Message m = Msg(proto::MSG_APPEND, from, to, term);
  m.set_index(prev_index);
  m.set_log_term(prev_term);
  m.set_commit(commit);
  for (auto [i, t] : entries) *m.add_entries() = E(i, t);
  return m;
}

proto::Message VoteRequest(uint64_t from, uint64_t to, uint64_t term, uint64_t last_index, uint64_t last_term,
                           bool pre = false) {
  proto::Message m = Msg(pre ? proto::MSG_PRE_VOTE : proto::MSG_VOTE, from, to, term);
  m.set_index(last_index);
  m.set_log_term(last_term);
  return m;
}

// ============================================================================
// Leader election (§3.4, §3.6.1, §3.3)
// ============================================================================

TEST(RaftElectionTest, FollowerCampaignsOnlyAfterRandomizedTimeoutInElectionToTwiceElection) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    auto r = OpenCore(1, {}, 0, Voters({1, 2, 3}), 0, [seed](Config& c) {
      c.rng_seed = seed;
      c.pre_vote = false;
    });
    int ticks = 0;
    while (r->role() == Role::kFollower && ticks < 100) {
      r->Tick();
      ++ticks;
    }
    EXPECT_EQ(r->role(), Role::kCandidate);
    EXPECT_GE(ticks, kElection) << "seed " << seed;
    EXPECT_LT(ticks, 2 * kElection) << "seed " << seed;
  }
}

int TicksToCampaign(uint64_t id, uint64_t seed) {
  auto r = OpenCore(id, {}, 0, Voters({1, 2, 3, 4, 5}), 0, [seed](Config& c) { c.rng_seed = seed; });
  int ticks = 0;
  while (r->role() == Role::kFollower && ticks < 100) {
    r->Tick();
    ++ticks;
  }
  return ticks;
}

TEST(RaftElectionTest, ElectionTimeoutsAreDeterministicPerSeedAndDifferAcrossNodes) {
  std::set<int> distinct;
  for (uint64_t id = 1; id <= 5; ++id) {
    EXPECT_EQ(TicksToCampaign(id, 99), TicksToCampaign(id, 99));
    distinct.insert(TicksToCampaign(id, 99));
  }
  EXPECT_GT(distinct.size(), 1u) << "all nodes drew the same timeout: split votes forever";
}

TEST(RaftElectionTest, CandidateWithVotesFromMajorityBecomesLeader) {
  Cluster c(NoPreVote(5));
  c.Elect(1);
  EXPECT_EQ(c[1].term(), Term(1));
  for (uint64_t id = 2; id <= 5; ++id) {
    EXPECT_EQ(c[id].role(), Role::kFollower);
    EXPECT_EQ(c[id].leader(), NodeId(1));
    EXPECT_EQ(c[id].term(), Term(1));
  }
}

TEST(RaftElectionTest, CandidateRejectedByMajorityReturnsToFollower) {
  ClusterOptions o = NoPreVote(3);
  o.logs = {{1, {}}, {2, {1, 1}}, {3, {1, 1}}};
  Cluster c(o);
  c.Campaign(1);  // in term 1, which 2 and 3 are in already
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c[1].term(), Term(1));
  EXPECT_EQ(c[1].leader(), NodeId(0));
}

TEST(RaftElectionTest, CandidateVotesForItselfAndPersistsItBeforeAsking) {
  auto r = OpenCore(1, {}, 0, Voters({1, 2, 3}), 0, [](Config& c) { c.pre_vote = false; });
  while (r->role() != Role::kCandidate) r->Tick();
  Ready rd = Drain(*r);
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->term(), 1u);
  EXPECT_EQ(rd.hard_state->vote(), 1u);
  EXPECT_NE(FindMessage(rd.messages, proto::MSG_VOTE, 2), nullptr);
  EXPECT_NE(FindMessage(rd.messages, proto::MSG_VOTE, 3), nullptr);
}

// §3.4: each server votes for at most one candidate in a term, first come
// first served; the vote is in the hard state of the Ready carrying the answer.
TEST(RaftElectionTest, VoterGrantsAtMostOneVotePerTerm) {
  auto r = OpenCore(3, {}, 1);
  ASSERT_TRUE(r->Step(VoteRequest(1, 3, 2, 0, 0)).ok());
  Ready rd = Drain(*r);
  const proto::Message* resp = FindMessage(rd.messages, proto::MSG_VOTE_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_FALSE(resp->reject());
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->term(), 2u);
  EXPECT_EQ(rd.hard_state->vote(), 1u);

  ASSERT_TRUE(r->Step(VoteRequest(2, 3, 2, 0, 0)).ok());
  std::vector<proto::Message> msgs = DrainMessages(*r);
  resp = FindMessage(msgs, proto::MSG_VOTE_RESP, 2);
  ASSERT_NE(resp, nullptr);
  EXPECT_TRUE(resp->reject());

  // The same candidate asking again (a lost answer) gets the vote again.
  ASSERT_TRUE(r->Step(VoteRequest(1, 3, 2, 0, 0)).ok());
  msgs = DrainMessages(*r);
  resp = FindMessage(msgs, proto::MSG_VOTE_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_FALSE(resp->reject());
}

TEST(RaftElectionTest, VoteSurvivesRestartSoNoSecondVoteInTheSameTerm) {
  Cluster c(NoPreVote(3));
  ASSERT_TRUE(c[3].Step(VoteRequest(1, 3, 5, 0, 0)).ok());
  c.HandleReady(3, /*queue=*/false);
  EXPECT_EQ(c.node(3).hard_state.vote(), 1u);
  c.Crash(3);
  c.Restart(3);
  EXPECT_EQ(c[3].term(), Term(5));
  ASSERT_TRUE(c[3].Step(VoteRequest(2, 3, 5, 0, 0)).ok());
  const std::vector<proto::Message> msgs = c.HandleReady(3, false);
  const proto::Message* resp = FindMessage(msgs, proto::MSG_VOTE_RESP, 2);
  ASSERT_NE(resp, nullptr);
  EXPECT_TRUE(resp->reject());
}

// §3.6.1: a vote only for a candidate whose log is at least as up-to-date:
// compare last terms, then lengths.
TEST(RaftElectionTest, VoterGrantsOnlyCandidatesWithLogAtLeastAsUpToDate) {
  struct Case {
    uint64_t last_index;
    uint64_t last_term;
    bool granted;
  };
  // The voter's log: terms 1, 2, 2 (last index 3, last term 2).
  const Case cases[] = {
      {3, 2, true},   // identical
      {4, 2, true},   // same term, longer
      {2, 2, false},  // same term, shorter
      {1, 3, true},   // later term, shorter
      {9, 1, false},  // earlier term, longer
      {0, 0, false},  // empty
  };
  for (const Case& k : cases) {
    auto r = OpenCore(2, {1, 2, 2}, 2);
    ASSERT_TRUE(r->Step(VoteRequest(1, 2, 3, k.last_index, k.last_term)).ok());
    const std::vector<proto::Message> msgs = DrainMessages(*r);
    const proto::Message* resp = FindMessage(msgs, proto::MSG_VOTE_RESP, 1);
    ASSERT_NE(resp, nullptr);
    EXPECT_EQ(!resp->reject(), k.granted) << "candidate last (" << k.last_index << ", " << k.last_term << ")";
  }
}

// §3.3: a server that sees a higher term adopts it and becomes follower.
TEST(RaftElectionTest, LeaderStepsDownOnMessageWithHigherTerm) {
  Cluster c(NoPreVote(3));
  c.Elect(1);
  proto::Message m = Msg(proto::MSG_APPEND_RESP, 2, 1, 7);
  ASSERT_TRUE(c[1].Step(m).ok());
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c[1].term(), Term(7));
  EXPECT_EQ(c[1].leader(), NodeId(0));
  Ready rd = c[1].GetReady();
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->vote(), 0u);  // no vote yet in the new term
}

TEST(RaftElectionTest, CandidateReturnsToFollowerWhenLeaderOfItsTermAppears) {
  auto r = OpenCore(1, {}, 0, Voters({1, 2, 3}), 0, [](Config& c) { c.pre_vote = false; });
  while (r->role() != Role::kCandidate) r->Tick();
  ASSERT_TRUE(r->Step(Append(2, 1, 1, 0, 0, {{1, 1}})).ok());
  EXPECT_EQ(r->role(), Role::kFollower);
  EXPECT_EQ(r->leader(), NodeId(2));
  EXPECT_EQ(r->last_index(), LogIndex(1));
}

// §3.3: requests with a stale term are rejected and change nothing.
TEST(RaftElectionTest, MessageWithStaleTermChangesNothing) {
  auto r = OpenCore(2, {1, 1}, 3);
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 2, 2, 1, {{3, 2}}, 3)).ok());
  EXPECT_EQ(r->last_index(), LogIndex(2));
  EXPECT_EQ(r->committed(), LogIndex(0));
  EXPECT_EQ(r->term(), Term(3));
  EXPECT_EQ(r->leader(), NodeId(0));
  Ready rd = Drain(*r);
  EXPECT_FALSE(rd.hard_state);
  // It tells the stale leader the newer term so that one steps down.
  ASSERT_EQ(rd.messages.size(), 1u);
  EXPECT_EQ(rd.messages[0].type(), proto::MSG_APPEND_RESP);
  EXPECT_EQ(rd.messages[0].term(), 3u);
}

TEST(RaftElectionTest, CandidateWithoutMajorityStartsNewElectionInNextTerm) {
  Cluster c(NoPreVote(3));
  c.Isolate(1);
  c.Campaign(1);
  EXPECT_EQ(c[1].role(), Role::kCandidate);
  EXPECT_EQ(c[1].term(), Term(1));
  c.Tick(1, 2 * kElection);
  EXPECT_EQ(c[1].role(), Role::kCandidate);
  EXPECT_GE(c[1].term(), Term(2));
}

// §6.4 / §3.6.2: a new leader appends an empty entry of its own term, and
// committing it commits everything before.
TEST(RaftElectionTest, NewLeaderAppendsAndCommitsEmptyEntryOfItsTerm) {
  ClusterOptions o = WithVoters(3);
  o.logs = {{1, {1, 1}}, {2, {1, 1}}, {3, {1}}};
  Cluster c(o);
  c.Elect(1);
  EXPECT_EQ(c[1].last_index(), LogIndex(3));
  EXPECT_EQ(c[1].committed(), LogIndex(3));
  const proto::Entry& noop = c.node(1).log.back();
  EXPECT_EQ(noop.index(), 3u);
  EXPECT_EQ(noop.term(), c[1].term().value());
  EXPECT_TRUE(noop.data().empty());
  for (uint64_t id : {2, 3}) EXPECT_EQ(c.node(id).applied.size(), 3u);
}

TEST(RaftElectionTest, SingleVoterElectsItselfAndCommitsAlone) {
  Cluster c(WithVoters(1));
  c.Elect(1);
  Raft::Proposed p = c.Propose(1, "x");
  c.Stabilize();
  EXPECT_EQ(c[1].committed(), p.index);
  EXPECT_EQ(c.node(1).applied.back(), "x");
}

TEST(RaftElectionTest, RandomizedTimeoutsElectExactlyOneLeader) {
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    ClusterOptions o = WithVoters(5);
    o.tweak = [seed](Config& c) { c.rng_seed = seed; };
    Cluster c(o);
    c.TickAll(3 * kElection);
    std::map<uint64_t, int> leaders_by_term;
    for (uint64_t id : c.ids()) {
      if (c[id].role() == Role::kLeader) leaders_by_term[c[id].term().value()]++;
    }
    ASSERT_EQ(leaders_by_term.size(), 1u) << "seed " << seed;
    EXPECT_EQ(leaders_by_term.begin()->second, 1);
  }
}

// ============================================================================
// PreVote (§9.6) and disruptive servers (§4.2.3)
// ============================================================================

TEST(RaftPreVoteTest, PreCandidateDoesNotIncrementItsTerm) {
  Cluster c(WithVoters(3));
  c.Isolate(1);
  for (int i = 0; i < 5; ++i) c.Campaign(1);
  EXPECT_EQ(c[1].role(), Role::kPreCandidate);
  EXPECT_EQ(c[1].term(), Term(0));
  EXPECT_EQ(c.node(1).hard_state.term(), 0u);
}

TEST(RaftPreVoteTest, GrantingPreVoteLeavesVoterTermAndVoteUnchanged) {
  auto r = OpenCore(2, {1}, 1);
  Drain(*r);
  ASSERT_TRUE(r->Step(VoteRequest(1, 2, 2, 1, 1, /*pre=*/true)).ok());
  Ready rd = Drain(*r);
  const proto::Message* resp = FindMessage(rd.messages, proto::MSG_PRE_VOTE_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_FALSE(resp->reject());
  EXPECT_EQ(resp->term(), 2u);  // the term the pre-candidate will campaign in
  EXPECT_FALSE(rd.hard_state);
  EXPECT_EQ(r->term(), Term(1));
}

TEST(RaftPreVoteTest, PreCandidateWithMajorityCampaignsForReal) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  EXPECT_EQ(c[1].term(), Term(1));
  EXPECT_GT(c.delivered(proto::MSG_PRE_VOTE), 0u);
  EXPECT_GT(c.delivered(proto::MSG_VOTE), 0u);
}

TEST(RaftPreVoteTest, PartitionedNodeRejoiningDoesNotDisruptLeader) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 10; ++i) c.TickAll(kElection);
  EXPECT_EQ(c[3].term(), Term(1)) << "pre-vote kept the partitioned node's term";
  c.Heal();
  c.TickAll(3 * kElection);
  EXPECT_EQ(c[1].role(), Role::kLeader);
  EXPECT_EQ(c[1].term(), Term(1));
  EXPECT_EQ(c[3].leader(), NodeId(1));
}

// §4.2.3: a server that heard from a leader within the election timeout
// neither grants a vote nor adopts the candidate's term; later it does.
TEST(RaftPreVoteTest, FollowerHearingFromLeaderIgnoresVoteRequests) {
  Cluster c(NoPreVote(3));
  c.Elect(1);
  ASSERT_TRUE(c[2].Step(VoteRequest(3, 2, 5, 100, 1)).ok());
  EXPECT_EQ(c[2].term(), Term(1));
  const std::vector<proto::Message> msgs = c.HandleReady(2, false);
  EXPECT_EQ(FindMessage(msgs, proto::MSG_VOTE_RESP), nullptr);

  c.Isolate(2);
  c.TickAll(kElection);  // node 2 hears nothing for an election timeout
  ASSERT_TRUE(c[2].Step(VoteRequest(3, 2, 5, 100, 1)).ok());
  EXPECT_EQ(c[2].term(), Term(5));
  const std::vector<proto::Message> later = c.HandleReady(2, false);
  const proto::Message* resp = FindMessage(later, proto::MSG_VOTE_RESP, 3);
  ASSERT_NE(resp, nullptr);
  EXPECT_FALSE(resp->reject());
}

TEST(RaftPreVoteTest, FollowerHearingFromLeaderIgnoresPreVotes) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  ASSERT_TRUE(c[2].Step(VoteRequest(3, 2, 2, 100, 1, /*pre=*/true)).ok());
  const std::vector<proto::Message> msgs = c.HandleReady(2, false);
  EXPECT_EQ(FindMessage(msgs, proto::MSG_PRE_VOTE_RESP), nullptr);
}

// A pre-candidate whose term is behind learns the newer term from the
// rejection instead of trying forever.
TEST(RaftPreVoteTest, PreVoteFromBehindIsRejectedWithVoterTerm) {
  auto r = OpenCore(2, {1}, 5);
  Drain(*r);
  ASSERT_TRUE(r->Step(VoteRequest(1, 2, 3, 1, 1, /*pre=*/true)).ok());
  const std::vector<proto::Message> msgs = DrainMessages(*r);
  const proto::Message* resp = FindMessage(msgs, proto::MSG_PRE_VOTE_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_TRUE(resp->reject());
  EXPECT_EQ(resp->term(), 5u);
}

TEST(RaftPreVoteTest, PreCandidateRejectedByHigherTermBecomesFollowerInThatTerm) {
  Cluster c(WithVoters(3));
  c.Isolate(1);
  c.Campaign(1);
  ASSERT_EQ(c[1].role(), Role::kPreCandidate);
  proto::Message reject = Msg(proto::MSG_PRE_VOTE_RESP, 2, 1, 4);
  reject.set_reject(true);
  ASSERT_TRUE(c[1].Step(reject).ok());
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c[1].term(), Term(4));
}

// A leader cut off while the others moved on learns the newer term from the
// answers to its heartbeats and steps down (§3.3).
TEST(RaftElectionTest, StaleLeaderLearnsNewerTermFromFollowersAndStepsDown) {
  ClusterOptions o = WithVoters(3);
  o.tweak = [](Config& c) { c.check_quorum = false; };
  Cluster c(o);
  c.Elect(1);
  c.Isolate(1);
  c.TickAll(4 * kElection);  // 2 and 3 elect a new leader
  ASSERT_EQ(c[1].role(), Role::kLeader);
  const Term newer = std::max(c[2].term(), c[3].term());
  ASSERT_GT(newer, c[1].term());
  c.Heal();
  c.TickAll(2);
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c[1].term(), newer);
}

TEST(RaftReplicationTest, LeaderAppendsProposalForwardedByFollower) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  proto::Message prop;
  prop.set_type(proto::MSG_PROPOSE);
  prop.set_from(2);
  prop.set_to(1);
  *prop.add_entries() = E(0, 0, "fwd");
  ASSERT_TRUE(c[1].Step(prop).ok());
  c.Stabilize();
  EXPECT_EQ(c.node(3).applied.back(), "fwd");
}

TEST(RaftReplicationTest, ReportUnreachableSendsReplicatingFollowerBackToProbe) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  auto state_of = [&](uint64_t id) {
    for (auto& [n, pr] : c[1].progress()) {
      if (n == NodeId(id)) return pr->state;
    }
    return ProgressState::kSnapshot;
  };
  ASSERT_EQ(state_of(2), ProgressState::kReplicate);
  c[1].ReportUnreachable(NodeId(2));
  EXPECT_EQ(state_of(2), ProgressState::kProbe);
  c.Propose(1, "x");  // the probe's answer shows where 2 is
  c.Stabilize();
  EXPECT_EQ(state_of(2), ProgressState::kReplicate);
}

// ============================================================================
// CheckQuorum (§6.2)
// ============================================================================

TEST(RaftCheckQuorumTest, LeaderThatHearsNoQuorumForElectionTimeoutStepsDown) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(1);
  c.Tick(1, 2 * kElection);
  c.Stabilize();
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c[1].leader(), NodeId(0));
  EXPECT_EQ(c[1].term(), Term(1));  // stepping down does not change the term
}

TEST(RaftCheckQuorumTest, LeaderHearingFromQuorumStaysLeader) {
  Cluster c(WithVoters(5));
  c.Elect(1);
  c.Isolate(4);
  c.Isolate(5);
  c.TickAll(5 * kElection);
  EXPECT_EQ(c[1].role(), Role::kLeader);
  EXPECT_EQ(c[1].term(), Term(1));
}

TEST(RaftCheckQuorumTest, WithoutCheckQuorumIsolatedLeaderKeepsLeading) {
  ClusterOptions o = WithVoters(3);
  o.tweak = [](Config& c) { c.check_quorum = false; };
  Cluster c(o);
  c.Elect(1);
  c.Isolate(1);
  c.Tick(1, 5 * kElection);
  EXPECT_EQ(c[1].role(), Role::kLeader);
}

// ============================================================================
// Log replication (§3.5)
// ============================================================================

TEST(RaftReplicationTest, LeaderCommitsEntryOnceMajorityStoresIt) {
  Cluster c(WithVoters(5));
  c.Elect(1);
  c.Cut(1, 4);
  c.Cut(1, 5);
  Raft::Proposed p = c.Propose(1, "a");
  c.Stabilize();
  EXPECT_EQ(c[1].committed(), p.index);
  for (uint64_t id : {1, 2, 3}) EXPECT_EQ(c.node(id).applied.back(), "a") << id;
  EXPECT_NE(c.node(4).applied.back(), "a");
}

TEST(RaftReplicationTest, LeaderWithoutMajorityDoesNotCommit) {
  Cluster c(WithVoters(5));
  c.Elect(1);
  const LogIndex before = c[1].committed();
  c.Cut(1, 3);
  c.Cut(1, 4);
  c.Cut(1, 5);
  c.Propose(1, "a");
  c.Stabilize();
  EXPECT_EQ(c[1].committed(), before);
}

// §3.5: the consistency check: a follower refuses entries whose previous
// entry it does not hold, and hints where its log ends.
TEST(RaftReplicationTest, FollowerRejectsAppendWhosePreviousEntryItLacks) {
  auto r = OpenCore(2, {1, 1}, 2);
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 2, 5, 2, {{6, 2}})).ok());
  Ready rd = Drain(*r);
  const proto::Message* resp = FindMessage(rd.messages, proto::MSG_APPEND_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_TRUE(resp->reject());
  EXPECT_EQ(resp->index(), 5u);
  EXPECT_EQ(resp->reject_hint(), 2u);
  EXPECT_TRUE(rd.entries.empty());
  EXPECT_EQ(r->last_index(), LogIndex(2));
}

TEST(RaftReplicationTest, FollowerRejectsAppendWhosePreviousTermDiffers) {
  auto r = OpenCore(2, {1, 1, 1}, 2);
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 3, 3, 2, {{4, 3}})).ok());
  const std::vector<proto::Message> msgs = DrainMessages(*r);
  const proto::Message* resp = FindMessage(msgs, proto::MSG_APPEND_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_TRUE(resp->reject());
  EXPECT_EQ(r->last_index(), LogIndex(3));
}

// §3.5: a conflicting entry and everything after it are deleted and the
// leader's entries appended.
TEST(RaftReplicationTest, FollowerDeletesConflictingSuffixAndTakesLeaderEntries) {
  auto r = OpenCore(2, {1, 1, 2, 2, 2}, 2);
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 3, 2, 1, {{3, 3}})).ok());
  Ready rd = Drain(*r);
  EXPECT_EQ(r->last_index(), LogIndex(3));
  ASSERT_EQ(rd.entries.size(), 1u);
  EXPECT_EQ(rd.entries[0].index(), 3u);
  EXPECT_EQ(rd.entries[0].term(), 3u);
  const proto::Message* resp = FindMessage(rd.messages, proto::MSG_APPEND_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_FALSE(resp->reject());
  EXPECT_EQ(resp->index(), 3u);
}

TEST(RaftReplicationTest, ReorderedShorterAppendDoesNotTruncateFollower) {
  auto r = OpenCore(2, {}, 1);
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 1, 0, 0, {{1, 1}, {2, 1}, {3, 1}})).ok());
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 1, 0, 0, {{1, 1}})).ok());  // an older, delayed copy
  Ready rd = Drain(*r);
  EXPECT_EQ(r->last_index(), LogIndex(3));
  EXPECT_TRUE(rd.entries.empty());
}

// A divergent follower with many entries of an old term is repaired in a
// few round trips, not one per entry (reject hint, etcd's fast backtracking).
TEST(RaftReplicationTest, LeaderSkipsDivergentFollowerEntriesByTerm) {
  ClusterOptions o = WithVoters(3);
  std::vector<uint64_t> old(50, 2);
  old.insert(old.begin(), 1);
  std::vector<uint64_t> leader_log = {1, 3, 3, 3};
  o.logs = {{1, leader_log}, {2, leader_log}, {3, old}};
  Cluster c(o);
  c.Elect(1);
  c.Stabilize();
  EXPECT_EQ(c[3].last_index(), c[1].last_index());
  EXPECT_EQ(c.node(3).log[1].term(), 3u);
  EXPECT_LE(c.delivered(proto::MSG_APPEND_RESP), 12u);
}

TEST(RaftReplicationTest, ReplicatingFollowerGetsAtMostMaxInflightAppends) {
  ClusterOptions o = WithVoters(3);
  o.tweak = [](Config& c) {
    c.max_inflight = 3;
    c.max_msg_bytes = 1;  // one entry per append
  };
  Cluster c(o);
  c.Elect(1);
  c.Cut(2, 1);  // acknowledgements from 2 are lost
  for (int i = 0; i < 10; ++i) {
    c.Propose(1, "x");
    c.Stabilize();
  }
  int to2 = 0;
  c.intercept = [&](proto::Message& m) {
    if (m.type() == proto::MSG_APPEND && m.to() == 2 && m.entries_size() > 0) ++to2;
    return true;
  };
  c.ResetCounts();
  for (int i = 0; i < 5; ++i) {
    c.Propose(1, "y");
    c.Stabilize();
  }
  EXPECT_EQ(to2, 0) << "the window to node 2 was already full";
  // A heartbeat answer frees one slot at a time.
  c.Heal();
  c.Cut(2, 1);
  const Progress* pr = nullptr;
  for (auto& [id, p] : c[1].progress()) {
    if (id == NodeId(2)) pr = p;
  }
  ASSERT_NE(pr, nullptr);
  EXPECT_EQ(pr->state, ProgressState::kReplicate);
  EXPECT_TRUE(pr->inflights.Full());
}

TEST(RaftReplicationTest, AppendCarriesNoMoreThanMaxMsgBytes) {
  ClusterOptions o = WithVoters(2);
  o.tweak = [](Config& c) { c.max_msg_bytes = 250; };
  Cluster c(o);
  c.Elect(1);
  c.Isolate(2);
  for (int i = 0; i < 10; ++i) c.Propose(1, std::string(100, 'x'));
  c.Stabilize();
  c.Heal();
  int appends = 0;
  c.intercept = [&](proto::Message& m) {
    if (m.type() == proto::MSG_APPEND && m.entries_size() > 0) {
      ++appends;
      uint64_t bytes = 0;
      for (const proto::Entry& e : m.entries()) bytes += e.ByteSizeLong();
      EXPECT_TRUE(m.entries_size() == 1 || bytes <= 250) << bytes;
    }
    return true;
  };
  c.TickAll(2);
  EXPECT_EQ(c[2].last_index(), c[1].last_index());
  EXPECT_GE(appends, 4);
}

TEST(RaftReplicationTest, ProbingFollowerGetsOneAppendPerHeartbeat) {
  ClusterOptions o = WithVoters(3);
  o.tweak = [](Config& c) { c.max_msg_bytes = 1; };
  Cluster c(o);
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) c.Propose(1, "x");
  c.Stabilize();
  c.Heal();
  // Node 1 does not know node 3 lost nothing: pretend it is unreachable.
  c[1].ReportUnreachable(NodeId(3));
  int appends = 0;
  c.intercept = [&](proto::Message& m) {
    if (m.type() == proto::MSG_APPEND && m.to() == 3) ++appends;
    return m.to() != 3 || m.type() != proto::MSG_APPEND;  // appends to 3 are lost
  };
  for (int i = 0; i < 5; ++i) c.Propose(1, "y");
  c.Stabilize();
  EXPECT_LE(appends, 1);
  c.TickAll(3);  // three heartbeat answers: one probe each
  EXPECT_GE(appends, 3);
  EXPECT_LE(appends, 4);
}

// Figure 3.1, AppendEntries rule 5: commitIndex = min(leaderCommit, index of
// last new entry).
TEST(RaftReplicationTest, FollowerCommitIsMinOfLeaderCommitAndLastNewEntry) {
  auto r = OpenCore(2, {}, 1);
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 1, 0, 0, {{1, 1}, {2, 1}}, /*commit=*/5)).ok());
  EXPECT_EQ(r->committed(), LogIndex(2));
  ASSERT_TRUE(r->Step(Append(1, 2, 1, 2, 1, {{3, 1}}, /*commit=*/2)).ok());
  EXPECT_EQ(r->committed(), LogIndex(2));
  Ready rd = Drain(*r);
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->commit(), 2u);
}

TEST(RaftReplicationTest, FollowerLearnsCommitFromHeartbeat) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  // Node 3 has the entry but missed the append that carried its commit.
  c.intercept = [](proto::Message& m) {
    if (m.type() == proto::MSG_APPEND && m.to() == 3 && m.entries_size() == 0) return false;
    return true;
  };
  Raft::Proposed p = c.Propose(1, "a");
  c.Stabilize();
  EXPECT_EQ(c[1].committed(), p.index);
  EXPECT_LT(c[3].committed(), p.index);
  c.intercept = nullptr;
  c.TickAll(1);
  EXPECT_EQ(c[3].committed(), p.index);
}

TEST(RaftReplicationTest, HeartbeatCommitIsCappedByWhatFollowerIsKnownToHold) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  c.Propose(1, "a");
  c.Stabilize();
  c.Heal();
  std::vector<proto::Message> msgs;
  c[1].Tick();
  for (const proto::Message& m : c.HandleReady(1, false)) {
    if (m.type() == proto::MSG_HEARTBEAT && m.to() == 3) {
      EXPECT_LE(m.commit(), c[3].last_index().value());
    }
  }
}

TEST(RaftReplicationTest, LaggingFollowerCatchesUpAfterPartitionHeals) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 20; ++i) c.Propose(1, "e" + std::to_string(i));
  c.Stabilize();
  c.Heal();
  c.TickAll(2);
  EXPECT_EQ(c.node(3).applied, c.node(1).applied);
}

// ============================================================================
// Commit rule (§3.6.2, Figure 3.7)
// ============================================================================

// Figure 3.7: S1 leads term 2 and replicates entry 2 (term 2) to S2 only; S5
// is elected in term 3 and writes its own entry 2; S1 is elected again in
// term 4 and copies its entry 2 to S3, so a majority stores it. Counting
// replicas must not commit it: S5 can still be elected and overwrite it.
TEST(RaftCommitTest, LeaderDoesNotCommitEntryOfEarlierTermByCountingReplicas) {
  ClusterOptions o = NoPreVote(5);
  o.logs = {{1, {1, 2}}, {2, {1, 2}}, {3, {1}}, {4, {1}}, {5, {1, 3}}};
  Cluster c(o);
  // Bring every node to term 3 (S1 and S2 knew term 2, S5 term 3).
  for (uint64_t id = 1; id <= 5; ++id) {
    if (c[id].term() < Term(3)) {
      ASSERT_TRUE(c[id].Step(Msg(proto::MSG_APPEND_RESP, id == 5 ? 4 : 5, id, 3)).ok());
    }
  }
  c.Stabilize();
  // (c): S1 is elected in term 4 with votes from S2, S3 and S4. Its no-op
  // (index 3) is lost; only entry 2 reaches S3.
  c.intercept = [](proto::Message& m) {
    if (m.type() == proto::MSG_APPEND && m.from() == 1) {
      while (m.entries_size() > 0 && m.entries(m.entries_size() - 1).term() == 4) m.mutable_entries()->RemoveLast();
      if (m.to() == 5 || m.to() == 4) return false;
    }
    return true;
  };
  c.Elect(1);
  EXPECT_EQ(c[1].term(), Term(4));
  ASSERT_EQ(c.node(3).log.size(), 2u);
  EXPECT_EQ(c.node(3).log[1].term(), 2u);
  // Entry 2 is on S1, S2 and S3, a majority of five: still not committed.
  for (uint64_t id = 1; id <= 5; ++id) EXPECT_LT(c[id].committed(), LogIndex(2)) << id;

  // (d): S1 crashes; S5 (last term 3) is elected by S2, S3, S4 and
  // replaces entry 2 everywhere. Had it been committed, this would lose it.
  // (They restart too, so none still defers to S1 as a current leader.)
  c.intercept = nullptr;
  c.Crash(1);
  for (uint64_t id : {2, 3, 4}) {
    c.Crash(id);
    c.Restart(id);
  }
  c.Elect(5);
  for (uint64_t id = 2; id <= 5; ++id) {
    ASSERT_GE(c.node(id).log.size(), 2u) << id;
    EXPECT_EQ(c.node(id).log[1].term(), 3u) << id;
  }
}

// Figure 3.7 (e): once an entry of the leader's term is stored on a
// majority, it and every earlier entry are committed.
TEST(RaftCommitTest, EarlierTermEntriesCommitWithFirstEntryOfLeaderTerm) {
  ClusterOptions o = NoPreVote(5);
  o.logs = {{1, {1, 2}}, {2, {1, 2}}, {3, {1}}, {4, {1}}, {5, {1, 3}}};
  Cluster c(o);
  for (uint64_t id = 1; id <= 5; ++id) {
    if (c[id].term() < Term(3)) {
      ASSERT_TRUE(c[id].Step(Msg(proto::MSG_APPEND_RESP, id == 5 ? 4 : 5, id, 3)).ok());
    }
  }
  c.Stabilize();
  c.Cut(1, 4);
  c.Cut(1, 5);
  c.Elect(1);
  EXPECT_EQ(c[1].committed(), LogIndex(3));  // the no-op of term 4, and entry 2 with it
  for (uint64_t id : {1, 2, 3}) {
    ASSERT_EQ(c.node(id).applied.size(), 3u);
    EXPECT_EQ(c.node(id).log[1].term(), 2u);
  }
}

// ============================================================================
// ReadIndex (§6.4) and lease reads (§6.4.1)
// ============================================================================

TEST(RaftReadIndexTest, LeaderAnswersOnlyAfterCommittingEntryOfItsTerm) {
  Cluster c(WithVoters(3));
  // Hold back every append answer so the no-op stays uncommitted.
  c.intercept = [](proto::Message& m) { return m.type() != proto::MSG_APPEND_RESP; };
  c.Elect(1);
  ASSERT_LT(c[1].committed(), c[1].last_index());
  c[1].ReadIndex("r1");
  c.Stabilize();
  c.TickAll(2);
  EXPECT_TRUE(c.node(1).reads.empty());
  c.intercept = nullptr;
  c.TickAll(2);
  ASSERT_EQ(c.node(1).reads.size(), 1u);
  EXPECT_EQ(c.node(1).reads[0].context, "r1");
  EXPECT_EQ(c.node(1).reads[0].index, c[1].committed());
}

TEST(RaftReadIndexTest, LeaderAnswersAfterHeartbeatQuorumWithCommitIndexAtRequest) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  const LogIndex commit = c[1].committed();
  c.ResetCounts();
  c[1].ReadIndex("r1");
  // The answer needs the heartbeat round: nothing before it.
  c.HandleReady(1);
  EXPECT_TRUE(c.node(1).reads.empty());
  c.Stabilize();
  EXPECT_GE(c.delivered(proto::MSG_HEARTBEAT), 2u);
  ASSERT_EQ(c.node(1).reads.size(), 1u);
  EXPECT_EQ(c.node(1).reads[0].index, commit);
}

TEST(RaftReadIndexTest, LeaderCutOffFromQuorumNeverAnswers) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(1);
  c[1].ReadIndex("r1");
  c.Stabilize();
  c.Tick(1, 3);
  c.Stabilize();
  EXPECT_TRUE(c.node(1).reads.empty());
}

TEST(RaftReadIndexTest, OneVoterOfAQuorumIsEnoughWithTheLeader) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Cut(1, 3);
  c[1].ReadIndex("r1");
  c.Stabilize();
  EXPECT_EQ(c.node(1).reads.size(), 1u);
}

TEST(RaftReadIndexTest, FollowerForwardsReadToLeaderAndGetsReadIndex) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Propose(1, "a");
  c.Stabilize();
  c[2].ReadIndex("f1");
  c.Stabilize();
  ASSERT_EQ(c.node(2).reads.size(), 1u);
  EXPECT_EQ(c.node(2).reads[0].context, "f1");
  EXPECT_EQ(c.node(2).reads[0].index, c[1].committed());
  EXPECT_GT(c.delivered(proto::MSG_READ_INDEX), 0u);
  EXPECT_GT(c.delivered(proto::MSG_READ_INDEX_RESP), 0u);
}

TEST(RaftReadIndexTest, ReadsWithEqualContextsFromDifferentNodesAreAllAnswered) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c[1].ReadIndex("same");
  c[2].ReadIndex("same");
  c[3].ReadIndex("same");
  c.Stabilize();
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_EQ(c.node(id).reads.size(), 1u) << id;
}

TEST(RaftReadIndexTest, FollowerWithoutLeaderDropsRead) {
  Cluster c(WithVoters(3));
  c[2].ReadIndex("r");
  EXPECT_TRUE(c.HandleReady(2, false).empty());
}

TEST(RaftReadIndexTest, SingleVoterAnswersAtOnce) {
  Cluster c(WithVoters(1));
  c.Elect(1);
  c[1].ReadIndex("r");
  Ready rd = c[1].GetReady();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(rd.read_states[0].index, c[1].committed());
  EXPECT_TRUE(rd.messages.empty());
  c[1].Advance(rd);
}

ClusterOptions LeaseCluster(int voters) {
  ClusterOptions o = WithVoters(voters);
  o.tweak = [](Config& c) { c.read_only = ReadOnlyMode::kLeaseBased; };
  return o;
}

TEST(RaftLeaseReadTest, LeaderWithFreshLeaseAnswersWithoutHeartbeatRound) {
  Cluster c(LeaseCluster(3));
  c.TickAll(kElection);  // restarted nodes wait out one election timeout
  c.Elect(1);
  c.TickAll(1);  // one acknowledged heartbeat round starts the lease
  c.ResetCounts();
  c[1].ReadIndex("r");
  Ready rd = c[1].GetReady();
  ASSERT_EQ(rd.read_states.size(), 1u);
  EXPECT_EQ(FindMessage(rd.messages, proto::MSG_HEARTBEAT), nullptr);
  c[1].Advance(rd);
}

TEST(RaftLeaseReadTest, LeaderWhoseLeaseExpiredConfirmsWithHeartbeats) {
  Cluster c(LeaseCluster(3));
  c.TickAll(kElection);
  c.Elect(1);
  c.TickAll(1);
  c.Isolate(1);
  c.Tick(1, kElection - 2);  // no answers: the lease runs out
  c.Stabilize();
  c[1].ReadIndex("r");
  c.Stabilize();
  EXPECT_TRUE(c.node(1).reads.empty());
  c.Heal();
  c.TickAll(1);
  EXPECT_EQ(c.node(1).reads.size(), 1u);
}

// A leader on a clock (Config::clock) ends its lease when the clock says
// so, however few ticks its host managed meanwhile: a starved raft thread
// ticks late, and a lease counted in its ticks outlasted the followers'
// refusal to vote.
TEST(RaftLeaseReadTest, LeaseOnAClockEndsWithTheClockNotTheTicks) {
  auto now = std::make_shared<int64_t>(0);
  ClusterOptions o = WithVoters(3);
  o.tweak = [now](Config& c) {
    c.read_only = ReadOnlyMode::kLeaseBased;
    c.clock = [now] { return *now; };
    c.tick = 100;
  };
  Cluster c(o);
  c.TickAll(kElection);
  c.Elect(1);
  c.TickAll(1);  // an acknowledged round at time 0
  EXPECT_EQ(c[1].LeaseEnd(), std::optional<int64_t>((kElection - 3) * 100)) << "what HoldsReadLease is told";
  EXPECT_EQ(c[2].LeaseEnd(), std::nullopt) << "a follower holds no lease";
  *now = (kElection - 3) * 100 - 1;  // no ticks, but almost the whole lease
  c[1].ReadIndex("fresh");
  Ready rd = c[1].GetReady();
  ASSERT_EQ(rd.read_states.size(), 1u) << "inside the lease: answered at once";
  c[1].Advance(rd);
  *now += 1;  // the lease's end, still no tick
  c.ResetCounts();
  c[1].ReadIndex("late");
  c.HandleReady(1);
  EXPECT_TRUE(c.node(1).reads.empty()) << "past the lease: a heartbeat round first";
  c.Stabilize();
  EXPECT_GE(c.delivered(proto::MSG_HEARTBEAT), 2u);
  ASSERT_EQ(c.node(1).reads.size(), 1u);
  EXPECT_EQ(c.node(1).reads[0].context, "late");
  // That round renewed the lease from the clock's now.
  c.ResetCounts();
  c[1].ReadIndex("renewed");
  c.HandleReady(1);
  EXPECT_EQ(c.node(1).reads.size(), 2u);
  EXPECT_EQ(c.delivered(proto::MSG_HEARTBEAT), 0u);
}

// The lease rests on voters refusing votes while they hear from the leader
// (§4.2.3); a node that restarted cannot know whether it did, so in lease
// mode it refuses for one election timeout after starting.
TEST(RaftLeaseReadTest, SoleVoterHoldsTheLeaseForItsTermAndSafeModeNone) {
  Cluster one(LeaseCluster(1));
  one.TickAll(kElection);
  one.Elect(1);
  EXPECT_EQ(one[1].LeaseEnd(), std::optional<int64_t>(std::numeric_limits<int64_t>::max()));
  Cluster safe(WithVoters(3));
  safe.Elect(1);
  safe.TickAll(1);
  EXPECT_EQ(safe[1].LeaseEnd(), std::nullopt) << "ReadIndex mode never reads under a lease";
}

TEST(RaftLeaseReadTest, RestartedNodeRefusesVotesForOneElectionTimeout) {
  Cluster c(LeaseCluster(3));
  ASSERT_TRUE(c[2].Step(VoteRequest(3, 2, 5, 0, 0)).ok());
  EXPECT_EQ(c[2].term(), Term(0));
  c.Tick(2, kElection);
  ASSERT_TRUE(c[2].Step(VoteRequest(3, 2, 5, 0, 0)).ok());
  EXPECT_EQ(c[2].term(), Term(5));
}

TEST(RaftLeaseReadTest, LeaseEndsWhenLeaderHandsOverLeadership) {
  Cluster c(LeaseCluster(3));
  c.TickAll(kElection);
  c.Elect(1);
  c.TickAll(1);
  // Hold back TIMEOUT_NOW: node 1 has sent it, but node 2 has not acted yet.
  c.intercept = [](proto::Message& m) { return m.type() != proto::MSG_TIMEOUT_NOW; };
  ASSERT_TRUE(c[1].LeaseEnd().has_value());
  ASSERT_TRUE(c[1].TransferLeadership(NodeId(2)).ok());
  EXPECT_EQ(c[1].LeaseEnd(), std::nullopt) << "withdrawn before the TimeoutNow is sent";
  c.Stabilize();
  c[1].ReadIndex("r");
  Ready rd = c[1].GetReady();
  EXPECT_TRUE(rd.read_states.empty()) << "a lease read during a transfer may be stale";
  c[1].Advance(rd);
}

// ============================================================================
// Leader transfer (§3.10)
// ============================================================================

TEST(RaftTransferTest, UpToDateTargetReceivesTimeoutNowAndBecomesLeader) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.ResetCounts();
  ASSERT_TRUE(c[1].TransferLeadership(NodeId(3)).ok());
  c.Stabilize();
  EXPECT_EQ(c[3].role(), Role::kLeader);
  EXPECT_EQ(c[3].term(), Term(2));
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c[1].leader(), NodeId(3));
  EXPECT_EQ(c.delivered(proto::MSG_TIMEOUT_NOW), 1u);
  EXPECT_EQ(c.delivered(proto::MSG_PRE_VOTE), 0u) << "the target skips pre-vote";
}

TEST(RaftTransferTest, LeaderFirstBringsLaggingTargetUpToDate) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) c.Propose(1, "x");
  c.Stabilize();
  c.Heal();
  ASSERT_TRUE(c[1].TransferLeadership(NodeId(3)).ok());
  c.Stabilize();
  c.TickAll(1);
  EXPECT_EQ(c[3].role(), Role::kLeader);
  EXPECT_EQ(c.node(3).applied.size(), c.node(1).applied.size());
}

TEST(RaftTransferTest, LeaderRefusesProposalsWhileTransferring) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  ASSERT_TRUE(c[1].TransferLeadership(NodeId(3)).ok());
  Result<Raft::Proposed> p = c[1].Propose("x");
  EXPECT_TRUE(p.status().Is(Code::kBusy)) << p.status().ToString();
  Result<Raft::Proposed> cc = c[1].ProposeConfChange(Change(proto::CONF_ADD_LEARNER, 4));
  EXPECT_TRUE(cc.status().Is(Code::kBusy));
}

TEST(RaftTransferTest, TransferIsAbandonedAfterElectionTimeout) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  ASSERT_TRUE(c[1].TransferLeadership(NodeId(3)).ok());
  c.Cut(3, 1);
  c.TickAll(kElection);
  EXPECT_EQ(c[1].role(), Role::kLeader);
  EXPECT_TRUE(c[1].Propose("x").ok());
}

TEST(RaftTransferTest, TransferCampaignWinsVotesOfNodesThatHearTheLeader) {
  Cluster c(WithVoters(5));
  c.Elect(1);
  c.TickAll(1);
  ASSERT_TRUE(c[1].TransferLeadership(NodeId(5)).ok());
  c.Stabilize();
  EXPECT_EQ(c[5].role(), Role::kLeader);
  for (uint64_t id = 1; id <= 4; ++id) EXPECT_EQ(c[id].leader(), NodeId(5)) << id;
}

TEST(RaftTransferTest, TransferToNonVoterIsInvalid) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  EXPECT_TRUE(c[1].TransferLeadership(NodeId(9)).Is(Code::kInvalidArgument));
}

TEST(RaftTransferTest, FollowerForwardsTransferRequestToLeader) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  ASSERT_TRUE(c[2].TransferLeadership(NodeId(2)).ok());
  c.Stabilize();
  EXPECT_EQ(c[2].role(), Role::kLeader);
}

TEST(RaftTransferTest, FollowerWithoutLeaderCannotTransfer) {
  Cluster c(WithVoters(3));
  EXPECT_TRUE(c[2].TransferLeadership(NodeId(3)).Is(Code::kNotLeader));
}

TEST(RaftTransferTest, ProposalOnFollowerIsNotLeaderWithHint) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  Result<Raft::Proposed> p = c[2].Propose("x");
  ASSERT_TRUE(p.status().Is(Code::kNotLeader));
  EXPECT_EQ(p.status().leader_hint(), "1");
}

// ============================================================================
// Membership changes (§4.1, §4.2)
// ============================================================================

LogIndex ProposeChange(Cluster& c, uint64_t leader, proto::ConfChangeType type, uint64_t node) {
  Result<Raft::Proposed> p = c[leader].ProposeConfChange(Change(type, node));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? p->index : LogIndex(0);
}

TEST(RaftMembershipTest, SecondChangeIsBusyUntilFirstIsApplied) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  ProposeChange(c, 1, proto::CONF_ADD_LEARNER, 4);
  Result<Raft::Proposed> second = c[1].ProposeConfChange(Change(proto::CONF_ADD_LEARNER, 5));
  EXPECT_TRUE(second.status().Is(Code::kBusy)) << second.status().ToString();
  c.Heal();
  c.AddEmptyNode(4);
  c.Stabilize();
  EXPECT_TRUE(c[1].ProposeConfChange(Change(proto::CONF_ADD_LEARNER, 5)).ok());
}

TEST(RaftMembershipTest, NewLeaderTreatsUnappliedLogAsPendingChange) {
  ClusterOptions o = WithVoters(3);
  o.logs = {{1, {1, 1}}, {2, {1, 1}}, {3, {1, 1}}};  // entries 1-2 could be changes
  Cluster c(o);
  c.intercept = [](proto::Message& m) { return m.type() != proto::MSG_APPEND_RESP; };
  c.Elect(1);
  // The no-op is not committed, so not applied: a change could hide there.
  Result<Raft::Proposed> p = c[1].ProposeConfChange(Change(proto::CONF_ADD_LEARNER, 4));
  EXPECT_TRUE(p.status().Is(Code::kBusy)) << p.status().ToString();
  c.intercept = nullptr;
  c.TickAll(1);
  EXPECT_TRUE(c[1].ProposeConfChange(Change(proto::CONF_ADD_LEARNER, 4)).ok());
}

TEST(RaftMembershipTest, RemovingTheLastVoterIsInvalid) {
  Cluster c(WithVoters(1));
  c.Elect(1);
  EXPECT_TRUE(c[1].ProposeConfChange(Change(proto::CONF_REMOVE_NODE, 1)).status().Is(Code::kInvalidArgument));
  EXPECT_TRUE(c[1].ProposeConfChange(Change(proto::CONF_ADD_VOTER, 0)).status().Is(Code::kInvalidArgument));
}

// §4.2.1: a learner receives the log but neither votes nor counts toward
// commitment or elections.
TEST(RaftMembershipTest, LearnerReceivesLogButDoesNotCountTowardCommit) {
  Cluster c(WithVoters(2));
  c.Elect(1);
  c.AddEmptyNode(3);
  ProposeChange(c, 1, proto::CONF_ADD_LEARNER, 3);
  c.Stabilize();
  ASSERT_EQ(c[1].conf_state().learners_size(), 1);
  c.Propose(1, "a");
  c.Stabilize();
  EXPECT_EQ(c.node(3).applied, c.node(1).applied);
  // With voter 2 unreachable, the learner's copy does not commit anything.
  c.Isolate(2);
  const LogIndex before = c[1].committed();
  c.Propose(1, "b");
  c.Stabilize();
  EXPECT_EQ(c[1].committed(), before);
  EXPECT_EQ(c[3].last_index(), c[1].last_index());
}

TEST(RaftMembershipTest, LearnerNeverCampaigns) {
  Cluster c(WithVoters(2));
  c.Elect(1);
  c.AddEmptyNode(3);
  ProposeChange(c, 1, proto::CONF_ADD_LEARNER, 3);
  c.Stabilize();
  c.Isolate(3);
  c.Tick(3, 10 * kElection);
  EXPECT_EQ(c[3].role(), Role::kFollower);
  EXPECT_EQ(c.HandleReady(3, false).size(), 0u);
}

TEST(RaftMembershipTest, LearnerVoteIsNotCounted) {
  auto r = OpenCore(1, {}, 0, [] {
    proto::ConfState cs = Voters({1, 2, 3});
    cs.add_learners(4);
    return cs;
  }(), 0, [](Config& c) { c.pre_vote = false; });
  while (r->role() != Role::kCandidate) r->Tick();
  proto::Message grant = Msg(proto::MSG_VOTE_RESP, 4, 1, 1);
  ASSERT_TRUE(r->Step(grant).ok());
  EXPECT_EQ(r->role(), Role::kCandidate);
  grant.set_from(2);
  ASSERT_TRUE(r->Step(grant).ok());
  EXPECT_EQ(r->role(), Role::kLeader);
}

TEST(RaftMembershipTest, AddVoterPromotesLearnerWhichThenCounts) {
  Cluster c(WithVoters(2));
  c.Elect(1);
  c.AddEmptyNode(3);
  ProposeChange(c, 1, proto::CONF_ADD_LEARNER, 3);
  c.Stabilize();
  ProposeChange(c, 1, proto::CONF_ADD_VOTER, 3);
  c.Stabilize();
  EXPECT_EQ(c[1].conf_state().voters_size(), 3);
  EXPECT_EQ(c[1].conf_state().learners_size(), 0);
  EXPECT_EQ(c[3].conf_state().voters_size(), 3);
  // Now voter 3 with the leader is a quorum of three.
  c.Isolate(2);
  Raft::Proposed p = c.Propose(1, "x");
  c.Stabilize();
  EXPECT_EQ(c[1].committed(), p.index);
}

// §4.2.1: a learner that has not caught up is not promoted; once it has,
// it is.
TEST(RaftMembershipTest, LearnerIsPromotedOnlyOnceCaughtUp) {
  Cluster c(WithVoters(2));
  c.Elect(1);
  c.AddEmptyNode(3);
  ProposeChange(c, 1, proto::CONF_ADD_LEARNER, 3);
  c.Stabilize();
  c.Isolate(3);
  for (int i = 0; i < 150; ++i) c.Propose(1, "x");
  c.Stabilize();
  Result<Raft::Proposed> early = c[1].ProposeConfChange(Change(proto::CONF_ADD_VOTER, 3));
  EXPECT_TRUE(early.status().Is(Code::kBusy)) << early.status().ToString();
  EXPECT_EQ(c[1].conf_state().learners_size(), 1);
  c.Heal();
  c.TickAll(2);  // a heartbeat round finds the learner again
  c.Stabilize();
  ProposeChange(c, 1, proto::CONF_ADD_VOTER, 3);
  c.Stabilize();
  EXPECT_EQ(c[1].conf_state().voters_size(), 3);
  EXPECT_EQ(c[1].conf_state().learners_size(), 0);
}

TEST(RaftMembershipTest, RemovedLeaderStepsDownOnceChangeIsApplied) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  ProposeChange(c, 1, proto::CONF_REMOVE_NODE, 1);
  c.Stabilize();
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c[2].conf_state().voters_size(), 2);
  // The others elect a leader among themselves; node 1 stays out.
  c.TickAll(4 * kElection);
  const bool elected = c[2].role() == Role::kLeader || c[3].role() == Role::kLeader;
  EXPECT_TRUE(elected);
  EXPECT_NE(c[1].role(), Role::kLeader);
}

TEST(RaftMembershipTest, NodeOutsideConfigurationDoesNotCampaign) {
  Cluster c(WithVoters(3));
  c.AddEmptyNode(9);
  c.Tick(9, 10 * kElection);
  EXPECT_EQ(c[9].role(), Role::kFollower);
  EXPECT_TRUE(c.HandleReady(9, false).empty());
}

TEST(RaftMembershipTest, RemovingVoterShrinksQuorum) {
  Cluster c(WithVoters(4));
  c.Elect(1);
  ProposeChange(c, 1, proto::CONF_REMOVE_NODE, 4);
  c.Stabilize();
  c.Crash(4);
  c.Isolate(3);
  // Voters 1, 2, 3: 1 and 2 are a quorum (with 4 voters they were not).
  Raft::Proposed p = c.Propose(1, "x");
  c.Stabilize();
  EXPECT_EQ(c[1].committed(), p.index);
}

TEST(RaftMembershipTest, AddedVoterCatchesUpFromEmptyLog) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  for (int i = 0; i < 5; ++i) c.Propose(1, "x" + std::to_string(i));
  c.Stabilize();
  c.AddEmptyNode(4);
  ProposeChange(c, 1, proto::CONF_ADD_VOTER, 4);
  c.Stabilize();
  c.TickAll(2);
  EXPECT_EQ(c.node(4).applied, c.node(1).applied);
  EXPECT_EQ(c[4].conf_state().voters_size(), 4);
  // After a restart it rebuilds the same membership from its log.
  c.Crash(4);
  c.Restart(4);
  c.TickAll(2);
  EXPECT_EQ(c[4].conf_state().voters_size(), 4);
}

// A joiner replays the log from index 1. The first leader wrote the founding
// membership there, so the joiner never believes itself the only voter
// (which would let it elect itself alone).
TEST(RaftMembershipTest, FirstLeaderRecordsFoundingMembershipForJoiners) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  const auto& a = c.node(1).applied;
  ASSERT_GE(a.size(), 4u);
  EXPECT_EQ(a[0], "conf:0:1");
  EXPECT_EQ(a[1], "conf:0:2");
  EXPECT_EQ(a[2], "conf:0:3");
  c.AddEmptyNode(4);
  ProposeChange(c, 1, proto::CONF_ADD_VOTER, 4);
  c.Stabilize();
  c.TickAll(1);
  ASSERT_EQ(c[4].conf_state().voters_size(), 4);
  c.Isolate(4);
  c.Tick(4, 5 * kElection);
  EXPECT_NE(c[4].role(), Role::kLeader);
}

// A Step between GetReady and Advance installs a snapshot newer than a
// conf change the host is about to apply: the snapshot's membership wins.
TEST(RaftMembershipTest, ChangeAppliedAfterNewerSnapshotInstalledIsIgnored) {
  auto r = OpenCore(2, {}, 1);
  Drain(*r);
  proto::Message app = Append(1, 2, 1, 0, 0, {{1, 1}}, /*commit=*/1);
  app.mutable_entries(0)->set_type(proto::ENTRY_CONF_CHANGE);
  app.mutable_entries(0)->set_data(Change(proto::CONF_ADD_LEARNER, 4).SerializeAsString());
  ASSERT_TRUE(r->Step(app).ok());
  Ready rd = r->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 1u);
  proto::Message snap = Msg(proto::MSG_SNAPSHOT, 1, 2, 1);
  snap.mutable_snapshot()->set_index(20);
  snap.mutable_snapshot()->set_term(1);
  *snap.mutable_snapshot()->mutable_conf_state() = Voters({1, 2, 3});
  ASSERT_TRUE(r->Step(snap).ok());
  // The host now applies the first Ready's entry.
  proto::ConfState cs = r->ApplyConfChange(Change(proto::CONF_ADD_LEARNER, 4));
  EXPECT_EQ(cs.learners_size(), 0);
  EXPECT_EQ(cs.voters_size(), 3);
  r->Advance(rd);
  Ready rd2 = r->GetReady();
  ASSERT_TRUE(rd2.snapshot);
  r->Advance(rd2);
  EXPECT_EQ(r->applied(), LogIndex(20));
  // Later changes apply normally.
  EXPECT_EQ(r->ApplyConfChange(Change(proto::CONF_ADD_LEARNER, 4)).learners_size(), 1);
}

TEST(RaftMembershipTest, MembershipIsRestoredOnRestart) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.AddEmptyNode(4);
  ProposeChange(c, 1, proto::CONF_ADD_LEARNER, 4);
  c.Stabilize();
  c.Crash(2);
  c.Restart(2);  // applied = 0: the change comes back as a committed entry
  c.TickAll(2);
  EXPECT_EQ(c[2].conf_state().learners_size(), 1);
  c.Compact(1);
  c.Crash(1);
  c.Restart(1);  // from the snapshot's membership
  EXPECT_EQ(c[1].conf_state().learners_size(), 1);
  EXPECT_EQ(c[1].conf_state().voters_size(), 3);
}

// ============================================================================
// Snapshots and compaction (§5)
// ============================================================================

TEST(RaftSnapshotTest, CompactDropsEntriesKeepingRequestedTail) {
  Cluster c(WithVoters(1));
  c.Elect(1);
  for (int i = 0; i < 10; ++i) c.Propose(1, "x");
  c.Stabilize();
  c.Compact(1, /*keep=*/3);
  const LogIndex applied = c[1].applied();
  EXPECT_EQ(c[1].snapshot().index(), applied.value());
  EXPECT_EQ(c[1].first_index(), LogIndex(applied.value() - 2));
  EXPECT_EQ(c[1].last_index(), applied);
}

TEST(RaftSnapshotTest, CompactBeyondAppliedIsInvalid) {
  Cluster c(WithVoters(1));
  c.Elect(1);
  proto::SnapshotMeta meta;
  meta.set_index(c[1].applied().value() + 5);
  meta.set_term(1);
  *meta.mutable_conf_state() = Voters({1});
  EXPECT_TRUE(c[1].Compact(meta).Is(Code::kInvalidArgument));
}

TEST(RaftSnapshotTest, LeaderSendsSnapshotToFollowerBehindFirstIndex) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 10; ++i) c.Propose(1, "x" + std::to_string(i));
  c.Stabilize();
  c.Compact(1);
  c.Heal();
  c.TickAll(3);
  EXPECT_EQ(c.delivered(proto::MSG_SNAPSHOT), 1u);
  EXPECT_EQ(c.node(3).snapshot.index(), c[1].snapshot().index());
  EXPECT_EQ(c.node(3).applied, c.node(1).applied);
  // Replication goes on from the log after the snapshot.
  c.Propose(1, "after");
  c.Stabilize();
  EXPECT_EQ(c.node(3).applied.back(), "after");
}

TEST(RaftSnapshotTest, FollowerInSnapshotStateGetsNoAppendsUntilReported) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) c.Propose(1, "x");
  c.Stabilize();
  c.Compact(1);
  c.Heal();
  c.intercept = [](proto::Message& m) { return m.type() != proto::MSG_SNAPSHOT; };  // lost in transit
  c.report_snapshots = false;  // the host has not found out yet
  c.TickAll(1);
  auto state_of_3 = [&] {
    for (auto& [id, pr] : c[1].progress()) {
      if (id == NodeId(3)) return pr->state;
    }
    return ProgressState::kProbe;
  };
  EXPECT_EQ(state_of_3(), ProgressState::kSnapshot);
  c.ResetCounts();
  c.TickAll(3);
  EXPECT_EQ(c.sent(proto::MSG_SNAPSHOT), 0u);
  c[1].ReportSnapshot(NodeId(3), false);
  EXPECT_EQ(state_of_3(), ProgressState::kProbe);
  c.intercept = nullptr;
  c.TickAll(2);
  EXPECT_EQ(c.node(3).applied, c.node(1).applied);
}

// The follower's answer to an installed snapshot is lost and the host has
// not reported yet: the next heartbeat answer, which carries the follower's
// commit index, gets replication going again.
TEST(RaftSnapshotTest, HeartbeatAnswerRepairsLostAnswerToInstalledSnapshot) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(3);
  for (int i = 0; i < 5; ++i) c.Propose(1, "x");
  c.Stabilize();
  c.Compact(1);
  c.Heal();
  c.report_snapshots = false;
  c.intercept = [](proto::Message& m) {
    return !(m.type() == proto::MSG_APPEND_RESP && m.from() == 3 && !m.reject());
  };
  c.TickAll(1);
  ASSERT_EQ(c.node(3).snapshot.index(), c[1].snapshot().index());
  c.intercept = nullptr;
  c.Propose(1, "after");
  c.TickAll(2);
  EXPECT_EQ(c.node(3).applied, c.node(1).applied);
}

TEST(RaftSnapshotTest, FollowerInstallsNewerSnapshotAndReturnsItInReady) {
  auto r = OpenCore(2, {1, 1}, 1);
  Drain(*r);
  proto::Message m = Msg(proto::MSG_SNAPSHOT, 1, 2, 2);
  m.mutable_snapshot()->set_index(10);
  m.mutable_snapshot()->set_term(2);
  *m.mutable_snapshot()->mutable_conf_state() = Voters({1, 2, 3, 4});
  ASSERT_TRUE(r->Step(m).ok());
  EXPECT_EQ(r->committed(), LogIndex(10));
  EXPECT_EQ(r->last_index(), LogIndex(10));
  EXPECT_EQ(r->first_index(), LogIndex(11));
  EXPECT_EQ(r->conf_state().voters_size(), 4);
  Ready rd = r->GetReady();
  ASSERT_TRUE(rd.snapshot);
  EXPECT_EQ(rd.snapshot->index(), 10u);
  EXPECT_TRUE(rd.committed_entries.empty());
  const proto::Message* resp = FindMessage(rd.messages, proto::MSG_APPEND_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(resp->index(), 10u);
  r->Advance(rd);
  EXPECT_EQ(r->applied(), LogIndex(10));
}

TEST(RaftSnapshotTest, FollowerHoldingSnapshotEntryOnlyFastForwardsCommit) {
  auto r = OpenCore(2, {1, 1, 1, 1, 1}, 1);
  Drain(*r);
  proto::Message m = Msg(proto::MSG_SNAPSHOT, 1, 2, 1);
  m.mutable_snapshot()->set_index(3);
  m.mutable_snapshot()->set_term(1);
  *m.mutable_snapshot()->mutable_conf_state() = Voters({1, 2, 3});
  ASSERT_TRUE(r->Step(m).ok());
  Ready rd = r->GetReady();
  EXPECT_FALSE(rd.snapshot);
  EXPECT_EQ(r->committed(), LogIndex(3));
  EXPECT_EQ(r->last_index(), LogIndex(5));  // entries after it kept
  EXPECT_EQ(rd.committed_entries.size(), 3u);
  r->Advance(rd);
}

TEST(RaftSnapshotTest, SnapshotNotBeyondCommitIsIgnored) {
  auto r = OpenCore(2, {1, 1, 1}, 1, Voters({1, 2, 3}), /*commit=*/3);
  Drain(*r);
  proto::Message m = Msg(proto::MSG_SNAPSHOT, 1, 2, 1);
  m.mutable_snapshot()->set_index(2);
  m.mutable_snapshot()->set_term(1);
  *m.mutable_snapshot()->mutable_conf_state() = Voters({1, 2, 3});
  ASSERT_TRUE(r->Step(m).ok());
  Ready rd = Drain(*r);
  EXPECT_FALSE(rd.snapshot);
  const proto::Message* resp = FindMessage(rd.messages, proto::MSG_APPEND_RESP, 1);
  ASSERT_NE(resp, nullptr);
  EXPECT_EQ(resp->index(), 3u);  // where the leader should continue
  EXPECT_EQ(r->last_index(), LogIndex(3));
}

TEST(RaftSnapshotTest, RestartFromSnapshotAndEntriesResumesReplication) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  for (int i = 0; i < 6; ++i) c.Propose(1, "x" + std::to_string(i));
  c.Stabilize();
  c.Compact(2, 0);
  c.Propose(1, "y");
  c.Stabilize();
  const std::vector<std::string> before = c.node(2).applied;
  c.Crash(2);
  c.Restart(2);
  EXPECT_EQ(c[2].first_index().value(), c.node(2).snapshot.index() + 1);
  EXPECT_EQ(c[2].last_index(), c[1].last_index());
  c.TickAll(2);  // committed entries after the snapshot are applied again
  EXPECT_EQ(c.node(2).applied, before);
}

// ============================================================================
// Restart (InitialState)
// ============================================================================

TEST(RaftRestartTest, RestartRestoresTermVoteLogAndCommit) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Propose(1, "a");
  c.Stabilize();
  const Term term = c[1].term();
  const LogIndex last = c[1].last_index();
  c.Crash(1);
  c.Restart(1);
  EXPECT_EQ(c[1].term(), term);
  EXPECT_EQ(c[1].last_index(), last);
  EXPECT_EQ(c[1].committed(), last);
  EXPECT_EQ(c[1].role(), Role::kFollower);
  EXPECT_EQ(c.node(1).hard_state.vote(), 1u);
}

TEST(RaftRestartTest, CommittedEntriesAfterAppliedAreHandedOutAgain) {
  Config cfg;
  cfg.id = NodeId(1);
  InitialState s;
  for (uint64_t i = 1; i <= 5; ++i) s.entries.push_back(E(i, 1, "d" + std::to_string(i)));
  s.hard_state.set_term(1);
  s.hard_state.set_commit(4);
  s.initial_conf = Voters({1, 2, 3});
  s.applied = LogIndex(2);
  auto r = Raft::Open(cfg, s);
  ASSERT_TRUE(r.ok());
  Ready rd = (*r)->GetReady();
  ASSERT_EQ(rd.committed_entries.size(), 2u);
  EXPECT_EQ(rd.committed_entries[0].index(), 3u);
  EXPECT_TRUE(rd.entries.empty()) << "entries from the disk are persisted already";
  EXPECT_FALSE(rd.hard_state);
  (*r)->Advance(rd);
}

// A crash between writing entries and the hard state (a torn Ready) leaves
// entries of a term the hard state does not know; the commit index may also
// run ahead of the entries. The core opens anyway, safely.
TEST(RaftRestartTest, TornReadyOnDiskIsRepairedAtOpen) {
  Config cfg;
  cfg.id = NodeId(2);
  InitialState s;
  s.entries = {E(1, 1), E(2, 3)};
  s.hard_state.set_term(2);
  s.hard_state.set_vote(1);
  s.hard_state.set_commit(7);
  s.initial_conf = Voters({1, 2, 3});
  auto r = Raft::Open(cfg, s);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->term(), Term(3));
  EXPECT_EQ((*r)->committed(), LogIndex(2));
  Ready rd = (*r)->GetReady();
  ASSERT_TRUE(rd.hard_state);
  EXPECT_EQ(rd.hard_state->vote(), 0u);
  (*r)->Advance(rd);
}

TEST(RaftRestartTest, OpenRejectsInconsistentState) {
  Config cfg;
  cfg.id = NodeId(1);
  {
    InitialState s;
    s.entries = {E(1, 1), E(3, 1)};
    EXPECT_TRUE(Raft::Open(cfg, s).status().Is(Code::kInvalidArgument));
  }
  {
    InitialState s;
    s.entries = {E(1, 1)};
    s.applied = LogIndex(4);
    EXPECT_TRUE(Raft::Open(cfg, s).status().Is(Code::kInvalidArgument));
  }
  {
    InitialState s;
    s.initial_conf = Voters({1, 1});
    EXPECT_TRUE(Raft::Open(cfg, s).status().Is(Code::kInvalidArgument));
  }
  Config bad = cfg;
  bad.heartbeat_ticks = 10;
  EXPECT_TRUE(Raft::Open(bad, InitialState{}).status().Is(Code::kInvalidArgument));
  bad = cfg;
  bad.id = NodeId(0);
  EXPECT_TRUE(Raft::Open(bad, InitialState{}).status().Is(Code::kInvalidArgument));
}

// ============================================================================
// Ready / Advance contract (raft.h)
// ============================================================================

TEST(RaftReadyTest, EntriesAreHandedOutOnceUntilPersisted) {
  Cluster c(WithVoters(1));
  c.Elect(1);
  ASSERT_TRUE(c[1].Propose("a").ok());
  ASSERT_TRUE(c[1].Propose("b").ok());
  Ready rd = c[1].GetReady();
  ASSERT_EQ(rd.entries.size(), 2u);
  ASSERT_TRUE(c[1].Propose("c").ok());
  c[1].Advance(rd);
  Ready rd2 = c[1].GetReady();
  ASSERT_EQ(rd2.entries.size(), 1u);
  EXPECT_EQ(rd2.entries[0].data(), "c");
  c[1].Advance(rd2);
  EXPECT_FALSE(c[1].HasReady());
}

TEST(RaftReadyTest, HardAndSoftStateOnlyWhenChanged) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  EXPECT_FALSE(c[1].HasReady());
  c[1].Tick();  // a heartbeat: messages only
  Ready rd = c[1].GetReady();
  EXPECT_FALSE(rd.hard_state);
  EXPECT_FALSE(rd.soft_state);
  EXPECT_FALSE(rd.messages.empty());
  c[1].Advance(rd);
  const auto& soft = c.soft_changes(1);
  ASSERT_FALSE(soft.empty());
  EXPECT_EQ(soft.back().role, Role::kLeader);
  EXPECT_EQ(soft.back().leader, NodeId(1));
}

TEST(RaftReadyTest, CommittedEntriesAreHandedOutOnceAndInOrder) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  for (int i = 0; i < 5; ++i) c.Propose(1, std::to_string(i));
  c.Stabilize();
  for (uint64_t id = 1; id <= 3; ++id) {
    // Founding membership (3 entries), the no-op, then the proposals.
    const auto& a = c.node(id).applied;
    ASSERT_EQ(a.size(), 9u);
    EXPECT_EQ(a[0], "conf:0:1");
    EXPECT_EQ(a[3], "");
    for (int i = 0; i < 5; ++i) EXPECT_EQ(a[static_cast<size_t>(i) + 4], std::to_string(i));
  }
}

TEST(RaftReadyTest, CommittedEntriesPerReadyAreBoundedByBytes) {
  Config cfg;
  cfg.id = NodeId(1);
  cfg.max_committed_bytes_per_ready = 250;
  InitialState s;
  for (uint64_t i = 1; i <= 10; ++i) s.entries.push_back(E(i, 1, std::string(100, 'x')));
  s.hard_state.set_term(1);
  s.hard_state.set_commit(10);
  s.initial_conf = Voters({1});
  auto r = Raft::Open(cfg, s);
  ASSERT_TRUE(r.ok());
  size_t total = 0;
  int readies = 0;
  while ((*r)->HasReady() && readies < 20) {
    Ready rd = (*r)->GetReady();
    EXPECT_LE(rd.committed_entries.size(), 2u);
    total += rd.committed_entries.size();
    (*r)->Advance(rd);
    ++readies;
  }
  EXPECT_EQ(total, 10u);
}

TEST(RaftReadyTest, ReplacementOfHandedOutEntryIsHandedOutAgain) {
  auto r = OpenCore(2, {}, 1);
  Drain(*r);
  ASSERT_TRUE(r->Step(Append(1, 2, 1, 0, 0, {{1, 1}, {2, 1}})).ok());
  Ready rd = r->GetReady();  // entries 1, 2 of term 1, not yet persisted
  ASSERT_EQ(rd.entries.size(), 2u);
  // Before Advance, a new leader replaces entry 2.
  ASSERT_TRUE(r->Step(Append(3, 2, 2, 1, 1, {{2, 2}})).ok());
  r->Advance(rd);
  Ready rd2 = r->GetReady();
  ASSERT_EQ(rd2.entries.size(), 1u);
  EXPECT_EQ(rd2.entries[0].index(), 2u);
  EXPECT_EQ(rd2.entries[0].term(), 2u);
  r->Advance(rd2);
}

TEST(RaftReadyTest, LeaderBatchesProposalsOfOneReadyIntoOneAppendPerFollower) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(c[1].Propose("x").ok());
  Ready rd = c[1].GetReady();
  int appends = 0;
  for (const proto::Message& m : rd.messages) appends += m.type() == proto::MSG_APPEND;
  EXPECT_EQ(appends, 2);
  c[1].Advance(rd);
}

// ============================================================================
// Robustness: whatever arrives from the network, Step does not abort
// ============================================================================

TEST(RaftRobustnessTest, StepRejectsMessageForAnotherNode) {
  auto r = OpenCore(1, {}, 0);
  EXPECT_TRUE(r->Step(Msg(proto::MSG_HEARTBEAT, 2, 3, 1)).Is(Code::kInvalidArgument));
}

TEST(RaftRobustnessTest, MalformedMessagesAreDroppedWithoutStateChange) {
  std::vector<proto::Message> bad;
  bad.push_back(Append(2, 1, 2, 0, 0, {{1, 1}, {3, 1}}));       // non-contiguous
  bad.push_back(Append(2, 1, 2, 0, 0, {{1, 3}}));               // entry term above message term
  bad.push_back(Append(2, 1, 2, 0, 0, {{1, 2}, {2, 1}}));       // terms decrease
  bad.push_back(Append(2, 1, 2, 5, 0, {{7, 1}}));               // index does not follow prev
  bad.push_back(Append(0, 1, 2, 0, 0, {{1, 1}}));               // from 0
  bad.push_back(Append(1, 1, 2, 0, 0, {{1, 1}}));               // from itself
  bad.push_back(Append(2, 1, 0, 0, 0, {{1, 1}}));               // term 0
  bad.push_back(Append(2, 1, 2, UINT64_MAX, 1, {{0, 1}}));      // index overflow
  bad.push_back(Msg(static_cast<proto::MessageType>(99), 2, 1, 2));
  bad.push_back(Msg(proto::MSG_UNSPECIFIED, 2, 1, 2));
  proto::Message snap = Msg(proto::MSG_SNAPSHOT, 2, 1, 2);
  snap.mutable_snapshot()->set_index(5);
  snap.mutable_snapshot()->set_term(1);  // no voters
  bad.push_back(snap);
  snap.mutable_snapshot()->mutable_conf_state()->add_voters(0);
  bad.push_back(snap);
  bad.push_back(VoteRequest(2, 1, 2, 5, 3));  // last term above campaign term
  proto::Message entry_type = Append(2, 1, 2, 0, 0, {{1, 1}});
  entry_type.mutable_entries(0)->set_type(static_cast<proto::EntryType>(7));
  bad.push_back(entry_type);
  for (const proto::Message& m : bad) {
    auto r = OpenCore(1, {1}, 1);
    Drain(*r);
    ASSERT_TRUE(r->Step(m).ok());
    EXPECT_EQ(r->term(), Term(1)) << m.ShortDebugString();
    EXPECT_EQ(r->last_index(), LogIndex(1)) << m.ShortDebugString();
    EXPECT_EQ(r->leader(), NodeId(0)) << m.ShortDebugString();
    EXPECT_FALSE(r->HasReady()) << m.ShortDebugString();
  }
}

TEST(RaftRobustnessTest, AnswersFromNodesOutsideConfigurationAreDropped) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  const LogIndex commit = c[1].committed();
  c.Isolate(2);
  c.Isolate(3);
  c.Propose(1, "x");
  c.Stabilize();
  proto::Message ack = Msg(proto::MSG_APPEND_RESP, 9, 1, c[1].term().value());
  ack.set_index(c[1].last_index().value());
  ASSERT_TRUE(c[1].Step(ack).ok());
  proto::Message hb = Msg(proto::MSG_HEARTBEAT_RESP, 9, 1, c[1].term().value());
  ASSERT_TRUE(c[1].Step(hb).ok());
  EXPECT_EQ(c[1].committed(), commit);
  EXPECT_EQ(c[1].progress().size(), 3u);
}

TEST(RaftRobustnessTest, AcknowledgementBeyondLeaderLogIsIgnored) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  c.Isolate(2);
  c.Isolate(3);
  const LogIndex commit = c[1].committed();
  proto::Message ack = Msg(proto::MSG_APPEND_RESP, 2, 1, c[1].term().value());
  ack.set_index(1000);
  ASSERT_TRUE(c[1].Step(ack).ok());
  EXPECT_EQ(c[1].committed(), commit);
  proto::Message reject = ack;
  reject.set_reject(true);
  reject.set_reject_hint(UINT64_MAX);
  reject.set_log_term(UINT64_MAX);
  ASSERT_TRUE(c[1].Step(reject).ok());
  EXPECT_EQ(c[1].role(), Role::kLeader);
}

TEST(RaftRobustnessTest, HeartbeatCommitBeyondLogIsIgnored) {
  auto r = OpenCore(2, {1, 1}, 1);
  Drain(*r);
  proto::Message hb = Msg(proto::MSG_HEARTBEAT, 1, 2, 1);
  hb.set_commit(50);
  ASSERT_TRUE(r->Step(hb).ok());
  EXPECT_EQ(r->committed(), LogIndex(0));
  EXPECT_EQ(r->leader(), NodeId(1));
}

TEST(RaftRobustnessTest, SecondLeaderInSameTermIsIgnoredByLeader) {
  Cluster c(WithVoters(3));
  c.Elect(1);
  const LogIndex last = c[1].last_index();
  ASSERT_TRUE(c[1].Step(Append(2, 1, c[1].term().value(), last.value(), c[1].term().value(),
                               {{last.value() + 1, c[1].term().value()}}))
                  .ok());
  EXPECT_EQ(c[1].role(), Role::kLeader);
  EXPECT_EQ(c[1].last_index(), last);
}

// Random garbage, including messages that are well-formed but make no
// sense, injected into a running cluster: no abort, and the nodes still
// agree on every applied entry.
TEST(RaftRobustnessTest, RandomMessagesNeverBreakAgreement) {
  std::mt19937_64 rng(1234);
  Cluster c(WithVoters(3));
  c.Elect(1);
  for (int round = 0; round < 300; ++round) {
    proto::Message m;
    m.set_type(static_cast<proto::MessageType>(rng() % 16));
    m.set_from(rng() % 5);
    m.set_to(1 + rng() % 3);
    m.set_term(rng() % 4);
    m.set_index(rng() % 30);
    m.set_log_term(rng() % 4);
    m.set_commit(rng() % 30);
    m.set_reject(rng() % 2);
    m.set_reject_hint(rng() % 30);
    if (rng() % 3 == 0) {
      std::string ctx;
      PutVarint64(&ctx, rng() % 10);
      m.set_context(ctx);
    }
    // Plausible entries: contiguous with non-decreasing terms up to m.term.
    const int n = static_cast<int>(rng() % 3);
    uint64_t t = m.log_term();
    for (int k = 0; k < n; ++k) {
      t = std::min<uint64_t>(m.term(), t + rng() % 2);
      *m.add_entries() = E(m.index() + 1 + static_cast<uint64_t>(k), t, "junk");
    }
    if (m.type() == proto::MSG_SNAPSHOT) {
      m.mutable_snapshot()->set_index(rng() % 30);
      m.mutable_snapshot()->set_term(std::min<uint64_t>(m.term(), rng() % 4));
      *m.mutable_snapshot()->mutable_conf_state() = Voters({1, 2, 3});
    }
    // A snapshot whose data the harness does not have would be installed
    // without bytes: leave snapshots out of the garbage delivered to nodes.
    if (m.type() != proto::MSG_SNAPSHOT) (void)c[m.to()].Step(m);
    // Garbage with higher terms deposes leaders; propose to whoever leads.
    for (uint64_t id = 1; id <= 3 && round % 5 == 0; ++id) {
      if (c[id].role() == Role::kLeader) (void)c[id].Propose("p" + std::to_string(round));
    }
    c.TickAll(1);
  }
  c.TickAll(3 * kElection);
  const auto& a1 = c.node(1).applied;
  for (uint64_t id = 2; id <= 3; ++id) {
    const auto& a = c.node(id).applied;
    const size_t n = std::min(a.size(), a1.size());
    for (size_t i = 0; i < n; ++i) ASSERT_EQ(a[i], a1[i]) << "node " << id << " index " << i + 1;
  }
}

// ============================================================================
// A small randomized run: partitions (also one-way), loss, delay,
// duplication, crashes, compaction, membership changes, leader transfers and
// reads, with Election Safety, State Machine Safety (§3.6.3) and ReadIndex
// safety (§6.4) checked throughout, and progress after healing.
// ============================================================================

// RAFT_SEEDS=N runs seeds 1..N (default 20) for a longer soak; RAFT_SEED0
// starts elsewhere, to replay one seed.
TEST(RaftRandomizedTest, FaultyNetworkAndCrashesKeepSafetyAndMakeProgress) {
  const uint64_t seeds = std::getenv("RAFT_SEEDS") ? std::stoull(std::getenv("RAFT_SEEDS")) : 20;
  const uint64_t first = std::getenv("RAFT_SEED0") ? std::stoull(std::getenv("RAFT_SEED0")) : 1;
  for (uint64_t seed = first; seed <= seeds; ++seed) {
    std::mt19937_64 rng(seed);
    ClusterOptions o = WithVoters(5);
    o.tweak = [seed](Config& c) {
      c.rng_seed = seed;
      c.max_inflight = 4;
      c.max_msg_bytes = 64;
      if (seed % 2 == 0) c.read_only = ReadOnlyMode::kLeaseBased;
    };
    Cluster c(o);
    c.AddEmptyNode(6);  // joins (and may leave) through membership changes
    // ReadIndex safety (§6.4): a read's index covers every entry known
    // committed anywhere when the read was issued.
    uint64_t max_commit = 0;
    std::map<std::string, uint64_t> read_floor;
    int reads_answered = 0;
    std::map<uint64_t, uint64_t> leader_of_term;
    std::vector<proto::Message> delayed;
    int proposals = 0;
    // 10% lost, 5% held back and delivered later (reordered), 3% duplicated.
    c.intercept = [&](proto::Message& m) {
      const uint64_t r = rng() % 100;
      if (r < 10) return false;
      if (r < 15) {
        delayed.push_back(m);
        return false;
      }
      if (r < 18) delayed.push_back(m);
      return true;
    };
    auto leader = [&]() -> uint64_t {
      for (uint64_t id : c.ids()) {
        if (c.node(id).up && c[id].role() == Role::kLeader) return id;
      }
      return 0;
    };
    for (int step = 0; step < 600; ++step) {
      const uint64_t r = rng() % 100;
      const uint64_t some = 1 + rng() % 6;
      if (r < 3) {
        c.Heal();
        c.Isolate(some);
      } else if (r < 5) {
        c.Cut(some, 1 + rng() % 6);  // one direction only
      } else if (r < 8) {
        c.Heal();
      } else if (r < 11) {
        if (c.node(some).up) c.Crash(some);
      } else if (r < 16) {
        if (c.node(some).up && c[some].applied().value() > c.node(some).snapshot.index()) c.Compact(some, rng() % 3);
      } else if (r < 18) {
        if (uint64_t l = leader()) (void)c[l].TransferLeadership(NodeId(1 + rng() % 6));
      } else if (r < 21) {
        if (uint64_t l = leader()) {
          const proto::ConfState& cs = c[l].conf_state();
          proto::ConfChangeType type = static_cast<proto::ConfChangeType>(rng() % 3);
          // Keep at least three voters so the cluster can still make progress.
          if (type != proto::CONF_ADD_VOTER && cs.voters_size() <= 3) type = proto::CONF_ADD_VOTER;
          (void)c[l].ProposeConfChange(Change(type, some));
        }
      }
      for (uint64_t id : c.ids()) {
        if (!c.node(id).up && rng() % 15 == 0) c.Restart(id);
      }
      if (!delayed.empty() && rng() % 3 == 0) {
        const size_t k = rng() % delayed.size();
        proto::Message m = delayed[k];
        delayed.erase(delayed.begin() + static_cast<std::ptrdiff_t>(k));
        // A late snapshot whose data the sender no longer has is lost.
        if (m.type() != proto::MSG_SNAPSHOT || c.node(m.from()).snapshot.index() == m.snapshot().index()) {
          c.queue().push_back(m);
        }
      }
      if (uint64_t l = leader(); l != 0 && rng() % 2 == 0) {
        if (c[l].Propose("s" + std::to_string(seed) + "-" + std::to_string(proposals)).ok()) ++proposals;
      }
      if (c.node(some).up && rng() % 2 == 0) {
        const std::string ctx = std::to_string(step) + "@" + std::to_string(some);
        read_floor[ctx] = max_commit;
        c[some].ReadIndex(ctx);
      }
      c.TickAll(1);
      for (uint64_t id : c.ids()) {
        if (c.node(id).up) max_commit = std::max(max_commit, c[id].committed().value());
        for (const ReadState& rs : c.node(id).reads) {
          auto it = read_floor.find(rs.context);
          ASSERT_NE(it, read_floor.end()) << "seed " << seed << ": unknown read " << rs.context;
          ASSERT_GE(rs.index.value(), it->second) << "seed " << seed << ": stale read " << rs.context;
          ++reads_answered;
        }
        c.node(id).reads.clear();
      }
      for (uint64_t id : c.ids()) {
        if (!c.node(id).up || c[id].role() != Role::kLeader) continue;
        auto [it, inserted] = leader_of_term.try_emplace(c[id].term().value(), id);
        ASSERT_EQ(it->second, id) << "seed " << seed << ": two leaders in term " << c[id].term();
      }
      // State Machine Safety: applied sequences are prefixes of each other.
      const std::vector<std::string>* longest = nullptr;
      for (uint64_t id : c.ids()) {
        if (!longest || c.node(id).applied.size() > longest->size()) longest = &c.node(id).applied;
      }
      for (uint64_t id : c.ids()) {
        const auto& a = c.node(id).applied;
        for (size_t i = 0; i < a.size(); ++i) {
          ASSERT_EQ(a[i], (*longest)[i]) << "seed " << seed << " node " << id << " index " << i + 1;
        }
      }
    }
    // Heal everything: the cluster elects a leader, every member catches up
    // and a new entry commits.
    c.intercept = nullptr;
    c.Heal();
    for (uint64_t id : c.ids()) {
      if (!c.node(id).up) c.Restart(id);
    }
    c.TickAll(6 * kElection);
    const uint64_t l = leader();
    ASSERT_NE(l, 0u) << "seed " << seed;
    Raft::Proposed p = c.Propose(l, "final");
    c.TickAll(3);
    const proto::ConfState cs = c[l].conf_state();
    std::vector<uint64_t> members(cs.voters().begin(), cs.voters().end());
    members.insert(members.end(), cs.learners().begin(), cs.learners().end());
    for (uint64_t id : members) {
      EXPECT_GE(c[id].committed(), p.index) << "seed " << seed << " node " << id;
      EXPECT_EQ(c.node(id).applied, c.node(l).applied) << "seed " << seed << " node " << id;
    }
    EXPECT_GT(proposals, 10) << "seed " << seed;
    EXPECT_GT(reads_answered, 10) << "seed " << seed;
  }
}

}  // namespace
}  // namespace cfs::raft
