#include "master/topology.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "master/topology_test_util.h"

namespace cfs::master {
namespace {

using namespace cfs::master::test;  // NOLINT: test builders
using Addrs = std::vector<std::string>;

constexpr std::chrono::nanoseconds kDeadAfter = std::chrono::seconds(10);

TEST(TopologyTest, HeartbeatPlacesNodesUnderDataCenterAndRack) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("10.0.0.2:8080", "dc1", "r2", 5), T(1));
  topo.ApplyHeartbeat(Hb("10.0.0.1:8080", "dc1", "r1", 3), T(1));
  topo.ApplyHeartbeat(Hb("10.0.1.1:8080", "", "", 4), T(1));
  TopologySnapshot snap = topo.Snapshot();
  ASSERT_EQ(snap.data_centers.size(), 2u);
  EXPECT_EQ(snap.data_centers[0].name, kDefaultDataCenter);
  ASSERT_EQ(snap.data_centers[0].racks.size(), 1u);
  EXPECT_EQ(snap.data_centers[0].racks[0].name, kDefaultRack);
  EXPECT_EQ(snap.data_centers[1].name, "dc1");
  ASSERT_EQ(snap.data_centers[1].racks.size(), 2u);
  EXPECT_EQ(snap.data_centers[1].racks[0].name, "r1");
  EXPECT_EQ(snap.data_centers[1].racks[0].nodes[0].address, "10.0.0.1:8080");
  EXPECT_EQ(snap.data_centers[1].racks[1].nodes[0].address, "10.0.0.2:8080");
  EXPECT_EQ(snap.free_slots, 12);
  EXPECT_EQ(topo.FreeSlots(), 12);
  NodePlace p = FindNode(snap, "10.0.0.2:8080");
  ASSERT_NE(p.node, nullptr);
  EXPECT_TRUE(p.node->alive);
  EXPECT_EQ(p.node->max_block_groups, 5);
  EXPECT_EQ(p.node->used, 0);
  EXPECT_EQ(p.node->free, 5);
  EXPECT_EQ(p.node->last_heartbeat, T(1));
}

TEST(TopologyTest, HeartbeatWithNewRackMovesTheNodeAndDropsEmptyRacks) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("a:1", "dc1", "r1", 2, {Bg(1)}), T(1));
  topo.ApplyHeartbeat(Hb("b:1", "dc1", "r1", 2), T(1));
  topo.ApplyHeartbeat(Hb("a:1", "dc2", "r9", 2, {Bg(1)}), T(2));
  TopologySnapshot snap = topo.Snapshot();
  NodePlace a = FindNode(snap, "a:1");
  ASSERT_NE(a.node, nullptr);
  EXPECT_EQ(a.data_center, "dc2");
  EXPECT_EQ(a.rack, "r9");
  EXPECT_EQ(FindNode(snap, "b:1").rack, "r1");
  topo.ApplyHeartbeat(Hb("b:1", "dc2", "r9", 2), T(3));
  snap = topo.Snapshot();
  ASSERT_EQ(snap.data_centers.size(), 1u) << "dc1 has no node left";
  ASSERT_EQ(snap.data_centers[0].racks.size(), 1u);
  EXPECT_EQ(snap.data_centers[0].racks[0].nodes.size(), 2u);
  EXPECT_EQ(topo.Lookup(BlockGroupId(1)), Addrs{"a:1"});
}

