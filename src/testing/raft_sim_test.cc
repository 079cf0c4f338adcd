#include "testing/raft_sim.h"

#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#ifndef CFS_SIM_DEFAULT_SEEDS
#define CFS_SIM_DEFAULT_SEEDS 500
#endif

namespace cfs::testing {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

// The seeds [CFS_SIM_FIRST_SEED, +CFS_SIM_SEEDS): every random scenario
// must keep Raft's safety properties, stay linearizable and make progress
// once healed.
TEST(RaftSimTest, RandomScenariosKeepSafetyLinearizabilityAndLiveness) {
  const uint64_t first = EnvOr("CFS_SIM_FIRST_SEED", 1);
  const uint64_t count = EnvOr("CFS_SIM_SEEDS", CFS_SIM_DEFAULT_SEEDS);
  SimStats total;
  std::vector<std::string> failures;
  uint64_t passed = 0;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.trace_tail = EnvOr("CFS_SIM_TRACE", o.trace_tail);  // events shown with a failure
    SimResult r = RunRaftSim(o);
    total.Add(r.stats);
    if (r.ok) {
      ++passed;
    } else {
      failures.push_back(r.failure);
    }
  }
  fmt::print("raft sim: seeds [{}, {}): ran {}, passed {}, failed {}\n{}\n", first, first + count, count, passed,
             failures.size(), total.ToString());
  for (const std::string& f : failures) fmt::print("FAILED {}\n", f.substr(0, f.find('\n')).substr(0, 250));
  for (size_t i = 0; i < failures.size() && i < 5; ++i) ADD_FAILURE() << failures[i];
  if (failures.size() > 5) ADD_FAILURE() << failures.size() - 5 << " more seeds failed";
  EXPECT_EQ(passed, count);
  if (count >= 200) {
    // The seeds exercised what they claim to.
    for (size_t i = 0; i < total.faults.size(); ++i) {
      EXPECT_GT(total.faults[i], 0u) << "no seed chose " << SimFaultName(static_cast<SimFault>(i));
    }
    EXPECT_GT(total.crashes_mid_ready, 0u);
    EXPECT_GT(total.unsynced_records_lost, 0u);
    EXPECT_GT(total.conf_changes, 0u);
    EXPECT_GT(total.snapshots_installed, 0u);
    EXPECT_GT(total.leader_transfers, 0u);
    EXPECT_GT(total.reads_index_ok, 0u);
    EXPECT_GT(total.reads_log_ok, 0u);
    EXPECT_GT(total.ops_pending, 0u);
  }
}

TEST(RaftSimTest, SameSeedReplaysExactly) {
  for (uint64_t seed : {3u, 17u, 101u}) {
    SimOptions o;
    o.seed = seed;
    o.fault_ticks = 400;
    SimResult a = RunRaftSim(o);
    SimResult b = RunRaftSim(o);
    EXPECT_EQ(a.digest, b.digest) << "seed " << seed;
    EXPECT_EQ(a.stats.messages_delivered, b.stats.messages_delivered);
    EXPECT_EQ(a.stats.ops_checked, b.stats.ops_checked);
    EXPECT_EQ(a.ok, b.ok);
    EXPECT_EQ(a.failure, b.failure);
  }
  SimOptions x, y;
  x.seed = 5;
  y.seed = 6;
  x.fault_ticks = y.fault_ticks = 400;
  EXPECT_NE(RunRaftSim(x).digest, RunRaftSim(y).digest);
}

// --- Fixed scenarios -----------------------------------------------------------

SimOptions Fixed(uint64_t seed) {
  SimOptions o;
  o.seed = seed;
  o.random_faults = false;
  o.auto_clients = false;
  o.voters = 3;
  return o;
}

// The old leader, cut off from the others, still believes it leads (no
// check-quorum): a ReadIndex read on it must not answer with the value the
// new leader already overwrote (§6.4).
std::string StaleReadScenario(SimBug bug, bool* read_answered) {
  SimOptions o = Fixed(7);
  o.check_quorum = false;
  o.bug = bug;
  RaftSim sim(o);
  EXPECT_TRUE(sim.RunUntil([&] { return sim.Leader().value() != 0; }, 200)) << sim.failure();
  const NodeId old_leader = sim.Leader();
  const size_t w1 = sim.Submit(0, KvOpKind::kPut, "x", "1", old_leader);
  EXPECT_TRUE(sim.RunUntil([&] { return sim.Done(w1); }, 100));
  // Every node has applied x=1.
  EXPECT_TRUE(sim.RunUntil(
      [&] {
        for (NodeId n : sim.Nodes()) {
          if (sim.LocalValue(n, "x") != "1") return false;
        }
        return true;
      },
      100));
  sim.Isolate(old_leader);
  EXPECT_TRUE(sim.RunUntil([&] { return sim.Leader().value() != 0 && sim.Leader() != old_leader; }, 300));
  const NodeId new_leader = sim.Leader();
  const size_t w2 = sim.Submit(1, KvOpKind::kPut, "x", "2", new_leader);
  EXPECT_TRUE(sim.RunUntil([&] { return sim.Done(w2); }, 100));
  // The deposed leader never heard of term 2's election.
  EXPECT_GT(sim.NodeTerm(new_leader), sim.NodeTerm(old_leader));
  const size_t r = sim.Submit(2, KvOpKind::kGet, "x", "", old_leader);
  sim.RunTicks(60);
  *read_answered = sim.Done(r);
  return sim.Check();
}

