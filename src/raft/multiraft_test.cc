// The MultiRaft host over real threads and real loopback RPC: hosts elect,
// replicate, fail over, restart from their WAL, catch up by chunked
// snapshots, change membership, and coalesce heartbeats per node pair.
//
// Waits are bounded by generous deadlines (liveness, not performance): a
// test fails if the cluster does not get there, never because it was slow.
#include "raft/multiraft.h"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "raft/rpc_transport.h"
#include "rpc/channel.h"
#include "rpc/runtime.h"
#include "rpc/server.h"
#include "testing/temp_dir.h"

namespace cfs::raft {
namespace {

using namespace std::chrono_literals;
constexpr auto kDeadline = 30s;
const GroupId kGroup(7);

// A key-value map: "key=value" sets, the answer is the previous value.
class KvMachine : public StateMachine {
 public:
  Result<std::string> Apply(LogIndex index, std::string_view data) override {
    std::lock_guard l(mu_);
    auto eq = data.find('=');
    if (eq == std::string_view::npos) return Status::InvalidArgument("not key=value");
    std::string& v = kv_[std::string(data.substr(0, eq))];
    std::string old = v;
    v = data.substr(eq + 1);
    last_ = index;
    ++applies_;
    return old;
  }
  Result<std::string> Snapshot() override {
    std::lock_guard l(mu_);
    std::string out;
    for (const auto& [k, v] : kv_) out += k + "=" + v + "\n";
    return out;
  }
  Status Restore(std::string_view data) override {
    std::lock_guard l(mu_);
    kv_.clear();
    while (!data.empty()) {
      auto nl = data.find('\n');
      if (nl == std::string_view::npos) return Status::Corruption("snapshot line without newline");
      std::string_view line = data.substr(0, nl);
      auto eq = line.find('=');
      if (eq == std::string_view::npos) return Status::Corruption("snapshot line without =");
      kv_[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
      data.remove_prefix(nl + 1);
    }
    ++restores_;
    return Status::OK();
  }
  std::optional<std::string> Get(const std::string& k) const {
    std::lock_guard l(mu_);
    auto it = kv_.find(k);
    if (it == kv_.end()) return std::nullopt;
    return it->second;
  }
  size_t size() const {
    std::lock_guard l(mu_);
    return kv_.size();
  }
  int restores() const {
    std::lock_guard l(mu_);
    return restores_;
  }
  int applies() const {
    std::lock_guard l(mu_);
    return applies_;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string> kv_;
  LogIndex last_;
  int restores_ = 0;
  int applies_ = 0;
};

// One node: an RPC server, a transport and a MultiRaft host.
struct Host {
  NodeId id;
  std::string dir;
  std::string address;  // kept across restarts
  std::unique_ptr<rpc::Server> server;
  std::unique_ptr<rpc::ChannelPool> pool;
  std::unique_ptr<RpcTransport> transport;
  std::unique_ptr<MultiRaft> raft;
  std::map<GroupId, std::shared_ptr<KvMachine>> machines;
  // Hosts from before a restart, kept until the end: their server handlers
  // and channels may still be winding down on the runtime.
  std::vector<std::unique_ptr<rpc::Server>> old_servers;
  std::vector<std::unique_ptr<MultiRaft>> old_rafts;
  std::vector<std::unique_ptr<RpcTransport>> old_transports;
  std::vector<std::unique_ptr<rpc::ChannelPool>> old_pools;
  bool running = false;
};

class MultiRaftTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& h : hosts_) StopHost(*h);
    runtime_.Stop();
  }

  MultiRaftOptions Options(NodeId id) {
    MultiRaftOptions o;
    o.node = id;
    o.dir = tmp_.Join(fmt::format("node{}", id));
    o.tick = 20ms;
    o.election_ticks = 10;
    o.heartbeat_ticks = 1;
    o.snapshot_entries = snapshot_entries_;
    o.keep_entries = keep_entries_;
    o.snapshot_chunk_bytes = chunk_bytes_;
    o.coalesce_heartbeats = coalesce_;
    o.fork_snapshots = fork_snapshots_;
    o.read_only = read_only_;
    return o;
  }

  // Creates `n` hosts (not started) that know each other's addresses.
  void MakeHosts(int n) {
    for (int i = 0; i < n; ++i) AddHost();
  }