TEST(TopologyTest, ReplicasAreWhatNodesReport) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 5, {Bg(7, "001"), Bg(8)}), T(1));
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 5, {Bg(7, "001")}), T(1));
  EXPECT_EQ(topo.Lookup(BlockGroupId(7)), (Addrs{"a:1", "b:1"}));
  EXPECT_EQ(topo.Lookup(BlockGroupId(8)), Addrs{"a:1"});
  EXPECT_TRUE(topo.Lookup(BlockGroupId(9)).empty());
  EXPECT_EQ(topo.FreeSlots(), 3 + 4);
  EXPECT_TRUE(topo.IsWritable(BlockGroupId(7)));
  EXPECT_TRUE(topo.IsWritable(BlockGroupId(8)));

  // The next heartbeat of a replaces its list: it no longer holds 7.
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 5, {Bg(8)}), T(2));
  EXPECT_EQ(topo.Lookup(BlockGroupId(7)), Addrs{"b:1"});
  EXPECT_FALSE(topo.IsWritable(BlockGroupId(7))) << "one replica of a 2-copy group";
  EXPECT_EQ(topo.FreeSlots(), 4 + 4);

  // When nobody holds it, the group is gone, but its id stays the maximum seen.
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 5), T(2));
  EXPECT_TRUE(topo.Lookup(BlockGroupId(7)).empty());
  EXPECT_EQ(topo.MaxGroupId(), BlockGroupId(8));
  TopologySnapshot snap = topo.Snapshot();
  ASSERT_EQ(snap.block_groups.size(), 1u);
  EXPECT_EQ(snap.block_groups[0].id, BlockGroupId(8));
}

TEST(TopologyTest, MaxGroupIdNeverGoesDown) {
  Topology topo;
  EXPECT_EQ(topo.MaxGroupId(), BlockGroupId(0));
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 5, {Bg(3), Bg(42)}), T(1));
  EXPECT_EQ(topo.MaxGroupId(), BlockGroupId(42));
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 5, {Bg(3)}), T(2));
  EXPECT_EQ(topo.MaxGroupId(), BlockGroupId(42));
  topo.RegisterGrownGroup(Bg(50), {"a:1"});
  EXPECT_EQ(topo.MaxGroupId(), BlockGroupId(50));
}

TEST(TopologyTest, NodesNotHeardFromAreMarkedDeadOnceAndRevivedByHeartbeat) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 4, {Bg(1, "001")}), T(100));
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 4, {Bg(1, "001")}), T(100));
  topo.ApplyHeartbeat(Hb("c:1", "dc", "r", 4), T(105));
  EXPECT_TRUE(topo.IsWritable(BlockGroupId(1)));

  EXPECT_TRUE(topo.MarkDeadNodes(T(110), kDeadAfter).empty()) << "exactly dead_after is not yet dead";
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 4, {Bg(1, "001")}), T(109));
  EXPECT_EQ(topo.MarkDeadNodes(T(111), kDeadAfter), Addrs{"b:1"});
  EXPECT_TRUE(topo.MarkDeadNodes(T(111), kDeadAfter).empty()) << "already dead";
  EXPECT_FALSE(topo.IsAlive("b:1"));
  EXPECT_TRUE(topo.HasNode("b:1"));

  // b's replica is unavailable: listed last, and the group is not writable.
  EXPECT_EQ(topo.Lookup(BlockGroupId(1)), (Addrs{"a:1", "b:1"}));
  EXPECT_FALSE(topo.IsWritable(BlockGroupId(1)));
  EXPECT_EQ(topo.FreeSlots(), 3 + 4) << "a dead node offers no slots";
  TopologySnapshot snap = topo.Snapshot();
  ASSERT_NE(FindNode(snap, "b:1").node, nullptr);
  EXPECT_FALSE(FindNode(snap, "b:1").node->alive);
  ASSERT_EQ(snap.block_groups.size(), 1u);
  EXPECT_EQ(snap.block_groups[0].live_replicas, 1);
  EXPECT_FALSE(snap.block_groups[0].writable);

  EXPECT_EQ(topo.MarkDeadNodes(T(120), kDeadAfter), (Addrs{"a:1", "c:1"}));
  EXPECT_EQ(topo.FreeSlots(), 0);

  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 4, {Bg(1, "001")}), T(121));
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 4, {Bg(1, "001")}), T(121));
  EXPECT_TRUE(topo.IsAlive("b:1"));
  EXPECT_TRUE(topo.IsWritable(BlockGroupId(1)));
  EXPECT_EQ(topo.Lookup(BlockGroupId(1)), (Addrs{"a:1", "b:1"}));
  EXPECT_EQ(topo.FreeSlots(), 6);
}

