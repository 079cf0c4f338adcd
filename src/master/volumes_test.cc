// The volume records of the ClusterMap and the MetaView's choices.
#include <gtest/gtest.h>

#include "master/cluster_map.h"
#include "master/meta_view.h"

namespace cfs::master {
namespace {

proto::MasterCommand MetaNode(uint64_t id, const std::string& address) {
  proto::MasterCommand c;
  c.mutable_register_meta_node()->set_id(id);
  c.mutable_register_meta_node()->set_address(address);
  return c;
}

proto::MetaPartitionRecord Part(uint64_t id, uint64_t volume, uint64_t start, uint64_t end,
                                std::vector<uint64_t> peers = {1, 2, 3}) {
  proto::MetaPartitionRecord p;
  p.set_id(id);
  p.set_volume(volume);
  p.set_start(start);
  p.set_end(end);
  for (uint64_t n : peers) p.add_peers(n);
  return p;
}

proto::MasterCommand Volume(const std::string& name, uint64_t id, std::vector<proto::MetaPartitionRecord> parts) {
  proto::MasterCommand c;
  auto* v = c.mutable_create_volume();
  v->set_id(id);
  v->set_name(name);
  v->set_replicas(3);
  for (auto& p : parts) *v->add_partitions() = p;
  return c;
}

class VolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (uint64_t i = 1; i <= 4; ++i) ASSERT_TRUE(m_.Apply(MetaNode(i, "127.0.0." + std::to_string(i) + ":9400")).ok());
  }
  ClusterMap m_;
};

TEST_F(VolumesTest, MetaNodeRegistrationIsIdempotentAndIdsAndAddressesAreUnique) {
  EXPECT_TRUE(m_.Apply(MetaNode(1, "127.0.0.1:9400")).ok());
  EXPECT_TRUE(m_.Apply(MetaNode(1, "127.0.0.9:9400")).Is(Code::kExists));
  EXPECT_TRUE(m_.Apply(MetaNode(9, "127.0.0.1:9400")).Is(Code::kExists));
  EXPECT_TRUE(m_.Apply(MetaNode(0, "x:1")).Is(Code::kInvalidArgument));
  EXPECT_EQ(m_.MetaNodeId("127.0.0.2:9400"), 2u);
  EXPECT_EQ(m_.MetaNodeId("nowhere:1"), 0u);
  EXPECT_EQ(m_.NextMetaNodeId(), 5u);
}

TEST_F(VolumesTest, AVolumeCoversEveryInodeIdFromOneWithAnOpenLastPartition) {
  ASSERT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, 100), Part(2, 1, 101, kOpenEnd)})).ok());
  auto v = m_.FindVolume("v");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->partitions_size(), 2);
  EXPECT_EQ(m_.NextVolumeId(), 2u);
  EXPECT_EQ(m_.NextPartitionId(), 3u);
  EXPECT_TRUE(m_.FindVolume("w").status().Is(Code::kNotFound));
}

TEST_F(VolumesTest, BadVolumesAreRefusedAndLeaveNothing) {
  // A gap, an overlap, a start other than 1, a closed end.
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, 100), Part(2, 1, 102, kOpenEnd)})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, 100), Part(2, 1, 100, kOpenEnd)})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 2, kOpenEnd)})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, 100)})).Is(Code::kInvalidArgument));
  // Peers: as many as the replicas, registered, distinct.
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, kOpenEnd, {1, 2})})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, kOpenEnd, {1, 2, 7})})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, kOpenEnd, {1, 2, 2})})).Is(Code::kInvalidArgument));
  // A partition of another volume's id.
  EXPECT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 2, 1, kOpenEnd)})).Is(Code::kInvalidArgument));
  // Names.
  EXPECT_TRUE(m_.Apply(Volume("", 1, {Part(1, 1, 1, kOpenEnd)})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Volume("a/b", 1, {Part(1, 1, 1, kOpenEnd)})).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Volume(std::string(kMaxVolumeNameBytes + 1, 'a'), 1, {Part(1, 1, 1, kOpenEnd)}))
                  .Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Volumes().empty());
  // Duplicates of a name, a volume id, a partition id.
  ASSERT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, kOpenEnd)})).ok());
  EXPECT_TRUE(m_.Apply(Volume("v", 2, {Part(2, 2, 1, kOpenEnd)})).Is(Code::kExists));
  EXPECT_TRUE(m_.Apply(Volume("w", 1, {Part(2, 1, 1, kOpenEnd)})).Is(Code::kExists));
  EXPECT_TRUE(m_.Apply(Volume("w", 2, {Part(1, 2, 1, kOpenEnd)})).Is(Code::kExists));
  EXPECT_EQ(m_.Volumes().size(), 1u);
}

proto::MasterCommand Update(const proto::MetaPartitionRecord& p, const proto::MetaPartitionRecord* split = nullptr) {
  proto::MasterCommand c;
  *c.mutable_update_partition()->mutable_partition() = p;
  if (split) *c.mutable_update_partition()->mutable_split_off() = *split;
  return c;
}