  Host& AddHost() {
    auto h = std::make_unique<Host>();
    h->id = NodeId(hosts_.size() + 1);
    h->dir = tmp_.Join(fmt::format("node{}", h->id));
    hosts_.push_back(std::move(h));
    Host& host = *hosts_.back();
    OpenHost(host, "127.0.0.1:0");
    for (auto& other : hosts_) {
      if (other.get() == &host) continue;
      other->transport->SetPeer(host.id, host.address);
      host.transport->SetPeer(other->id, other->address);
    }
    return host;
  }

  // Opens (or reopens) a host from its directory, serving on `address`.
  void OpenHost(Host& h, const std::string& address) {
    h.pool = std::make_unique<rpc::ChannelPool>(runtime_.executor());
    h.transport = std::make_unique<RpcTransport>(*h.pool);
    auto raft = MultiRaft::Open(Options(h.id), h.transport.get());
    ASSERT_TRUE(raft.ok()) << raft.status().ToString();
    h.raft = std::move(*raft);
    h.transport->SetHost(h.raft.get());
    h.server = std::make_unique<rpc::Server>(runtime_.executor());
    RegisterRaftHandlers(*h.server, h.raft.get());
    auto bound = h.server->Listen(address);
    ASSERT_TRUE(bound.ok()) << bound.status().ToString();
    h.address = *bound;
    for (auto& other : hosts_) {
      if (other.get() != &h) h.transport->SetPeer(other->id, other->address);
    }
    h.machines.clear();
  }

  void AddGroup(Host& h, GroupId g, std::vector<NodeId> peers) {
    auto m = std::make_shared<KvMachine>();
    h.machines[g] = m;
    Status s = h.raft->AddGroup(g, std::move(peers), m);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::vector<NodeId> Ids(int n) {
    std::vector<NodeId> ids;
    for (int i = 1; i <= n; ++i) ids.push_back(NodeId(i));
    return ids;
  }

  void StartAll() {
    for (auto& h : hosts_) Start(*h);
  }
  void Start(Host& h) {
    h.raft->Start();
    h.running = true;
  }

  void StopHost(Host& h) {
    if (!h.running && !h.raft) return;
    h.raft->Stop();
    h.server->Stop();
    h.running = false;
  }

  // Stops a host and opens it again from the same directory and address
  // with fresh state machines; groups are added again by the caller.
  void Restart(Host& h) {
    StopHost(h);
    h.old_servers.push_back(std::move(h.server));
    h.old_rafts.push_back(std::move(h.raft));
    h.old_transports.push_back(std::move(h.transport));
    h.old_pools.push_back(std::move(h.pool));
    OpenHost(h, h.address);
  }

  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds deadline = kDeadline) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (std::chrono::steady_clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(10ms);
    }
    return pred();
  }

  // The leader of `g` as agreed by the running hosts: one that says it
  // leads and that every running member names.
  NodeId LeaderOf(GroupId g) {
    NodeId leader;
    for (auto& h : hosts_) {
      if (!h->running) continue;
      auto st = h->raft->GetStatus(g);
      if (!st.ok()) continue;
      if (st->role == Role::kLeader) leader = h->id;
    }
    if (leader.value() == 0) return leader;
    for (auto& h : hosts_) {
      if (!h->running) continue;
      auto st = h->raft->GetStatus(g);
      if (!st.ok()) continue;
      bool member = false;
      for (uint64_t v : st->conf_state.voters()) member |= v == h->id.value();
      if (member && st->leader != leader) return NodeId();
    }
    return leader;
  }

  // Three hosts running kGroup; its leader (0: none in time).
  NodeId StartOneGroupOnThree() {
    MakeHosts(3);
    for (auto& h : hosts_) AddGroup(*h, kGroup, Ids(3));
    StartAll();
    return WaitLeader(kGroup);
  }

  NodeId WaitLeader(GroupId g) {
    NodeId leader;
    WaitFor([&] { return (leader = LeaderOf(g)).value() != 0; });
    return leader;
  }

  Host& HostOf(NodeId id) { return *hosts_[id.value() - 1]; }