TEST(TopologyTest, LookupListsLiveReplicasFirstKeepingReplicaOrder) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("c:1", "dc", "r", 4, {Bg(1, "002")}), T(1));
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 4, {Bg(1, "002")}), T(5));
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 4, {Bg(1, "002")}), T(5));
  EXPECT_EQ(topo.Lookup(BlockGroupId(1)), (Addrs{"c:1", "a:1", "b:1"}));
  topo.MarkDeadNodes(T(12), kDeadAfter);
  EXPECT_EQ(topo.Lookup(BlockGroupId(1)), (Addrs{"a:1", "b:1", "c:1"}));
}

class WritableTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kLimit = 1000;
  // Group 1 (placement 001, collection "pics") on a and b.
  void Report(BlockGroupInfo a, BlockGroupInfo b, std::chrono::nanoseconds now = T(1)) {
    topo_.ApplyHeartbeat(Hb("a:1", "dc", "r", 10, {std::move(a)}), now);
    topo_.ApplyHeartbeat(Hb("b:1", "dc", "r", 10, {std::move(b)}), now);
  }
  BlockGroupInfo G(uint64_t size = 0) const { return Bg(1, "001", "pics", size); }
  std::optional<AssignTarget> Pick() { return topo_.PickWritable("pics", Rp("001"), Ttl{}, rng_); }

  Topology topo_{kLimit};
  std::mt19937_64 rng_{1};
};

TEST_F(WritableTest, HealthyGroupIsWritableAndPicked) {
  Report(G(10), G(12));
  auto target = Pick();
  ASSERT_TRUE(target.has_value());
  EXPECT_EQ(target->id, BlockGroupId(1));
  EXPECT_EQ(target->addresses, (Addrs{"a:1", "b:1"}));
  EXPECT_FALSE(topo_.PickWritable("other", Rp("001"), Ttl{}, rng_).has_value());
  EXPECT_FALSE(topo_.PickWritable("pics", Rp("000"), Ttl{}, rng_).has_value());
  EXPECT_FALSE(topo_.PickWritable("pics", Rp("001"), Ttl{3, TtlUnit::kDay}, rng_).has_value());
  EXPECT_TRUE(topo_.PickWritable("pics", Rp("001"), Ttl{0, TtlUnit::kMinute}, rng_).has_value())
      << "an empty TTL is an empty TTL, whatever its unit";
}

TEST_F(WritableTest, SizeAtTheLimitOnAnyReplicaIsNotWritable) {
  Report(G(kLimit - 1), G(kLimit - 1));
  EXPECT_TRUE(topo_.IsWritable(BlockGroupId(1)));
  Report(G(kLimit - 1), G(kLimit));
  EXPECT_FALSE(topo_.IsWritable(BlockGroupId(1)));
  EXPECT_FALSE(Pick().has_value());
}

TEST_F(WritableTest, ReadOnlyReplicaMakesGroupNotWritable) {
  BlockGroupInfo ro = G();
  ro.read_only = true;
  Report(G(), ro);
  EXPECT_FALSE(topo_.IsWritable(BlockGroupId(1)));
  EXPECT_FALSE(Pick().has_value());
  TopologySnapshot snap = topo_.Snapshot();
  ASSERT_EQ(snap.block_groups.size(), 1u);
  EXPECT_TRUE(snap.block_groups[0].read_only);
  Report(G(), G());
  EXPECT_TRUE(topo_.IsWritable(BlockGroupId(1)));
}

TEST_F(WritableTest, MissingOrExtraReplicaIsNotWritable) {
  topo_.ApplyHeartbeat(Hb("a:1", "dc", "r", 10, {G()}), T(1));
  EXPECT_FALSE(topo_.IsWritable(BlockGroupId(1)));
  topo_.ApplyHeartbeat(Hb("b:1", "dc", "r", 10, {G()}), T(1));
  EXPECT_TRUE(topo_.IsWritable(BlockGroupId(1)));
  topo_.ApplyHeartbeat(Hb("c:1", "dc", "r", 10, {G()}), T(1));
  EXPECT_FALSE(topo_.IsWritable(BlockGroupId(1))) << "3 replicas of a 2-copy group";
}

