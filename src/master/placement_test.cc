// Replica placement (Topology::FindSlotsForOneGroup) for xyz codes, against
// topologies that can and cannot satisfy them.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "master/topology.h"
#include "master/topology_test_util.h"

namespace cfs::master {
namespace {

using namespace cfs::master::test;  // NOLINT: test builders
using Addrs = std::vector<std::string>;

struct NodeSpec {
  std::string dc, rack, address;
  int max = 1;
  int used = 0;
};

class PlacementTest : public ::testing::Test {
 protected:
  void Add(const NodeSpec& n, std::chrono::nanoseconds now = T(100)) {
    topo_.ApplyHeartbeat(Hb(n.address, n.dc, n.rack, n.max, Fillers(next_filler_, n.used)), now);
    next_filler_ += static_cast<uint32_t>(n.used);
  }
  void Add(std::initializer_list<NodeSpec> nodes) {
    for (const NodeSpec& n : nodes) Add(n);
  }
  // A node that stopped heartbeating and was marked dead (with free slots).
  void AddDead(const NodeSpec& n) {
    Add(n, T(1));
    topo_.MarkDeadNodes(T(100), std::chrono::seconds(10));
  }

  Result<Addrs> Find(std::string_view code, uint64_t seed = 1) {
    std::mt19937_64 rng(seed);
    return topo_.FindSlotsForOneGroup(Rp(code), rng);
  }
  void ExpectError(std::string_view code, const std::string& message) {
    for (uint64_t seed = 0; seed < 20; ++seed) {
      Result<Addrs> r = Find(code, seed);
      ASSERT_FALSE(r.ok()) << code << " seed " << seed << " chose " << ::testing::PrintToString(*r);
      EXPECT_EQ(r.status().code(), Code::kNoSpace);
      EXPECT_EQ(r.status().message(), message) << code;
    }
  }

  // Checks that `chosen` satisfies placement `code` on the current topology:
  // the right number of distinct live nodes with free slots; the first z+1 in
  // one rack; the next y in other, distinct racks of that data center; the
  // last x in other, distinct data centers.
  void ExpectSatisfies(std::string_view code, const Addrs& chosen) {
    ReplicaPlacement rp = Rp(code);
    TopologySnapshot snap = topo_.Snapshot();
    ASSERT_EQ(chosen.size(), static_cast<size_t>(rp.CopyCount())) << code;
    std::set<std::string> distinct(chosen.begin(), chosen.end());
    EXPECT_EQ(distinct.size(), chosen.size()) << code << ": a node chosen twice";
    std::vector<NodePlace> at;
    for (const std::string& a : chosen) {
      NodePlace p = FindNode(snap, a);
      ASSERT_NE(p.node, nullptr) << a;
      EXPECT_TRUE(p.node->alive) << a;
      EXPECT_GE(p.node->free, 1) << a;
      at.push_back(p);
    }
    const size_t z = rp.same_rack, y = rp.diff_rack;
    const NodePlace& main = at[0];
    for (size_t i = 1; i <= z; ++i) {
      EXPECT_EQ(at[i].data_center, main.data_center) << code << " " << chosen[i];
      EXPECT_EQ(at[i].rack, main.rack) << code << " " << chosen[i];
    }
    std::set<std::string> racks{main.rack};
    for (size_t i = z + 1; i <= z + y; ++i) {
      EXPECT_EQ(at[i].data_center, main.data_center) << code << " " << chosen[i];
      EXPECT_TRUE(racks.insert(at[i].rack).second) << code << ": rack " << at[i].rack << " used twice";
    }
    std::set<std::string> dcs{main.data_center};
    for (size_t i = z + y + 1; i < at.size(); ++i) {
      EXPECT_TRUE(dcs.insert(at[i].data_center).second)
          << code << ": data center " << at[i].data_center << " used twice";
    }
  }
  void ExpectOk(std::string_view code, int seeds = 50) {
    for (uint64_t seed = 0; seed < static_cast<uint64_t>(seeds); ++seed) {
      Result<Addrs> r = Find(code, seed);
      ASSERT_TRUE(r.ok()) << code << " seed " << seed << ": " << r.status().ToString();
      ExpectSatisfies(code, *r);
    }
  }

  Topology topo_;
  uint32_t next_filler_ = 1000;
};

TEST_F(PlacementTest, NoNodesMeansNoFreeSlots) { ExpectError("000", "no free block group slots"); }

TEST_F(PlacementTest, FullAndDeadNodesMeanNoFreeSlots) {
  Add({"dc1", "r1", "full:1", 2, 2});
  AddDead({"dc1", "r1", "dead:1", 5, 0});
  for (std::string_view code : {"000", "001", "010", "100", "011", "200"}) {
    ExpectError(code, "no free block group slots");
  }
}

TEST_F(PlacementTest, P000OnOneNode) {
  Add({"dc1", "r1", "a:1", 1});
  Result<Addrs> r = Find("000");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, Addrs{"a:1"});
}

TEST_F(PlacementTest, P000SkipsFullAndDeadNodes) {
  Add({"dc1", "r1", "full:1", 3, 3});
  AddDead({"dc1", "r1", "dead:1", 3, 0});
  Add({"dc2", "r1", "ok:1", 3, 1});
  for (uint64_t seed = 0; seed < 50; ++seed) {
    Result<Addrs> r = Find("000", seed);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, Addrs{"ok:1"});
  }
}