  static Result<std::string> ProposeOn(Host& h, GroupId g, std::string data) {
    auto p = std::make_shared<std::promise<Result<std::string>>>();
    auto f = p->get_future();
    h.raft->Propose(g, std::move(data), [p](Result<std::string> r) { p->set_value(std::move(r)); });
    if (f.wait_for(10s) != std::future_status::ready) return Status::Timeout("proposal: no answer in 10 s");
    return f.get();
  }

  // Proposes on whichever host leads, retrying through elections.
  Result<std::string> Propose(GroupId g, std::string data) {
    Status last = Status::Timeout("no leader");
    auto end = std::chrono::steady_clock::now() + kDeadline;
    while (std::chrono::steady_clock::now() < end) {
      NodeId leader = WaitLeader(g);
      if (leader.value() == 0) break;
      auto r = ProposeOn(HostOf(leader), g, data);
      if (r.ok()) return r;
      last = r.status();
      std::this_thread::sleep_for(20ms);
    }
    return last;
  }

  bool AllApplied(GroupId g, size_t keys) {
    for (auto& h : hosts_) {
      if (!h->running || !h->machines.count(g)) continue;
      if (h->machines[g]->size() < keys) return false;
    }
    return true;
  }

  // Adds a fourth host to kGroup as a learner, then as a voter; it follows
  // the log.
  void AddFourthHostAsLearnerThenVoter() {
    MakeHosts(3);
    for (auto& h : hosts_) AddGroup(*h, kGroup, Ids(3));
    StartAll();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(Propose(kGroup, fmt::format("k{}=1", i)).ok());

    Host& fourth = AddHost();
    AddGroup(fourth, kGroup, {});  // joins empty: the leader adds it
    Start(fourth);

    auto change = [&](proto::ConfChangeType type) -> Status {
      Status last = Status::Timeout("no leader");
      for (int attempt = 0; attempt < 50; ++attempt) {
        NodeId leader = WaitLeader(kGroup);
        if (leader.value() == 0) break;
        proto::ConfChange cc;
        cc.set_type(type);
        cc.set_node_id(fourth.id.value());
        cc.set_context(fourth.address);
        auto p = std::make_shared<std::promise<Status>>();
        auto f = p->get_future();
        HostOf(leader).raft->ProposeConfChange(kGroup, cc, [p](Status s) { p->set_value(s); });
        if (f.wait_for(10s) != std::future_status::ready) return Status::Timeout("conf change: no answer");
        last = f.get();
        if (last.ok()) return last;
        std::this_thread::sleep_for(50ms);  // Busy while another change applies
      }
      return last;
    };

    ASSERT_TRUE(change(proto::CONF_ADD_LEARNER).ok());
    ASSERT_TRUE(WaitFor([&] { return fourth.machines[kGroup]->size() == 5; }));
    EXPECT_TRUE(WaitFor([&] {
      auto st = fourth.raft->GetStatus(kGroup);
      return st.ok() && st->conf_state.learners_size() == 1 && st->conf_state.voters_size() == 3;
    }));

    ASSERT_TRUE(change(proto::CONF_ADD_VOTER).ok());
    for (auto& h : hosts_) {
      EXPECT_TRUE(WaitFor([&] {
        auto s = h->raft->GetStatus(kGroup);
        return s.ok() && s->conf_state.voters_size() == 4 && s->conf_state.learners_size() == 0;
      })) << "node " << h->id;
    }
    ASSERT_TRUE(Propose(kGroup, "late=1").ok());
    EXPECT_TRUE(WaitFor([&] { return fourth.machines[kGroup]->Get("late") == "1"; }));
  }

  rpc::Runtime runtime_{2};
  cfs::testing::TempDir tmp_;
  std::vector<std::unique_ptr<Host>> hosts_;
  uint64_t snapshot_entries_ = 10000;
  bool fork_snapshots_ = false;
  uint64_t keep_entries_ = 1000;
  uint64_t chunk_bytes_ = 1 << 20;
  bool coalesce_ = true;
  ReadOnlyMode read_only_ = ReadOnlyMode::kSafe;
};