TEST_F(WritableTest, DeadReplicaIsNotWritableUntilRevived) {
  Report(G(), G(), T(1));
  topo_.ApplyHeartbeat(Hb("a:1", "dc", "r", 10, {G()}), T(20));
  EXPECT_EQ(topo_.MarkDeadNodes(T(20), kDeadAfter), Addrs{"b:1"});
  EXPECT_FALSE(topo_.IsWritable(BlockGroupId(1)));
  EXPECT_FALSE(Pick().has_value());
  topo_.ApplyHeartbeat(Hb("b:1", "dc", "r", 10, {G()}), T(21));
  EXPECT_TRUE(topo_.IsWritable(BlockGroupId(1)));
}

TEST_F(WritableTest, ReplicasDisagreeingOnLayoutAreNotWritable) {
  BlockGroupInfo other = G();
  other.collection = "docs";
  Report(G(), other);
  EXPECT_FALSE(topo_.IsWritable(BlockGroupId(1)));
}

TEST(TopologyTest, PickWritableChoosesAmongWritableGroupsOfTheLayout) {
  Topology topo(1000);
  // Groups 1..6 of placement 000 on a; 3 is full, 5 is read-only; 7 is another collection.
  std::vector<BlockGroupInfo> groups;
  for (uint32_t id = 1; id <= 6; ++id) groups.push_back(Bg(id, "000", "c", id == 3 ? 1000 : 10));
  groups[4].read_only = true;
  groups.push_back(Bg(7, "000", "d"));
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 20, groups), T(1));

  std::map<uint32_t, int> picks;
  for (uint64_t seed = 0; seed < 400; ++seed) {
    std::mt19937_64 rng(seed);
    auto t = topo.PickWritable("c", Rp("000"), Ttl{}, rng);
    ASSERT_TRUE(t.has_value());
    ++picks[t->id.value()];
    EXPECT_EQ(t->addresses, Addrs{"a:1"});
  }
  EXPECT_EQ(picks.size(), 4u);
  for (uint32_t id : {1u, 2u, 4u, 6u}) EXPECT_GT(picks[id], 50) << id;

  // The same seed gives the same choice.
  std::mt19937_64 r1(7), r2(7);
  EXPECT_EQ(topo.PickWritable("c", Rp("000"), Ttl{}, r1)->id, topo.PickWritable("c", Rp("000"), Ttl{}, r2)->id);
}

TEST(TopologyTest, GrownGroupCountsAgainstSlotsAndIsWritableAtOnce) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 3), T(1));
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 3), T(1));
  EXPECT_EQ(topo.FreeSlots(), 6);
  BlockGroupInfo g = Bg(5, "001", "c");
  topo.RegisterGrownGroup(g, {"b:1", "a:1", "nobody:1"});
  EXPECT_EQ(topo.FreeSlots(), 4);
  EXPECT_TRUE(topo.IsWritable(BlockGroupId(5)));
  EXPECT_EQ(topo.Lookup(BlockGroupId(5)), (Addrs{"b:1", "a:1"})) << "primary first, unknown node skipped";
  std::mt19937_64 rng(3);
  auto t = topo.PickWritable("c", Rp("001"), Ttl{}, rng);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->addresses, (Addrs{"b:1", "a:1"}));
  TopologySnapshot snap = topo.Snapshot();
  EXPECT_EQ(FindNode(snap, "a:1").node->used, 1);

  // Reported: no double count, and the replica order (primary) stays.
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 3, {g}), T(2));
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 3, {g}), T(2));
  EXPECT_EQ(topo.FreeSlots(), 4);
  EXPECT_TRUE(topo.IsWritable(BlockGroupId(5)));
  EXPECT_EQ(topo.Lookup(BlockGroupId(5)), (Addrs{"b:1", "a:1"}));
  // Registering again (a retried growth) does not reserve a second slot.
  topo.RegisterGrownGroup(g, {"b:1", "a:1"});
  EXPECT_EQ(topo.FreeSlots(), 4);
}