TEST_F(VolumesTest, ASplitFixesTheLastEndAndAddsTheRestInOneEntry) {
  ASSERT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, kOpenEnd)})).ok());
  const auto off = Part(2, 1, 5001, kOpenEnd, {2, 3, 4});
  ASSERT_TRUE(m_.Apply(Update(Part(1, 1, 1, 5000), &off)).ok());
  auto v = m_.FindVolume("v").value();
  ASSERT_EQ(v.partitions_size(), 2);
  EXPECT_EQ(v.partitions(0).end(), 5000u);
  EXPECT_EQ(v.partitions(1).start(), 5001u);
  EXPECT_EQ(v.partitions(1).end(), kOpenEnd);
  // Only the last partition splits, into [end + 1, open], under a new id.
  const auto bad_start = Part(3, 1, 4001, kOpenEnd);
  EXPECT_TRUE(m_.Apply(Update(Part(1, 1, 1, 4000), &bad_start)).Is(Code::kInvalidArgument));
  const auto again = Part(3, 1, 9001, kOpenEnd);
  EXPECT_TRUE(m_.Apply(Update(Part(2, 1, 5001, 9000, {2, 3, 4}), &again)).ok());
  const auto dup = Part(1, 1, 12001, kOpenEnd);
  EXPECT_TRUE(m_.Apply(Update(Part(3, 1, 9001, 12000), &dup)).Is(Code::kExists));
  // An end may not grow, nor change without a split.
  EXPECT_TRUE(m_.Apply(Update(Part(1, 1, 1, 6000))).Is(Code::kInvalidArgument));
  EXPECT_TRUE(m_.Apply(Update(Part(1, 1, 1, 4000))).Is(Code::kInvalidArgument));
  EXPECT_EQ(m_.FindVolume("v").value().partitions_size(), 3);
}

TEST_F(VolumesTest, AMoveReplacesThePeersAndSurvivesASnapshot) {
  ASSERT_TRUE(m_.Apply(Volume("v", 1, {Part(1, 1, 1, kOpenEnd)})).ok());
  ASSERT_TRUE(m_.Apply(Update(Part(1, 1, 1, kOpenEnd, {4, 2, 3}))).ok());
  EXPECT_TRUE(m_.Apply(Update(Part(7, 1, 1, kOpenEnd))).Is(Code::kNotFound));
  EXPECT_TRUE(m_.Apply(Update(Part(1, 9, 1, kOpenEnd))).Is(Code::kNotFound));
  ClusterMap copy;
  ASSERT_TRUE(copy.Restore(m_.Snapshot().value()).ok());
  auto v = copy.FindVolume("v").value();
  EXPECT_EQ(v.partitions(0).peers(0), 4u);
  EXPECT_EQ(copy.MetaNodes().size(), 4u);
  EXPECT_EQ(copy.NextPartitionId(), 2u);
}

proto::MetaHeartbeatRequest Beat(const std::string& address, uint64_t memory, uint64_t limit,
                                 std::vector<std::pair<uint64_t, bool>> partitions) {
  proto::MetaHeartbeatRequest hb;
  hb.set_address(address);
  hb.set_memory_bytes(memory);
  hb.set_memory_limit_bytes(limit);
  for (auto [id, leader] : partitions) {
    auto* p = hb.add_partitions();
    p->set_id(id);
    p->set_leader(leader);
    p->set_inodes(leader ? 100 : 99);
  }
  return hb;
}

TEST(MetaViewTest, ChoosesFewestPartitionsThenLeastMemoryAmongLiveOnes) {
  using std::chrono::seconds;
  MetaView view;
  view.ApplyHeartbeat(1, Beat("a", 50, 100, {{1, true}, {2, false}}), seconds(10));
  view.ApplyHeartbeat(2, Beat("b", 80, 100, {{1, false}}), seconds(10));
  view.ApplyHeartbeat(3, Beat("c", 10, 100, {{2, true}}), seconds(10));
  view.ApplyHeartbeat(4, Beat("d", 0, 0, {}), seconds(1));
  EXPECT_EQ(view.Choose(1, {}).value(), std::vector<uint64_t>{4});
  EXPECT_EQ(view.Choose(3, {}).value(), (std::vector<uint64_t>{4, 3, 2}));
  EXPECT_EQ(view.Choose(2, {4}).value(), (std::vector<uint64_t>{3, 2}));
  // A placed replica counts before the node reports it.
  view.NotePlaced(4);
  view.NotePlaced(4);
  EXPECT_EQ(view.Choose(1, {}).value(), std::vector<uint64_t>{3});
  // Silent nodes die, and are not chosen.
  EXPECT_EQ(view.MarkDead(seconds(14), seconds(5)), std::vector<uint64_t>{4});
  EXPECT_FALSE(view.Alive(4));
  EXPECT_EQ(view.LiveCount(), 3u);
  EXPECT_TRUE(view.Choose(4, {}).status().Is(Code::kNoSpace));
  // Reports: the leader's wins over a follower's.
  EXPECT_EQ(view.Leader(1), 1u);
  EXPECT_EQ(view.Report(1)->inodes(), 100u);
  EXPECT_EQ(view.Leader(9), 0u);
  EXPECT_EQ(view.Report(9), nullptr);
  view.ApplyHeartbeat(2, Beat("b", 80, 100, {{1, true}}), seconds(16));
  EXPECT_EQ(view.Leader(1), 2u);
}

}  // namespace
}  // namespace cfs::master