TEST(RaftSimTest, PartitionedOldLeaderCannotServeStaleReadIndexRead) {
  bool answered = true;
  EXPECT_EQ(StaleReadScenario(SimBug::kNone, &answered), "");
  EXPECT_FALSE(answered) << "the deposed leader answered a ReadIndex read without a quorum";
}

TEST(RaftSimTest, CheckerCatchesDeposedLeaderServingLocalReads) {
  bool answered = false;
  std::string failure = StaleReadScenario(SimBug::kLocalReadsOnLeader, &answered);
  EXPECT_TRUE(answered);
  EXPECT_NE(failure.find("not linearizable"), std::string::npos) << failure;
  EXPECT_NE(failure.find("key \"x\""), std::string::npos) << failure;
}

// Crashes that strike between writing a Ready and its fsync lose the
// unsynced entries; no acknowledged (committed) write may be lost.
TEST(RaftSimTest, CrashLosingUnsyncedEntriesNeverLosesCommittedOne) {
  SimStats total;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    SimOptions o = Fixed(seed);
    RaftSim sim(o);
    ASSERT_TRUE(sim.RunUntil([&] { return sim.Leader().value() != 0; }, 200)) << sim.failure();
    std::vector<size_t> acked;
    std::vector<std::string> values;
    int client = 0;
    for (int round = 0; round < 6; ++round) {
      const NodeId leader = sim.Leader();
      if (leader.value() == 0) {
        sim.RunTicks(20);
        continue;
      }
      // Followers sync slowly; the leader's appends reach their disks but
      // not their fsyncs when one of them crashes.
      for (NodeId n : sim.Nodes()) sim.SetSyncLatency(n, 8);
      std::vector<size_t> ops;
      for (int i = 0; i < 3; ++i) {
        std::string v = fmt::format("r{}.{};", round, i);
        ops.push_back(sim.Submit(client++, KvOpKind::kAppend, "log", v, leader, false, true));
        values.push_back(v);
      }
      sim.RunTicks(1);
      NodeId victim = sim.Nodes()[static_cast<size_t>(round) % sim.Nodes().size()];
      sim.CrashAt(victim, CrashPoint::kBeforeSync);
      sim.RunTicks(15);
      sim.Restart(victim);
      for (NodeId n : sim.Nodes()) sim.SetSyncLatency(n, 0);
      sim.RunUntil(
          [&] {
            for (size_t op : ops) {
              if (!sim.Done(op)) return false;
            }
            return true;
          },
          60);
      for (size_t op : ops) {
        if (sim.Done(op)) acked.push_back(op);
      }
      ASSERT_EQ(sim.failure(), "") << "seed " << seed;
    }
    for (NodeId n : sim.Nodes()) sim.Restart(n);
    sim.RunTicks(100);
    ASSERT_EQ(sim.Check(), "") << "seed " << seed << "\n" << sim.TraceTail();
    EXPECT_FALSE(acked.empty());
    for (NodeId n : sim.Nodes()) {
      std::optional<std::string> log = sim.LocalValue(n, "log");
      for (size_t op : acked) {
        EXPECT_NE(log.value_or("").find(sim.history()[op].value), std::string::npos)
            << "seed " << seed << ": node " << n << " lost acknowledged append " << sim.history()[op].value;
      }
    }
    EXPECT_GT(sim.stats().crashes_mid_ready, 0u);
    total.Add(sim.stats());
  }
  fmt::print("{}\n", total.ToString());
  EXPECT_GT(total.unsynced_records_lost, 0u);
}

// Proof that the checker is wired in: hosts that answer Gets from local
// state without ReadIndex are caught by some seed.
TEST(RaftSimTest, CheckerCatchesLocalReadsWithoutReadIndex) {
  for (SimBug bug : {SimBug::kLocalReadsAnywhere, SimBug::kLocalReadsOnLeader}) {
    int caught = 0;
    uint64_t seed = 1;
    std::string example;
    for (; seed <= 300 && caught == 0; ++seed) {
      SimOptions o;
      o.seed = seed;
      o.bug = bug;
      SimResult r = RunRaftSim(o);
      if (!r.ok && r.failure.find("not linearizable") != std::string::npos) {
        ++caught;
        example = r.failure.substr(0, 600);
      }
    }
    EXPECT_GT(caught, 0) << "bug " << static_cast<int>(bug) << " never flagged";
    fmt::print("bug {} flagged at seed {}:\n{}\n", static_cast<int>(bug), seed - 1, example);
  }
}

// The disk model matters: a host that answers before its fsync loses, in a
// crash, entries and votes it already promised, and the safety checks see it.
TEST(RaftSimTest, ChecksCatchHostSendingBeforeSync) {
  int caught = 0;
  uint64_t seed = 1;
  std::string example;
  for (; seed <= 2000 && caught == 0; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.bug = SimBug::kSendBeforeSync;
    o.fault_mask = 1u << static_cast<int>(SimFault::kCrash);
    SimResult r = RunRaftSim(o);
    if (!r.ok && r.failure.find("liveness") == std::string::npos) {
      ++caught;
      example = r.failure.substr(0, 400);
    }
  }
  EXPECT_GT(caught, 0) << "sending before fsync was never caught";
  fmt::print("send-before-sync flagged at seed {}:\n{}\n", seed - 1, example);
}

}  // namespace
}  // namespace cfs::testing