TEST(TopologyTest, ReservationSurvivesOneStaleHeartbeatAndIsDroppedAtTheSecond) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 3), T(1));
  topo.RegisterGrownGroup(Bg(9), {"a:1"});
  EXPECT_EQ(topo.FreeSlots(), 2);
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 3), T(2));  // composed before the allocation
  EXPECT_EQ(topo.FreeSlots(), 2);
  EXPECT_TRUE(topo.IsWritable(BlockGroupId(9)));
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 3), T(3));  // the node really lacks it
  EXPECT_EQ(topo.FreeSlots(), 3);
  EXPECT_TRUE(topo.Lookup(BlockGroupId(9)).empty());
  EXPECT_FALSE(topo.IsWritable(BlockGroupId(9)));
}

TEST(TopologyTest, DeathDropsReservations) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 3), T(1));
  topo.RegisterGrownGroup(Bg(9), {"a:1"});
  EXPECT_EQ(topo.MarkDeadNodes(T(100), kDeadAfter), Addrs{"a:1"});
  EXPECT_TRUE(topo.Lookup(BlockGroupId(9)).empty());
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 3), T(101));
  EXPECT_EQ(topo.FreeSlots(), 3);
}

TEST(TopologyTest, FreeSlotsNeverNegative) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 2, Fillers(1, 4)), T(1));  // over its max
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 2, Fillers(10, 1)), T(1));
  EXPECT_EQ(topo.FreeSlots(), 1);
  TopologySnapshot snap = topo.Snapshot();
  EXPECT_EQ(FindNode(snap, "a:1").node->used, 4);
  EXPECT_EQ(FindNode(snap, "a:1").node->free, 0);
}

TEST(TopologyTest, GroupsOverGarbageUsesAnyLiveReplica) {
  Topology topo;
  auto g = [](uint32_t id, uint64_t size, uint64_t garbage) {
    BlockGroupInfo b = Bg(id, "001");
    b.size_bytes = size;
    b.garbage_bytes = garbage;
    return b;
  };
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 9, {g(1, 100, 10), g(2, 100, 31), g(3, 0, 0), g(4, 100, 30)}), T(1));
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 9, {g(1, 100, 50), g(2, 100, 0), g(5, 100, 90)}), T(1));
  EXPECT_EQ(topo.GroupsOverGarbage(0.3),
            (std::vector<BlockGroupId>{BlockGroupId(1), BlockGroupId(2), BlockGroupId(5)}));
  EXPECT_EQ(topo.GroupsOverGarbage(0.95), std::vector<BlockGroupId>{});
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 9, {g(1, 100, 10), g(2, 100, 31)}), T(20));
  topo.MarkDeadNodes(T(20), kDeadAfter);  // b dies: its reports cannot be vacuumed now
  EXPECT_EQ(topo.GroupsOverGarbage(0.3), std::vector<BlockGroupId>{BlockGroupId(2)});
}

TEST(TopologyTest, SnapshotAggregatesReplicas) {
  Topology topo(1 << 20);
  BlockGroupInfo a = Bg(4, "001", "pics", 500);
  a.needle_count = 5;
  a.garbage_bytes = 7;
  a.ttl = Ttl{3, TtlUnit::kDay};
  BlockGroupInfo b = a;
  b.size_bytes = 600;
  b.needle_count = 6;
  b.garbage_bytes = 1;
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", 4, {a}), T(1));
  topo.ApplyHeartbeat(Hb("b:1", "dc", "r", 4, {b}), T(1));
  TopologySnapshot snap = topo.Snapshot();
  ASSERT_EQ(snap.block_groups.size(), 1u);
  const auto& s = snap.block_groups[0];
  EXPECT_EQ(s.id, BlockGroupId(4));
  EXPECT_EQ(s.collection, "pics");
  EXPECT_EQ(s.placement, Rp("001"));
  EXPECT_EQ(s.ttl, (Ttl{3, TtlUnit::kDay}));
  EXPECT_EQ(s.replicas, (Addrs{"a:1", "b:1"}));
  EXPECT_EQ(s.live_replicas, 2);
  EXPECT_EQ(s.size_bytes, 600u);
  EXPECT_EQ(s.needle_count, 6u);
  EXPECT_EQ(s.garbage_bytes, 7u);
  EXPECT_FALSE(s.read_only);
  EXPECT_TRUE(s.writable);
  EXPECT_EQ(snap.free_slots, 6);
}

