#include "master/growth.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "master/topology_test_util.h"

namespace cfs::master {
namespace {

using namespace cfs::master::test;  // NOLINT: test builders
using Addrs = std::vector<std::string>;

TEST(GrowthCountTest, MatchesSeaweedFsFindVolumeCount) {
  EXPECT_EQ(GrowthCount(1), 7);
  EXPECT_EQ(GrowthCount(2), 6);
  EXPECT_EQ(GrowthCount(3), 3);
  EXPECT_EQ(GrowthCount(4), 1);
  EXPECT_EQ(GrowthCount(10), 1);
  EXPECT_EQ(GrowthCount(Rp("000").CopyCount()), 7);
  EXPECT_EQ(GrowthCount(Rp("001").CopyCount()), 6);
  EXPECT_EQ(GrowthCount(Rp("010").CopyCount()), 6);
  EXPECT_EQ(GrowthCount(Rp("100").CopyCount()), 6);
  EXPECT_EQ(GrowthCount(Rp("011").CopyCount()), 3);
  EXPECT_EQ(GrowthCount(Rp("200").CopyCount()), 3);
  EXPECT_EQ(GrowthCount(Rp("111").CopyCount()), 1);
}

class GrowthTest : public ::testing::Test {
 protected:
  static IdRange OpenIds(uint64_t count = 1000) {
    IdRange ids;
    ids.Add(1, 1 + count);
    return ids;
  }
  GrowthPlan Plan(std::string_view code, IdRange& ids, uint64_t seed = 1, std::string collection = "c") {
    std::mt19937_64 rng(seed);
    return PlanGrowth(topo_, collection, Rp(code), Ttl{}, ids, rng);
  }
  // How many replicas of the plan land on each node.
  static std::map<std::string, int> SlotsUsed(const GrowthPlan& plan) {
    std::map<std::string, int> used;
    for (const PlannedGroup& g : plan.groups) {
      for (const std::string& a : g.addresses) ++used[a];
    }
    return used;
  }