TEST_F(MultiRaftTest, ThreeHostsElectALeaderAndReplicateProposals) {
  MakeHosts(3);
  for (auto& h : hosts_) AddGroup(*h, kGroup, Ids(3));
  StartAll();
  ASSERT_NE(WaitLeader(kGroup).value(), 0u);
  for (int i = 0; i < 20; ++i) {
    auto r = Propose(kGroup, fmt::format("k{}=v{}", i, i));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, "");  // no previous value
  }
  auto again = Propose(kGroup, "k3=w");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, "v3");  // the state machine's answer reaches the proposer
  ASSERT_TRUE(WaitFor([&] { return AllApplied(kGroup, 20); }));
  for (auto& h : hosts_) {
    EXPECT_TRUE(WaitFor([&] { return h->machines[kGroup]->Get("k3") == "w"; }));
    auto st = h->raft->GetStatus(kGroup);
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->conf_state.voters_size(), 3);
  }
  EXPECT_EQ(hosts_[0]->raft->Groups(), std::vector<GroupId>{kGroup});
}

TEST_F(MultiRaftTest, FiftyGroupsOnThreeHostsAllElectAndCommit) {
  MakeHosts(3);
  constexpr int kGroups = 50;
  for (auto& h : hosts_) {
    for (int g = 1; g <= kGroups; ++g) AddGroup(*h, GroupId(g), Ids(3));
  }
  StartAll();
  // Every group's proposal in flight at once: one WAL sync serves many.
  std::vector<std::future<Result<std::string>>> results;
  for (int g = 1; g <= kGroups; ++g) {
    results.push_back(std::async(std::launch::async, [this, g] { return Propose(GroupId(g), "x=1"); }));
  }
  for (auto& r : results) {
    auto v = r.get();
    EXPECT_TRUE(v.ok()) << v.status().ToString();
  }
  for (int g = 1; g <= kGroups; ++g) {
    EXPECT_TRUE(WaitFor([&] { return AllApplied(GroupId(g), 1); })) << "group " << g;
  }
  // Proposals of different groups shared WAL syncs.
  uint64_t syncs = 0;
  for (auto& h : hosts_) syncs += h->raft->stats().wal_syncs;
  EXPECT_GT(syncs, 0u);
}

TEST_F(MultiRaftTest, ProposalOnAFollowerIsNotLeaderWithTheLeadersId) {
  NodeId leader = StartOneGroupOnThree();
  ASSERT_NE(leader.value(), 0u);
  Host& follower = HostOf(NodeId(leader.value() % 3 + 1));
  auto r = ProposeOn(follower, kGroup, "a=b");
  // The leader may change between the check and the proposal: then retry.
  for (int i = 0; i < 10 && r.ok(); ++i) r = ProposeOn(follower, kGroup, "a=b");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().Is(Code::kNotLeader)) << r.status().ToString();
  EXPECT_EQ(r.status().leader_hint(), fmt::format("{}", LeaderOf(kGroup)));
}

TEST_F(MultiRaftTest, ReadIndexOnAFollowerReturnsAfterApply) {
  NodeId leader = StartOneGroupOnThree();
  ASSERT_NE(leader.value(), 0u);
  ASSERT_TRUE(Propose(kGroup, "color=blue").ok());
  for (auto& h : hosts_) {
    // A read on any member sees every write that completed before it (§6.4).
    auto p = std::make_shared<std::promise<std::pair<Status, std::optional<std::string>>>>();
    auto f = p->get_future();
    auto machine = h->machines[kGroup];
    h->raft->ReadIndex(kGroup, [p, machine](Status s) { p->set_value({s, machine->Get("color")}); });
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    auto [s, value] = f.get();
    if (s.Is(Code::kNotLeader)) continue;  // an election in between: nothing to check
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(value, "blue") << "node " << h->id;
  }
}