TEST(TopologyTest, ValidateHeartbeatNamesTheProblem) {
  EXPECT_TRUE(Topology::ValidateHeartbeat(Hb("a:1", "", "", 3, {Bg(1), Bg(2)})).ok());
  struct Case {
    HeartbeatInfo hb;
    std::string want;
  };
  std::vector<Case> cases = {
      {Hb("", "dc", "r", 3), "heartbeat without an address"},
      {Hb("a:1", "dc", "r", -1), "heartbeat from a:1: max_block_groups -1 is outside [0, 100000]"},
      {Hb("a:1", "dc", "r", kMaxBlockGroupsPerNode + 1),
       "heartbeat from a:1: max_block_groups 100001 is outside [0, 100000]"},
      {Hb("a:1", "dc", "r", 3, {Bg(0)}), "heartbeat from a:1: block group id 0"},
      {Hb("a:1", "dc", "r", 3, {Bg(2), Bg(2)}), "heartbeat from a:1: block group 2 listed twice"},
  };
  for (const Case& c : cases) {
    Status s = Topology::ValidateHeartbeat(c.hb);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << c.want;
    EXPECT_EQ(s.message(), c.want);
  }
}

TEST(TopologyTest, MalformedHeartbeatAppliedAnywayIsHarmless) {
  Topology topo;
  topo.ApplyHeartbeat(Hb("", "dc", "r", 3), T(1));
  EXPECT_TRUE(topo.Snapshot().data_centers.empty());
  BlockGroupInfo first = Bg(2);
  BlockGroupInfo last = Bg(2, "000", "", 99);
  topo.ApplyHeartbeat(Hb("a:1", "dc", "r", -5, {Bg(0), first, last}), T(1));
  EXPECT_EQ(topo.FreeSlots(), 0);
  TopologySnapshot snap = topo.Snapshot();
  ASSERT_EQ(snap.block_groups.size(), 1u);
  EXPECT_EQ(snap.block_groups[0].size_bytes, 99u);
  EXPECT_EQ(FindNode(snap, "a:1").node->used, 1);
}

TEST(TopologyTest, SameHistoryGivesSameSnapshotAndChoices) {
  auto build = [] {
    Topology topo;
    for (int i = 0; i < 9; ++i) {
      std::string addr = fmt::format("n{}:1", i);
      topo.ApplyHeartbeat(Hb(addr, fmt::format("dc{}", i % 3), fmt::format("r{}", i % 2), 5,
                             {Bg(static_cast<uint32_t>(i + 1))}),
                          T(i));
    }
    topo.MarkDeadNodes(T(14), kDeadAfter);
    return topo;
  };
  Topology t1 = build(), t2 = build();
  std::mt19937_64 r1(99), r2(99);
  for (int i = 0; i < 20; ++i) {
    auto a = t1.FindSlotsForOneGroup(Rp("110"), r1);
    auto b = t2.FindSlotsForOneGroup(Rp("110"), r2);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(*a, *b);
  }
  EXPECT_EQ(t1.Snapshot().free_slots, t2.Snapshot().free_slots);
  EXPECT_EQ(t1.Lookup(BlockGroupId(5)), t2.Lookup(BlockGroupId(5)));
}

}  // namespace
}  // namespace cfs::master
