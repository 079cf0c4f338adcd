// ExecuteRead: every read of METANODE_READ against a bare partition.
#include "metanode/read.h"

#include <gtest/gtest.h>

#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;

class ReadTest : public PartitionTest {
 protected:
  proto::MetaResponse Read(void (*fill)(proto::MetaReadRequest&, uint64_t), uint64_t arg = 0) {
    proto::MetaReadRequest req;
    fill(req, arg);
    return ExecuteRead(*p_, req, 0);
  }
};

TEST_F(ReadTest, EveryReadAnswersFromTheTrees) {
  const uint64_t d = Dir(1, "d");
  const uint64_t f = File(d, "f");
  File(d, "g");
  proto::MetaReadRequest lookup;
  lookup.mutable_lookup()->set_parent(d);
  lookup.mutable_lookup()->set_name("f");
  EXPECT_EQ(ExecuteRead(*p_, lookup, 0).attr().inode(), f);

  EXPECT_EQ(Read([](auto& r, uint64_t i) { r.mutable_get_attr()->set_inode(i); }, f).attr().inode(), f);
  auto batch = Read([](auto& r, uint64_t i) {
    r.mutable_batch_get_attr()->add_inodes(i);
    r.mutable_batch_get_attr()->add_inodes(999999);
  }, f);
  ASSERT_EQ(batch.attrs_size(), 1);
  auto list = Read([](auto& r, uint64_t i) { r.mutable_read_dir()->set_parent(i); r.mutable_read_dir()->set_limit(1); }, d);
  ASSERT_EQ(list.entries_size(), 1);
  EXPECT_EQ(list.entries(0).name(), "f");
  EXPECT_TRUE(list.more());
  auto all = Read([](auto& r, uint64_t i) { r.mutable_read_dir()->set_parent(i); }, d);  // limit 0: the most allowed
  EXPECT_EQ(all.entries_size(), 2);
  EXPECT_FALSE(all.more());
  EXPECT_EQ(Read([](auto& r, uint64_t) { r.mutable_stat_fs(); }).statfs().inodes(), 4u);
  EXPECT_EQ(Read([](auto& r, uint64_t i) { r.mutable_get_extents()->set_inode(i); }, f).extents_size(), 0);
  EXPECT_EQ(Read([](auto& r, uint64_t i) { r.mutable_list_xattr()->set_inode(i); }, f).names_size(), 0);
}

TEST_F(ReadTest, ErrorsAreTheAnswersCode) {
  EXPECT_EQ(Read([](auto& r, uint64_t) { r.mutable_get_attr()->set_inode(424242); }).code(),
            static_cast<uint32_t>(Code::kNotFound));
  const uint64_t f = File(1, "f");
  auto xattr = Read([](auto& r, uint64_t i) {
    r.mutable_get_xattr()->set_inode(i);
    r.mutable_get_xattr()->set_name("user.none");
  }, f);
  EXPECT_EQ(xattr.code(), static_cast<uint32_t>(Code::kNoAttribute));
  EXPECT_EQ(Read([](auto& r, uint64_t i) { r.mutable_read_link()->set_inode(i); }, f).code(),
            static_cast<uint32_t>(Code::kInvalidArgument));
  EXPECT_EQ(Read([](auto&, uint64_t) {}).code(), static_cast<uint32_t>(Code::kInvalidArgument));
  auto huge = Read([](auto& r, uint64_t) {
    for (int i = 0; i < 5000; ++i) r.mutable_batch_get_attr()->add_inodes(1);
  });
  EXPECT_EQ(huge.code(), static_cast<uint32_t>(Code::kInvalidArgument));
  EXPECT_EQ(huge.attrs_size(), 0);
}

}  // namespace
}  // namespace cfs::metanode