// HoldsReadLease is what lets the metanode read off the raft thread: true
// on the leader only, once it has applied an entry of its term; withdrawn
// the moment a transfer starts (its target may win at once), and ended by
// time alone when the followers fall silent.
TEST_F(MultiRaftTest, OnlyTheLeaderHoldsAReadLeaseUntilATransferOrSilenceEndsIt) {
  read_only_ = ReadOnlyMode::kLeaseBased;
  NodeId leader = StartOneGroupOnThree();
  ASSERT_NE(leader.value(), 0u);
  ASSERT_TRUE(Propose(kGroup, "color=blue").ok());
  leader = WaitLeader(kGroup);
  ASSERT_TRUE(WaitFor([&] { return HostOf(leader).raft->HoldsReadLease(kGroup); }));
  for (auto& h : hosts_) {
    if (h->id == leader) continue;
    EXPECT_FALSE(h->raft->HoldsReadLease(kGroup)) << "follower " << h->id;
  }

  const NodeId target(leader.value() % 3 + 1);
  ASSERT_TRUE(HostOf(leader).raft->TransferLeadership(kGroup, target).ok());
  EXPECT_FALSE(HostOf(leader).raft->HoldsReadLease(kGroup)) << "still held after the transfer began";
  ASSERT_TRUE(WaitFor([&] { return HostOf(target).raft->HoldsReadLease(kGroup); })) << "the new leader's lease";

  for (auto& h : hosts_) {
    if (h->id != target) StopHost(*h);
  }
  EXPECT_TRUE(WaitFor([&] { return !HostOf(target).raft->HoldsReadLease(kGroup); }, 2000ms))
      << "a leader nobody answers keeps its lease";
}

TEST_F(MultiRaftTest, StoppedLeaderIsReplacedAndCatchesUpFromItsWalOnRestart) {
  MakeHosts(3);
  for (auto& h : hosts_) AddGroup(*h, kGroup, Ids(3));
  StartAll();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Propose(kGroup, fmt::format("a{}=1", i)).ok());
  NodeId old_leader = WaitLeader(kGroup);
  ASSERT_NE(old_leader.value(), 0u);
  Host& old = HostOf(old_leader);
  StopHost(old);

  NodeId next = WaitLeader(kGroup);
  ASSERT_NE(next.value(), 0u);
  EXPECT_NE(next, old_leader);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Propose(kGroup, fmt::format("b{}=2", i)).ok());

  Restart(old);
  AddGroup(old, kGroup, Ids(3));
  Start(old);
  // Its WAL replays the first ten; the leader sends the rest.
  ASSERT_TRUE(WaitFor([&] { return old.machines[kGroup]->size() == 20; }));
  EXPECT_EQ(old.machines[kGroup]->Get("b9"), "2");
  EXPECT_TRUE(Propose(kGroup, "c=3").ok());
  EXPECT_TRUE(WaitFor([&] { return old.machines[kGroup]->Get("c") == "3"; }));
}

// Two whole snapshots reach a host in one round: a newer one, then an older
// one (a deposed leader's, or a reordered retry). The core keeps the newer;
// the host must keep its data to install it, not drop it with the older.
TEST_F(MultiRaftTest, OlderSnapshotInTheSameRoundDoesNotDropTheNewerOnesData) {
  Host& h = AddHost();
  AddGroup(h, kGroup, {NodeId(1), NodeId(2), NodeId(3)});  // founded with two peers that never answer
  auto chunk = [&](uint64_t term, uint64_t index, std::string data) {
    proto::SnapshotChunk c;
    c.set_group(kGroup.value());
    c.set_from(2);
    c.set_to(h.id.value());
    c.set_offset(0);
    c.set_last(true);
    proto::Message* m = c.mutable_message();
    m->set_type(proto::MSG_SNAPSHOT);
    m->set_from(2);
    m->set_to(h.id.value());
    m->set_term(term);
    m->mutable_snapshot()->set_index(index);
    m->mutable_snapshot()->set_term(term);
    for (uint64_t v : {1, 2, 3}) m->mutable_snapshot()->mutable_conf_state()->add_voters(v);
    Status s = h.raft->ReceiveSnapshotChunk(c, data);
    ASSERT_TRUE(s.ok()) << s.ToString();
  };
  // Posted before Start, so the raft thread steps both in its first round.
  chunk(5, 100, "new=1\n");
  chunk(5, 50, "old=1\n");
  Start(h);
  ASSERT_TRUE(WaitFor([&] { return h.machines[kGroup]->restores() == 1; }));
  EXPECT_EQ(h.machines[kGroup]->Get("new"), "1");
  EXPECT_EQ(h.machines[kGroup]->Get("old"), std::nullopt);
  EXPECT_TRUE(WaitFor([&] { return h.raft->GetStatus(kGroup)->applied == LogIndex(100); }));
}