TEST_F(PlacementTest, P001NeedsTwoNodesWithSlotsInOneRack) {
  Add({{"dc1", "r1", "a:1", 3}, {"dc1", "r2", "b:1", 3}, {"dc2", "r1", "c:1", 3}, {"dc1", "r1", "d:1", 1, 1}});
  ExpectError("001", "placement 001 needs 2 datanodes with free slots in one rack; the best has 1");
  Add({"dc2", "r1", "e:1", 1});
  ExpectOk("001");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Result<Addrs> r = Find("001", seed);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::set<std::string>(r->begin(), r->end()), (std::set<std::string>{"c:1", "e:1"}));
  }
}

TEST_F(PlacementTest, P002NamesTheBestRack) {
  Add({{"dc1", "r1", "a:1", 3}, {"dc1", "r1", "b:1", 3}, {"dc1", "r2", "c:1", 3}});
  ExpectError("002", "placement 002 needs 3 datanodes with free slots in one rack; the best has 2");
}

TEST_F(PlacementTest, P010NeedsTwoRacksInOneDataCenter) {
  // Many nodes, but one rack per data center.
  Add({{"dc1", "r1", "a:1", 3}, {"dc1", "r1", "b:1", 3}, {"dc2", "r1", "c:1", 3}});
  ExpectError("010", "placement 010 needs 2 racks with free slots in one data center; the best has 1");
  // A second rack in dc1 whose only node is full does not help.
  Add({"dc1", "r2", "full:1", 2, 2});
  ExpectError("010", "placement 010 needs 2 racks with free slots in one data center; the best has 1");
  Add({"dc2", "r2", "d:1", 1});
  ExpectOk("010");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Result<Addrs> r = Find("010", seed);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::set<std::string>(r->begin(), r->end()), (std::set<std::string>{"c:1", "d:1"}));
  }
}

TEST_F(PlacementTest, P100NeedsTwoDataCenters) {
  Add({{"dc1", "r1", "a:1", 3}, {"dc1", "r2", "b:1", 3}});
  AddDead({"dc2", "r1", "dead:1", 3});
  ExpectError("100", "placement 100 needs 2 data centers with free slots; the cluster has 1");
  Add({"dc3", "r1", "c:1", 1});
  ExpectOk("100");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Result<Addrs> r = Find("100", seed);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::count(r->begin(), r->end(), "c:1"), 1);
  }
}

TEST_F(PlacementTest, P011NeedsTwoRacksWithTwoFreeNodesEach) {
  // SeaweedFS's main data center filter: every one of the y+1 racks must have
  // z+1 nodes with a free slot, although the second rack takes only one copy.
  Add({{"dc1", "r1", "a:1", 2}, {"dc1", "r1", "b:1", 2}, {"dc1", "r2", "c:1", 2}});
  ExpectError("011",
              "placement 011 needs 2 racks with 2 datanodes with free slots each "
              "in one data center; the best has 1");
  Add({"dc1", "r2", "d:1", 2});
  ExpectOk("011");
}

TEST_F(PlacementTest, P200NeedsThreeDataCenters) {
  Add({{"dc1", "r1", "a:1", 3}, {"dc2", "r1", "b:1", 3}, {"dc3", "r1", "c:1", 3, 3}});
  ExpectError("200", "placement 200 needs 3 data centers with free slots; the cluster has 2");
  Add({"dc4", "r7", "d:1", 1});
  ExpectOk("200");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Result<Addrs> r = Find("200", seed);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(std::set<std::string>(r->begin(), r->end()), (std::set<std::string>{"a:1", "b:1", "d:1"}));
  }
}

TEST_F(PlacementTest, P110CombinesRacksAndDataCenters) {
  Add({{"dc1", "r1", "a:1", 3}, {"dc1", "r2", "b:1", 3}});
  ExpectError("110", "placement 110 needs 2 data centers with free slots; the cluster has 1");
  Add({"dc2", "r1", "c:1", 3});
  ExpectOk("110");
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Result<Addrs> r = Find("110", seed);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->back(), "c:1") << "only dc1 has two racks, so dc2 is the other data center";
  }
}

