#include "master/cluster_map.h"

#include <gtest/gtest.h>

namespace cfs::master {
namespace {

proto::MasterCommand Node(const std::string& address, int slots = 7, const std::string& rack = "r1") {
  proto::MasterCommand c;
  auto* n = c.mutable_register_node();
  n->set_address(address);
  n->set_data_center("dc1");
  n->set_rack(rack);
  n->set_max_block_groups(slots);
  return c;
}

proto::MasterCommand Group(uint32_t id, std::vector<std::string> replicas) {
  proto::MasterCommand c;
  auto* g = c.mutable_register_block_group();
  g->set_id(id);
  g->set_collection("c");
  g->set_placement("001");
  for (auto& r : replicas) g->add_replicas(r);
  return c;
}

proto::MasterCommand Reserve(proto::IdKind kind, uint64_t from, uint64_t to) {
  proto::MasterCommand c;
  auto* r = c.mutable_reserve_ids();
  r->set_kind(kind);
  r->set_from(from);
  r->set_to(to);
  return c;
}

TEST(ClusterMapTest, MarksStartAtOne) {
  ClusterMap m;
  EXPECT_EQ(m.mark(proto::ID_NEEDLE), 1u);
  EXPECT_EQ(m.mark(proto::ID_BLOCK_GROUP), 1u);
}

TEST(ClusterMapTest, ReservationMovesTheMarkOnlyFromTheCurrentMark) {
  ClusterMap m;
  ASSERT_TRUE(m.Apply(Reserve(proto::ID_NEEDLE, 1, 10001)).ok());
  EXPECT_EQ(m.mark(proto::ID_NEEDLE), 10001u);
  // A second leader that read the old mark loses: its range would overlap.
  Status s = m.Apply(Reserve(proto::ID_NEEDLE, 1, 10001));
  EXPECT_TRUE(s.Is(Code::kAborted)) << s.ToString();
  EXPECT_NE(s.message().find("the mark is 10001"), std::string::npos) << s.ToString();
  EXPECT_EQ(m.mark(proto::ID_NEEDLE), 10001u);
  EXPECT_EQ(m.mark(proto::ID_BLOCK_GROUP), 1u);
}

TEST(ClusterMapTest, RegisteredBlockGroupLiftsItsMark) {
  ClusterMap m;
  ASSERT_TRUE(m.Apply(Group(40, {"a:1"})).ok());
  EXPECT_EQ(m.mark(proto::ID_BLOCK_GROUP), 41u);
  ASSERT_TRUE(m.Apply(Group(3, {"a:1"})).ok());
  EXPECT_EQ(m.mark(proto::ID_BLOCK_GROUP), 41u);
}

TEST(ClusterMapTest, RegisterNodeReplacesItsRecord) {
  ClusterMap m;
  ASSERT_TRUE(m.Apply(Node("a:1", 7, "r1")).ok());
  ASSERT_TRUE(m.Apply(Node("a:1", 9, "r2")).ok());
  proto::NodeRecord n;
  ASSERT_TRUE(m.FindNode("a:1", &n));
  EXPECT_EQ(n.rack(), "r2");
  EXPECT_EQ(n.max_block_groups(), 9);
  EXPECT_FALSE(m.FindNode("b:1", &n));
}

TEST(ClusterMapTest, InvalidCommandsAreRefusedWithoutChange) {
  ClusterMap m;
  EXPECT_TRUE(m.Apply(proto::MasterCommand()).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m.Apply(Node("")).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m.Apply(Node("a:1", -1)).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m.Apply(Group(0, {"a:1"})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m.Apply(Group(5, {})).Is(Code::kInvalidArgument));
  auto bad_placement = Group(5, {"a:1"});
  bad_placement.mutable_register_block_group()->set_placement("9x");
  EXPECT_TRUE(m.Apply(bad_placement).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m.Apply(Reserve(proto::ID_NEEDLE, 5, 5)).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m.Apply(Reserve(proto::ID_NEEDLE, 0, 5)).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m.Apply(Reserve(proto::ID_BLOCK_GROUP, 1, uint64_t{1} << 33)).Is(Code::kNoSpace));
  EXPECT_EQ(m.Copy().SerializeAsString(), ClusterMap().Copy().SerializeAsString());
}

TEST(ClusterMapTest, LogEntryThatDoesNotParseIsCorruption) {
  ClusterMap m;
  EXPECT_TRUE(m.Apply(LogIndex(3), std::string("\xff\xff\xff", 3)).status().Is(Code::kCorruption));
}

TEST(ClusterMapTest, SnapshotRestoresTheSameMap) {
  ClusterMap a;
  ASSERT_TRUE(a.Apply(LogIndex(1), Node("a:1").SerializeAsString()).ok());
  ASSERT_TRUE(a.Apply(LogIndex(2), Group(7, {"a:1", "b:1"}).SerializeAsString()).ok());
  ASSERT_TRUE(a.Apply(LogIndex(3), Reserve(proto::ID_NEEDLE, 1, 500).SerializeAsString()).ok());
  auto snap = a.Snapshot();
  ASSERT_TRUE(snap.ok());
  ClusterMap b;
  ASSERT_TRUE(b.Apply(Node("stale:1")).ok());
  ASSERT_TRUE(b.Restore(*snap).ok());
  EXPECT_EQ(b.Copy().SerializeAsString(), a.Copy().SerializeAsString());
  proto::NodeRecord n;
  EXPECT_FALSE(b.FindNode("stale:1", &n));
  EXPECT_EQ(b.mark(proto::ID_NEEDLE), 500u);
  EXPECT_EQ(b.mark(proto::ID_BLOCK_GROUP), 8u);
  EXPECT_TRUE(b.Restore("\xff\xff").Is(Code::kCorruption));
}

}  // namespace
}  // namespace cfs::master