TEST_F(MultiRaftTest, FarBehindHostIsCaughtUpByAChunkedSnapshot) {
  snapshot_entries_ = 20;
  keep_entries_ = 5;
  chunk_bytes_ = 100;  // a snapshot of a few KB goes in dozens of chunks
  MakeHosts(3);
  for (auto& h : hosts_) AddGroup(*h, kGroup, Ids(3));
  StartAll();
  ASSERT_TRUE(Propose(kGroup, "first=1").ok());
  NodeId leader = WaitLeader(kGroup);
  Host& lagging = HostOf(NodeId(leader.value() % 3 + 1));
  StopHost(lagging);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Propose(kGroup, fmt::format("key{:03}={:040}", i, i)).ok());
  // The live hosts compacted past what the lagging host holds.
  for (auto& h : hosts_) {
    if (!h->running) continue;
    EXPECT_TRUE(WaitFor([&] { return h->raft->GetStatus(kGroup)->snapshot_index.value() > 20; }));
  }

  Restart(lagging);
  AddGroup(lagging, kGroup, Ids(3));
  Start(lagging);
  ASSERT_TRUE(WaitFor([&] { return lagging.machines[kGroup]->size() == 101; }));
  EXPECT_EQ(lagging.machines[kGroup]->Get("key099"), fmt::format("{:040}", 99));
  EXPECT_GE(lagging.raft->stats().snapshots_installed, 1u);
  EXPECT_GE(lagging.machines[kGroup]->restores(), 1);
  uint64_t sent = 0, chunks = 0;
  for (auto& h : hosts_) {
    sent += h->raft->stats().snapshots_sent;
    chunks += h->raft->stats().snapshot_chunks_sent;
  }
  EXPECT_GE(sent, 1u);
  EXPECT_GE(chunks, 10 * sent);  // each one in many 100-byte chunks

  // After the install it follows by log again.
  ASSERT_TRUE(Propose(kGroup, "after=1").ok());
  EXPECT_TRUE(WaitFor([&] { return lagging.machines[kGroup]->Get("after") == "1"; }));

  // And it restarts from the installed snapshot plus its WAL.
  Restart(lagging);
  AddGroup(lagging, kGroup, Ids(3));
  EXPECT_GE(lagging.machines[kGroup]->restores(), 1);  // restored in AddGroup, before Start
  Start(lagging);
  EXPECT_TRUE(WaitFor([&] { return lagging.machines[kGroup]->size() == 102; }));
}

// A node that joins replays the log from index 1 (the founding membership
// is its first entries) when the leader still has it.
TEST_F(MultiRaftTest, ConfChangeAddsAFourthHostAsLearnerThenVoter) {
  AddFourthHostAsLearnerThenVoter();
  if (HasFatalFailure()) return;
  EXPECT_EQ(hosts_[3]->machines[kGroup]->restores(), 0);
}

// When the leader compacted its log, the joining node gets a snapshot.
TEST_F(MultiRaftTest, JoiningHostGetsASnapshotWhenTheLogIsCompacted) {
  snapshot_entries_ = 3;
  keep_entries_ = 1;
  AddFourthHostAsLearnerThenVoter();
  if (HasFatalFailure()) return;
  EXPECT_GE(hosts_[3]->machines[kGroup]->restores(), 1);
  EXPECT_GE(hosts_[3]->raft->stats().snapshots_installed, 1u);
}

TEST_F(MultiRaftTest, WalRecoveryAfterRestartPreservesAppliedState) {
  snapshot_entries_ = 30;
  keep_entries_ = 3;
  MakeHosts(1);
  Host& h = *hosts_[0];
  AddGroup(h, kGroup, Ids(1));
  AddGroup(h, GroupId(8), Ids(1));
  Start(h);
  for (int i = 0; i < 75; ++i) ASSERT_TRUE(Propose(kGroup, fmt::format("k{}={}", i, i)).ok());
  ASSERT_TRUE(Propose(kGroup, "k5=again").ok());
  ASSERT_TRUE(Propose(GroupId(8), "other=1").ok());
  ASSERT_TRUE(WaitFor([&] { return h.raft->GetStatus(kGroup)->snapshot_index.value() >= 30; }));
  const LogIndex applied = h.raft->GetStatus(kGroup)->applied;

  Restart(h);
  // Peers are ignored for a group the WAL knows: the persisted membership wins.
  AddGroup(h, kGroup, {NodeId(1), NodeId(5), NodeId(6)});
  AddGroup(h, GroupId(8), Ids(1));
  EXPECT_EQ(h.machines[kGroup]->restores(), 1);
  Start(h);
  ASSERT_TRUE(WaitFor([&] { return h.raft->GetStatus(kGroup)->applied >= applied; }));
  EXPECT_EQ(h.machines[kGroup]->size(), 75u);
  EXPECT_EQ(h.machines[kGroup]->Get("k5"), "again");
  EXPECT_EQ(h.machines[kGroup]->Get("k74"), "74");
  EXPECT_EQ(h.machines[GroupId(8)]->Get("other"), "1");
  auto st = h.raft->GetStatus(kGroup);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->conf_state.voters_size(), 1);
  // Still a working group.
  EXPECT_TRUE(Propose(kGroup, "new=1").ok());
}

