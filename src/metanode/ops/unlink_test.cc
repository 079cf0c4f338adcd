#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;
using testing::Root;
using testing::User;

using UnlinkTest = PartitionTest;

TEST_F(UnlinkTest, UnlinkRemovesTheNameAndFreesTheLastLink) {
  const uint64_t f = File(1, "f");
  Append(f, 0, 10, 77);
  now_ += 5;
  proto::MetaResponse r = Unlink(1, "f");
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(Find(1, "f"), 0u);
  EXPECT_FALSE(Exists(f));
  EXPECT_EQ(Attr(1).mtime_ns(), now_);
  auto pending = p_->PendingDeletions(10);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].extent().needle_id(), 77u);
  EXPECT_EQ(CodeOf(Unlink(1, "f")), Code::kNotFound);
}

TEST_F(UnlinkTest, UnlinkOfADirectoryAndRmdirOfAFileAreRefused) {
  Dir(1, "d");
  File(1, "f");
  EXPECT_EQ(CodeOf(Unlink(1, "d")), Code::kIsDirectory);
  EXPECT_EQ(CodeOf(Unlink(1, "f", /*rmdir=*/true)), Code::kNotDirectory);
  EXPECT_EQ(CodeOf(Unlink(1, ".", true)), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Unlink(1, "..", true)), Code::kInvalidArgument);
}

TEST_F(UnlinkTest, RmdirRefusesANonEmptyDirectoryAndRemovesAnEmptyOne) {
  const uint64_t d = Dir(1, "d");
  File(d, "inside");
  EXPECT_EQ(Attr(1).nlink(), 3u);
  EXPECT_EQ(CodeOf(Unlink(1, "d", true)), Code::kNotEmpty);
  ASSERT_EQ(Unlink(d, "inside").code(), 0u);
  ASSERT_EQ(Unlink(1, "d", true).code(), 0u);
  EXPECT_FALSE(Exists(d));
  EXPECT_EQ(Attr(1).nlink(), 2u);
  EXPECT_EQ(CodeOf(Create(d, "late", S_IFREG | 0644)), Code::kNotFound);
}

TEST_F(UnlinkTest, StickyDirectoryKeepsOthersFromRemovingYourFiles) {
  const uint64_t tmp = Dir(1, "tmp");
  SetAttr(tmp, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(01777); });
  caller_ = User(100, 100);
  File(tmp, "mine");
  caller_ = User(101, 101);
  EXPECT_EQ(CodeOf(Unlink(tmp, "mine")), Code::kNotPermitted);
  EXPECT_EQ(CodeOf(Rename(tmp, "mine", tmp, "stolen")), Code::kNotPermitted);
  EXPECT_NE(Find(tmp, "mine"), 0u);
  caller_ = User(100, 100);
  EXPECT_EQ(Unlink(tmp, "mine").code(), 0u);
  caller_ = User(101, 101);
  File(tmp, "theirs");
  caller_ = Root();
  EXPECT_EQ(Unlink(tmp, "theirs").code(), 0u);
}

TEST_F(UnlinkTest, RemovingNeedsWriteOnTheParent) {
  const uint64_t d = Dir(1, "d");
  File(d, "f");
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(Unlink(d, "f")), Code::kPermissionDenied);
}

TEST_F(UnlinkTest, ChildInAnotherPartitionIsNamedForTheFollowUp) {
  Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create_dentry();
    op->set_parent(1);
    op->set_name("far");
    op->set_inode(5'000'000);
    op->set_mode(S_IFREG);
  });
  proto::MetaResponse r = Unlink(1, "far");
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.unlink_inode(), 5'000'000u);
  // A directory elsewhere must be removed there first.
  Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create_dentry();
    op->set_parent(1);
    op->set_name("fardir");
    op->set_inode(5'000'001);
    op->set_mode(S_IFDIR);
  });
  EXPECT_EQ(CodeOf(Unlink(1, "fardir", true)), Code::kInvalidArgument);
  r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_unlink();
    op->set_parent(1);
    op->set_name("fardir");
    op->set_rmdir(true);
    op->set_child_unlinked(true);
  });
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.unlink_inode(), 0u);
  EXPECT_EQ(Attr(1).nlink(), 2u);
}

TEST_F(UnlinkTest, UnlinkInodeIsTheOtherHalfAndRmdirChecksEmptiness) {
  const uint64_t f = File(1, "f");
  Link(f, 1, "g");
  proto::MetaResponse r = Run([&](proto::MetaCommand& c) { c.mutable_unlink_inode()->set_inode(f); });
  ASSERT_EQ(r.code(), 0u);
  EXPECT_EQ(r.attr().nlink(), 1u);
  const uint64_t d = Dir(1, "d");
  File(d, "x");
  auto rmdir_inode = [&](uint64_t ino) {
    return Run([&](proto::MetaCommand& c) {
      c.mutable_unlink_inode()->set_inode(ino);
      c.mutable_unlink_inode()->set_rmdir(true);
    });
  };
  EXPECT_EQ(CodeOf(rmdir_inode(d)), Code::kNotEmpty);
  EXPECT_EQ(CodeOf(rmdir_inode(f)), Code::kNotDirectory);
  ASSERT_EQ(Unlink(d, "x").code(), 0u);
  EXPECT_EQ(rmdir_inode(d).code(), 0u);
  EXPECT_FALSE(Exists(d));
}

}  // namespace
}  // namespace cfs::metanode