TEST_F(PlacementTest, SlotHoldsCountAgainstFreeSlots) {
  Add({{"dc1", "r1", "a:1", 2}, {"dc1", "r1", "b:1", 1}});
  std::mt19937_64 rng(5);
  Topology::SlotHolds holds{{"a:1", 2}};
  Result<Addrs> r = topo_.FindSlotsForOneGroup(Rp("000"), rng, holds);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, Addrs{"b:1"});
  Result<Addrs> two = topo_.FindSlotsForOneGroup(Rp("001"), rng, holds);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().message(), "placement 001 needs 2 datanodes with free slots in one rack; the best has 1");
  holds["b:1"] = 1;
  Result<Addrs> none = topo_.FindSlotsForOneGroup(Rp("000"), rng, holds);
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "no free block group slots");
}

TEST_F(PlacementTest, GrownGroupsNotYetReportedCountAgainstFreeSlots) {
  Add({{"dc1", "r1", "a:1", 1}, {"dc1", "r1", "b:1", 1}});
  topo_.RegisterGrownGroup(Bg(1), {"a:1"});
  for (uint64_t seed = 0; seed < 20; ++seed) {
    Result<Addrs> r = Find("000", seed);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, Addrs{"b:1"});
  }
  ExpectError("001", "placement 001 needs 2 datanodes with free slots in one rack; the best has 1");
  topo_.RegisterGrownGroup(Bg(2), {"b:1"});
  ExpectError("000", "no free block group slots");
}

TEST_F(PlacementTest, ChoiceIsWeightedByFreeSlots) {
  Add({{"dc1", "r1", "big:1", 90}, {"dc1", "r1", "small:1", 10}});
  int big = 0;
  const int kTrials = 2000;
  for (uint64_t seed = 0; seed < kTrials; ++seed) {
    Result<Addrs> r = Find("000", seed);
    ASSERT_TRUE(r.ok());
    if ((*r)[0] == "big:1") ++big;
  }
  EXPECT_GT(big, kTrials * 85 / 100);
  EXPECT_LT(big, kTrials * 95 / 100);
}

TEST_F(PlacementTest, SameSeedSameChoice) {
  for (int i = 0; i < 12; ++i) {
    Add({fmt::format("dc{}", i % 3), fmt::format("r{}", i % 4), fmt::format("n{}:1", i), 1 + i % 5});
  }
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Result<Addrs> a = Find("011", seed), b = Find("011", seed);
    ASSERT_EQ(a.ok(), b.ok());
    if (a.ok()) {
      EXPECT_EQ(*a, *b);
    }
  }
}

// A larger, uneven cluster: 3 data centers with 1, 2 and 4 racks of 1..4
// nodes, some full, some dead. Every placement it can hold is satisfied for
// every seed, and every node with a free slot gets chosen by some seed.
TEST_F(PlacementTest, InvariantsHoldOverManySeeds) {
  int n = 0;
  auto node = [&](std::string dc, std::string rack, int max, int used) {
    Add({std::move(dc), std::move(rack), fmt::format("10.0.0.{}:8080", ++n), max, used});
  };
  node("dcA", "r1", 4, 0);
  node("dcA", "r1", 2, 2);  // full
  node("dcB", "r1", 3, 1);
  node("dcB", "r1", 5, 0);
  node("dcB", "r2", 1, 0);
  node("dcC", "r1", 7, 3);
  node("dcC", "r1", 2, 0);
  node("dcC", "r1", 9, 8);
  node("dcC", "r2", 3, 0);
  node("dcC", "r2", 3, 0);
  node("dcC", "r3", 2, 1);
  node("dcC", "r4", 6, 0);
  node("dcC", "r4", 6, 0);
  node("dcC", "r4", 6, 0);
  node("dcC", "r4", 6, 0);
  AddDead({"dcB", "r2", "dead:1", 9, 0});
  AddDead({"dcD", "r1", "dead:2", 9, 0});

  std::set<std::string> ever_chosen;
  for (std::string_view code : {"000", "001", "002", "003", "010", "011", "020", "030", "100", "101", "110",
                                "200", "201", "111", "021"}) {
    for (uint64_t seed = 0; seed < 300; ++seed) {
      Result<Addrs> r = Find(code, seed);
      ASSERT_TRUE(r.ok()) << code << " seed " << seed << ": " << r.status().ToString();
      ExpectSatisfies(code, *r);
      ever_chosen.insert(r->begin(), r->end());
      if (::testing::Test::HasFailure()) return;
    }
  }
  EXPECT_EQ(ever_chosen.size(), 14u) << "all 14 live nodes with free slots";
  EXPECT_FALSE(ever_chosen.count("10.0.0.2:8080")) << "the full node";

  ExpectError("004", "placement 004 needs 5 datanodes with free slots in one rack; the best has 4");
  ExpectError("040", "placement 040 needs 5 racks with free slots in one data center; the best has 4");
  ExpectError("013",
              "placement 013 needs 2 racks with 4 datanodes with free slots each "
              "in one data center; the best has 1");
  ExpectError("031",
              "placement 031 needs 4 racks with 2 datanodes with free slots each "
              "in one data center; the best has 3");
}

}  // namespace
}  // namespace cfs::master