// fork_snapshots: a child process writes each snapshot while the group goes
// on applying; the staged file is promoted, the log compacted, and a restart
// restores from it.
TEST_F(MultiRaftTest, SnapshotsWrittenByAForkedChildRestoreOnRestart) {
  snapshot_entries_ = 20;
  keep_entries_ = 2;
  fork_snapshots_ = true;
  MakeHosts(1);
  Host& h = *hosts_[0];
  AddGroup(h, kGroup, Ids(1));
  Start(h);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(Propose(kGroup, fmt::format("k{}={}", i, i)).ok());
  ASSERT_TRUE(Propose(kGroup, "k5=again").ok());
  // Several rounds: each child's snapshot is promoted before the next forks.
  ASSERT_TRUE(WaitFor([&] { return h.raft->GetStatus(kGroup)->snapshot_index.value() >= 60; }));
  const LogIndex applied = h.raft->GetStatus(kGroup)->applied;
  const uint64_t snapshot_index = h.raft->GetStatus(kGroup)->snapshot_index.value();
  const std::string group_dir = fmt::format("{}/snapshots/{}", h.dir, kGroup.value());
  EXPECT_TRUE(std::filesystem::exists(group_dir + "/snapshot"));

  Restart(h);
  EXPECT_FALSE(std::filesystem::exists(group_dir + "/snapshot.staged"));
  AddGroup(h, kGroup, Ids(1));
  EXPECT_EQ(h.machines[kGroup]->restores(), 1);  // from the child's snapshot
  // Entries 1 and 2 (the founding membership, the first leader's empty
  // entry) are not proposals: a snapshot through index i holds i - 2 keys.
  EXPECT_GE(h.machines[kGroup]->size(), snapshot_index - 2);
  Start(h);
  ASSERT_TRUE(WaitFor([&] { return h.raft->GetStatus(kGroup)->applied >= applied; }));
  EXPECT_EQ(h.machines[kGroup]->size(), 100u);
  EXPECT_EQ(h.machines[kGroup]->Get("k5"), "again");
  EXPECT_EQ(h.machines[kGroup]->Get("k99"), "99");
  EXPECT_TRUE(Propose(kGroup, "new=1").ok());
}

TEST_F(MultiRaftTest, RemovedGroupForgetsItsStateAndStartsAfresh) {
  MakeHosts(1);
  Host& h = *hosts_[0];
  AddGroup(h, kGroup, Ids(1));
  Start(h);
  ASSERT_TRUE(Propose(kGroup, "a=1").ok());
  ASSERT_TRUE(h.raft->RemoveGroup(kGroup).ok());
  EXPECT_TRUE(h.raft->Groups().empty());
  EXPECT_TRUE(h.raft->RemoveGroup(kGroup).Is(Code::kNotFound));
  Restart(h);
  AddGroup(h, kGroup, Ids(1));
  Start(h);
  ASSERT_TRUE(Propose(kGroup, "b=1").ok());
  EXPECT_EQ(h.machines[kGroup]->size(), 1u);
  EXPECT_FALSE(h.machines[kGroup]->Get("a").has_value());
}

