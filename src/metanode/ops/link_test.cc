#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;
using testing::User;

using LinkTest = PartitionTest;

TEST_F(LinkTest, HardLinksCountAndTheInodeLivesUntilTheLastNameGoes) {
  const uint64_t f = File(1, "a");
  const uint64_t d = Dir(1, "d");
  Append(f, 0, 10, 5);
  now_ += 10;
  proto::MetaResponse r = Link(f, d, "b");
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().nlink(), 2u);
  EXPECT_EQ(r.attr().ctime_ns(), now_);
  EXPECT_EQ(Find(d, "b"), f);
  ASSERT_EQ(Link(f, 1, "c").code(), 0u);
  EXPECT_EQ(Attr(f).nlink(), 3u);
  ASSERT_EQ(Unlink(1, "a").code(), 0u);
  ASSERT_EQ(Unlink(d, "b").code(), 0u);
  EXPECT_EQ(Attr(f).nlink(), 1u);
  EXPECT_TRUE(p_->PendingDeletions(10).empty()) << "still linked: its data stays";
  ASSERT_EQ(Unlink(1, "c").code(), 0u);
  EXPECT_FALSE(Exists(f));
  EXPECT_EQ(p_->PendingDeletions(10).size(), 1u);
}

TEST_F(LinkTest, DirectoriesExistingNamesAndMissingInodesAreRefused) {
  const uint64_t d = Dir(1, "d");
  const uint64_t f = File(1, "f");
  EXPECT_EQ(CodeOf(Link(d, 1, "d2")), Code::kNotPermitted);
  EXPECT_EQ(CodeOf(Link(f, 1, "d")), Code::kExists);
  EXPECT_EQ(CodeOf(Link(999, 1, "x")), Code::kNotFound);
  EXPECT_EQ(CodeOf(Link(5'000'000, 1, "x")), Code::kInvalidArgument) << "outside the partition's range";
  EXPECT_EQ(CodeOf(Link(f, f, "x")), Code::kNotDirectory);
}

TEST_F(LinkTest, LinkCountHasALimit) {
  const uint64_t f = File(1, "f");
  // Reach the limit without 65,000 names: LinkInode adds links alone.
  for (uint32_t i = 1; i < kMaxLinks; ++i) {
    ASSERT_EQ(Run([&](proto::MetaCommand& c) { c.mutable_link_inode()->set_inode(f); }).code(), 0u);
  }
  EXPECT_EQ(Attr(f).nlink(), kMaxLinks);
  EXPECT_EQ(CodeOf(Link(f, 1, "one-more")), Code::kTooManyLinks);
}

TEST_F(LinkTest, LinkingIntoADirectoryNeedsWritePermission) {
  const uint64_t f = File(1, "f");
  const uint64_t d = Dir(1, "d");
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(Link(f, d, "x")), Code::kPermissionDenied);
}

}  // namespace
}  // namespace cfs::metanode