  Topology topo_;
};

TEST_F(GrowthTest, PlansSevenSingleCopyGroupsWhenThereIsRoom) {
  topo_.ApplyHeartbeat(Hb("a:1", "dc", "r", 10), T(1));
  topo_.ApplyHeartbeat(Hb("b:1", "dc", "r", 10), T(1));
  IdRange ids = OpenIds();
  GrowthPlan plan = Plan("000", ids);
  EXPECT_TRUE(plan.error.ok()) << plan.error.ToString();
  ASSERT_EQ(plan.groups.size(), 7u);
  for (size_t i = 0; i < plan.groups.size(); ++i) {
    const PlannedGroup& g = plan.groups[i];
    EXPECT_EQ(g.info.id, BlockGroupId(static_cast<uint32_t>(i + 1)));
    EXPECT_EQ(g.info.collection, "c");
    EXPECT_EQ(g.info.placement, Rp("000"));
    EXPECT_EQ(g.info.size_bytes, 0u);
    EXPECT_EQ(g.addresses.size(), 1u);
  }
  EXPECT_EQ(topo_.FreeSlots(), 20) << "planning changes no topology state";
}

TEST_F(GrowthTest, FewerSlotsThanSevenPlansWhatFitsThenTheClearError) {
  topo_.ApplyHeartbeat(Hb("a:1", "dc", "r", 3, Fillers(500, 1)), T(1));  // 2 free
  topo_.ApplyHeartbeat(Hb("b:1", "dc", "r", 2), T(1));                  // 2 free
  IdRange ids = OpenIds();
  GrowthPlan plan = Plan("000", ids);
  ASSERT_EQ(plan.groups.size(), 4u);
  EXPECT_EQ(plan.error.code(), Code::kNoSpace);
  EXPECT_EQ(plan.error.message(), "no free block group slots");
  EXPECT_EQ(SlotsUsed(plan), (std::map<std::string, int>{{"a:1", 2}, {"b:1", 2}}));
  // Ids continue past the largest id the topology has seen (the filler 500).
  EXPECT_EQ(plan.groups[0].info.id, BlockGroupId(501));
  EXPECT_EQ(plan.groups[3].info.id, BlockGroupId(504));
}

TEST_F(GrowthTest, PlacementThatRunsOutOfRacksStopsWithItsMessage) {
  // 010 on two racks of 2 and 5 slots: two groups, then rack r1 is used up.
  topo_.ApplyHeartbeat(Hb("a:1", "dc", "r1", 2), T(1));
  topo_.ApplyHeartbeat(Hb("b:1", "dc", "r2", 5), T(1));
  IdRange ids = OpenIds();
  GrowthPlan plan = Plan("010", ids);
  ASSERT_EQ(plan.groups.size(), 2u);
  EXPECT_EQ(plan.error.message(), "placement 010 needs 2 racks with free slots in one data center; the best has 1");
  for (const PlannedGroup& g : plan.groups) {
    EXPECT_EQ(std::set<std::string>(g.addresses.begin(), g.addresses.end()), (std::set<std::string>{"a:1", "b:1"}));
  }
}

TEST_F(GrowthTest, NothingToPlanReturnsOnlyTheError) {
  IdRange ids = OpenIds();
  GrowthPlan none = Plan("000", ids);
  EXPECT_TRUE(none.groups.empty());
  EXPECT_EQ(none.error.code(), Code::kNoSpace);
  EXPECT_EQ(none.error.message(), "no free block group slots");
  topo_.ApplyHeartbeat(Hb("a:1", "dc1", "r", 9), T(1));
  GrowthPlan one_dc = Plan("100", ids);
  EXPECT_TRUE(one_dc.groups.empty());
  EXPECT_EQ(one_dc.error.message(), "placement 100 needs 2 data centers with free slots; the cluster has 1");
  EXPECT_EQ(ids.next(), 1u) << "no id is drawn when no slot is found";
}

TEST_F(GrowthTest, ExhaustedIdRangeStopsThePlanAndKeepsWhatWasPlanned) {
  topo_.ApplyHeartbeat(Hb("a:1", "dc", "r", 10), T(1));
  IdRange ids = OpenIds(/*count=*/4);
  ASSERT_TRUE(ids.Take(3).ok());  // ids 1..3 are gone; 4 is left
  GrowthPlan plan = Plan("000", ids);
  ASSERT_EQ(plan.groups.size(), 1u);
  EXPECT_EQ(plan.groups[0].info.id, BlockGroupId(4));
  EXPECT_EQ(plan.error.code(), Code::kUnavailable);
  EXPECT_NE(plan.error.message().find("new block group id"), std::string::npos) << plan.error.ToString();
}

TEST_F(GrowthTest, RegisteredPlanBecomesWritableAndUsesSlots) {
  topo_.ApplyHeartbeat(Hb("a:1", "dc", "r", 4), T(1));
  topo_.ApplyHeartbeat(Hb("b:1", "dc", "r", 4), T(1));
  topo_.ApplyHeartbeat(Hb("c:1", "dc", "r", 4), T(1));
  IdRange ids = OpenIds();
  GrowthPlan plan = Plan("001", ids);
  ASSERT_EQ(plan.groups.size(), 6u);
  EXPECT_TRUE(plan.error.ok());
  for (const PlannedGroup& g : plan.groups) topo_.RegisterGrownGroup(g.info, g.addresses);
  EXPECT_EQ(topo_.FreeSlots(), 0);
  for (const PlannedGroup& g : plan.groups) {
    EXPECT_TRUE(topo_.IsWritable(g.info.id));
    EXPECT_EQ(topo_.Lookup(g.info.id), g.addresses);
  }
  std::mt19937_64 rng(4);
  auto target = topo_.PickWritable("c", Rp("001"), Ttl{}, rng);
  ASSERT_TRUE(target.has_value());
  // A second growth finds nothing.
  GrowthPlan again = Plan("001", ids);
  EXPECT_TRUE(again.groups.empty());
  EXPECT_EQ(again.error.message(), "no free block group slots");
}

TEST_F(GrowthTest, PlansNeverOverbookANodeOverManySeeds) {
  // Twelve nodes in 3 data centers x 2 racks x 2 nodes, 0..5 free slots each.
  std::map<std::string, int> free;
  for (int i = 0; i < 12; ++i) {
    std::string a = fmt::format("n{}:1", i);
    int max = 2 + i % 4, used = i % 3;
    topo_.ApplyHeartbeat(Hb(a, fmt::format("dc{}", i / 4), fmt::format("r{}", i % 2), max,
                            Fillers(static_cast<uint32_t>(100 * (i + 1)), used)),
                         T(1));
    free[a] = max - used;
  }
  IdRange ids = OpenIds(/*count=*/100000);
  std::set<uint32_t> all_ids;
  for (std::string_view code : {"000", "001", "010", "100", "011", "200", "110"}) {
    for (uint64_t seed = 0; seed < 100; ++seed) {
      GrowthPlan plan = Plan(code, ids, seed);
      ASSERT_FALSE(plan.groups.empty()) << code << ": " << plan.error.ToString();
      EXPECT_LE(plan.groups.size(), static_cast<size_t>(GrowthCount(Rp(code).CopyCount())));
      if (plan.groups.size() < static_cast<size_t>(GrowthCount(Rp(code).CopyCount()))) {
        EXPECT_EQ(plan.error.code(), Code::kNoSpace) << code;
      }
      for (const auto& [address, n] : SlotsUsed(plan)) EXPECT_LE(n, free[address]) << code << " " << address;
      for (const PlannedGroup& g : plan.groups) {
        EXPECT_TRUE(all_ids.insert(g.info.id.value()).second) << "id " << g.info.id << " planned twice";
        EXPECT_GT(g.info.id, topo_.MaxGroupId());
        EXPECT_EQ(std::set<std::string>(g.addresses.begin(), g.addresses.end()).size(), g.addresses.size());
      }
    }
  }
}

}  // namespace
}  // namespace cfs::master