TEST_F(MultiRaftTest, StopFailsPendingCallbacksWithUnavailable) {
  NodeId leader = StartOneGroupOnThree();
  ASSERT_NE(leader.value(), 0u);
  // The followers stop: the leader's proposals can never commit.
  for (auto& h : hosts_) {
    if (h->id != leader) StopHost(*h);
  }
  Host& l = HostOf(leader);
  std::atomic<int> calls{0};
  std::atomic<int> unavailable{0};
  for (int i = 0; i < 5; ++i) {
    l.raft->Propose(kGroup, "x=1", [&](Result<std::string> r) {
      ++calls;
      if (r.status().Is(Code::kUnavailable) || r.status().Is(Code::kNotLeader)) ++unavailable;
    });
  }
  StopHost(l);
  EXPECT_EQ(calls.load(), 5);  // every callback ran before Stop returned
  EXPECT_EQ(unavailable.load(), 5);
  // After Stop: answered at once.
  Status after;
  l.raft->ReadIndex(kGroup, [&](Status s) { after = s; });
  EXPECT_TRUE(after.Is(Code::kUnavailable)) << after.ToString();
}

// 100 idle groups on 3 hosts: each tick a host sends one batch per peer
// with all its heartbeats (and a few more with the answers), not one
// message per group.
TEST_F(MultiRaftTest, CoalescedHeartbeatsSendAboutOneBatchPerPeerPerTick) {
  MakeHosts(3);
  constexpr int kGroups = 100;
  for (auto& h : hosts_) {
    for (int g = 1; g <= kGroups; ++g) AddGroup(*h, GroupId(g), Ids(3));
  }
  StartAll();
  for (int g = 1; g <= kGroups; ++g) ASSERT_NE(WaitLeader(GroupId(g)).value(), 0u) << "group " << g;
  std::this_thread::sleep_for(200ms);  // let the elections' traffic pass
  std::vector<HostStats> before;
  for (auto& h : hosts_) before.push_back(h->raft->stats());
  std::this_thread::sleep_for(1s);
  uint64_t batches = 0, heartbeats = 0, ticks = 0;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    HostStats now = hosts_[i]->raft->stats();
    batches += now.batches_sent - before[i].batches_sent;
    heartbeats += now.heartbeats_sent - before[i].heartbeats_sent;
    ticks += now.ticks - before[i].ticks;
  }
  ASSERT_GT(ticks, 0u);
  const double batches_per_host_tick = static_cast<double>(batches) / static_cast<double>(ticks);
  const double heartbeats_per_host_tick = static_cast<double>(heartbeats) / static_cast<double>(ticks);
  // Two peers: a heartbeat batch to each, plus answer batches (one per
  // incoming heartbeat batch); never one per group.
  EXPECT_LE(batches_per_host_tick, 3.0 * 2) << "heartbeats per host tick " << heartbeats_per_host_tick;
  // Every group's leader heartbeats both followers each tick, and they answer.
  EXPECT_GE(heartbeats_per_host_tick, kGroups * 2.0 * 2 / 3 * 0.5);
}

TEST_F(MultiRaftTest, WithoutCoalescingEachGroupHeartbeatIsItsOwnBatch) {
  coalesce_ = false;
  MakeHosts(3);
  constexpr int kGroups = 20;
  for (auto& h : hosts_) {
    for (int g = 1; g <= kGroups; ++g) AddGroup(*h, GroupId(g), Ids(3));
  }
  StartAll();
  for (int g = 1; g <= kGroups; ++g) ASSERT_NE(WaitLeader(GroupId(g)).value(), 0u) << "group " << g;
  std::vector<HostStats> before;
  for (auto& h : hosts_) before.push_back(h->raft->stats());
  std::this_thread::sleep_for(500ms);
  uint64_t batches = 0, heartbeats = 0;
  for (size_t i = 0; i < hosts_.size(); ++i) {
    HostStats now = hosts_[i]->raft->stats();
    batches += now.batches_sent - before[i].batches_sent;
    heartbeats += now.heartbeats_sent - before[i].heartbeats_sent;
  }
  EXPECT_GT(heartbeats, 0u);
  // The counters are read while the hosts run: heartbeats of the round being
  // sent (at most one per group and peer on each host) may be counted before
  // their batches.
  const uint64_t in_flight = hosts_.size() * (hosts_.size() - 1) * kGroups;
  EXPECT_GE(batches + in_flight, heartbeats);
  EXPECT_GT(heartbeats, 4 * in_flight) << "enough rounds that the slack is small";
  // And the groups still work.
  EXPECT_TRUE(Propose(GroupId(3), "k=v").ok());
}

}  // namespace
}  // namespace cfs::raft
