#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;
using testing::Root;
using testing::User;

using SetAttrTest = PartitionTest;

TEST_F(SetAttrTest, OwnerChmodsOthersMayNot) {
  const uint64_t d = Dir(1, "d");
  SetAttr(d, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0777); });
  caller_ = User(100, 100);
  const uint64_t f = File(d, "f");
  now_ += 3;
  proto::MetaResponse r = SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0600); });
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().mode(), static_cast<uint32_t>(S_IFREG | 0600));
  EXPECT_EQ(r.attr().ctime_ns(), now_);
  caller_ = User(101, 100);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0666); })),
            Code::kNotPermitted);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(010000); })),
            Code::kNotPermitted) << "checked as the non-owner first";
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(S_IFDIR | 0644); })),
            Code::kInvalidArgument) << "the type is not the caller's to change";
}

// The kernel clears set-user-ID (and set-group-ID) when someone other than
// the owner writes: FUSE sends that as the writer's chmod.
TEST_F(SetAttrTest, AnyoneMayDropSetIdBitsButChangeNothingElse) {
  const uint64_t f = File(1, "f");
  SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(06777); });
  caller_ = User(101, 100);
  auto chmod = [&](uint32_t mode) {
    return SetAttr(f, proto::SETATTR_MODE, [mode](proto::SetAttrOp& op) { op.set_mode(mode); });
  };
  EXPECT_EQ(CodeOf(chmod(06777)), Code::kNotPermitted) << "not a drop";
  EXPECT_EQ(CodeOf(chmod(06775)), Code::kNotPermitted) << "drops more than the set-id bits";
  proto::MetaResponse r = chmod(02777);
  ASSERT_EQ(r.code(), 0u) << r.message();
  // Set-group-ID goes too: the caller is not in the file's group (as any
  // chmod by a non-member).
  EXPECT_EQ(r.attr().mode(), static_cast<uint32_t>(S_IFREG | 0777));
  EXPECT_EQ(CodeOf(chmod(0777)), Code::kNotPermitted) << "nothing left to drop";
  caller_ = Root();
  SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(06777); });
  caller_ = User(101, 100);
  r = chmod(0777);  // both at once
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().mode(), static_cast<uint32_t>(S_IFREG | 0777));
}

TEST_F(SetAttrTest, ChmodByANonMemberOfTheGroupDropsSetGroupId) {
  const uint64_t f = File(1, "f");
  SetAttr(f, proto::SETATTR_UID | proto::SETATTR_GID, [](proto::SetAttrOp& op) {
    op.set_uid(100);
    op.set_gid(500);
  });
  caller_ = User(100, 100);
  proto::MetaResponse r = SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(02755); });
  ASSERT_EQ(r.code(), 0u);
  EXPECT_EQ(r.attr().mode() & 07777, 0755u);
  caller_.add_groups(500);
  r = SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(02755); });
  EXPECT_EQ(r.attr().mode() & 07777, 02755u);
}

TEST_F(SetAttrTest, OnlyRootGivesAFileAwayAndOwnersPickOnlyTheirGroups) {
  const uint64_t f = File(1, "f");
  SetAttr(f, proto::SETATTR_UID, [](proto::SetAttrOp& op) { op.set_uid(100); });
  caller_ = User(100, 100);
  caller_.add_groups(300);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_UID, [](proto::SetAttrOp& op) { op.set_uid(101); })), Code::kNotPermitted);
  EXPECT_EQ(SetAttr(f, proto::SETATTR_UID, [](proto::SetAttrOp& op) { op.set_uid(100); }).code(), 0u)
      << "chown to oneself is no change";
  EXPECT_EQ(SetAttr(f, proto::SETATTR_GID, [](proto::SetAttrOp& op) { op.set_gid(300); }).code(), 0u);
  EXPECT_EQ(Attr(f).gid(), 300u);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_GID, [](proto::SetAttrOp& op) { op.set_gid(400); })), Code::kNotPermitted);
  caller_ = User(101, 300);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_GID, [](proto::SetAttrOp& op) { op.set_gid(300); })), Code::kNotPermitted)
      << "not the owner";
}

TEST_F(SetAttrTest, ChownClearsSetUserIdAndExecutableSetGroupId) {
  const uint64_t f = File(1, "f");
  SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(06755); });
  proto::MetaResponse r = SetAttr(f, proto::SETATTR_UID, [](proto::SetAttrOp& op) { op.set_uid(100); });
  EXPECT_EQ(r.attr().mode() & 07777, 0755u);
  // Set-group-ID without group execute is mandatory locking's mark: it stays.
  SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(02645); });
  r = SetAttr(f, proto::SETATTR_GID, [](proto::SetAttrOp& op) { op.set_gid(9); });
  EXPECT_EQ(r.attr().mode() & 07777, 02645u);
  // Directories keep their bits.
  const uint64_t d = Dir(1, "d");
  SetAttr(d, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(02775); });
  r = SetAttr(d, proto::SETATTR_GID, [](proto::SetAttrOp& op) { op.set_gid(9); });
  EXPECT_EQ(r.attr().mode() & 07777, 02775u);
}

TEST_F(SetAttrTest, TimesNeedTheOwnerExceptNowWhichAWriterMaySet) {
  const uint64_t f = File(1, "f");
  SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0666); });
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_MTIME, [](proto::SetAttrOp& op) { op.set_mtime_ns(5); })),
            Code::kNotPermitted);
  now_ += 100;
  proto::MetaResponse r = SetAttr(f, proto::SETATTR_ATIME_NOW | proto::SETATTR_MTIME_NOW);
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().atime_ns(), now_);
  EXPECT_EQ(r.attr().mtime_ns(), now_);
  caller_ = Root();
  r = SetAttr(f, proto::SETATTR_ATIME | proto::SETATTR_MTIME, [](proto::SetAttrOp& op) {
    op.set_atime_ns(11);
    op.set_mtime_ns(22);
  });
  EXPECT_EQ(r.attr().atime_ns(), 11);
  EXPECT_EQ(r.attr().mtime_ns(), 22);
  EXPECT_EQ(r.attr().ctime_ns(), now_);
  SetAttr(f, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0644); });
  caller_ = User(100, 100);
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_MTIME_NOW)), Code::kPermissionDenied);
}

TEST_F(SetAttrTest, TruncateDownDropsDataPastTheEndAndUpLeavesAHole) {
  const uint64_t f = File(1, "f");
  Append(f, 0, 100, 1);
  Append(f, 100, 100, 2);
  Append(f, 200, 100, 3);
  EXPECT_EQ(Attr(f).size(), 300u);
  now_ += 9;
  proto::MetaResponse r = SetAttr(f, proto::SETATTR_SIZE, [](proto::SetAttrOp& op) { op.set_size(150); });
  ASSERT_EQ(r.code(), 0u) << r.message();
  EXPECT_EQ(r.attr().size(), 150u);
  EXPECT_EQ(r.attr().mtime_ns(), now_);
  auto extents = *p_->GetExtents(InodeId(f));
  ASSERT_EQ(extents.size(), 2u);
  EXPECT_EQ(extents[1].length, 50u);
  auto pending = p_->PendingDeletions(10);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].extent().needle_id(), 3u);
  r = Run([&](proto::MetaCommand& c) {
    c.mutable_truncate()->set_inode(f);
    c.mutable_truncate()->set_size(1 << 20);
  });
  EXPECT_EQ(r.attr().size(), 1u << 20);
  EXPECT_EQ(p_->GetExtents(InodeId(f))->size(), 2u);
  EXPECT_EQ(r.attr().blocks(), 150u / 512 + 1) << "a hole stores nothing";
  EXPECT_EQ(p_->StatFs().bytes(), 1u << 20);
}

TEST_F(SetAttrTest, TruncateRefusesDirectoriesOtherTypesAndHugeSizes) {
  const uint64_t d = Dir(1, "d");
  EXPECT_EQ(CodeOf(SetAttr(d, proto::SETATTR_SIZE)), Code::kIsDirectory);
  Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create();
    op->set_parent(1);
    op->set_name("fifo");
    op->set_mode(S_IFIFO | 0644);
  });
  EXPECT_EQ(CodeOf(SetAttr(Find(1, "fifo"), proto::SETATTR_SIZE)), Code::kInvalidArgument);
  const uint64_t f = File(1, "f");
  EXPECT_EQ(CodeOf(SetAttr(f, proto::SETATTR_SIZE, [](proto::SetAttrOp& op) { op.set_size(uint64_t{1} << 60); })),
            Code::kTooLarge);
  EXPECT_EQ(CodeOf(SetAttr(f, 1u << 20)), Code::kInvalidArgument) << "an unknown field";
  EXPECT_EQ(CodeOf(SetAttr(999, proto::SETATTR_MODE)), Code::kNotFound);
}

TEST_F(SetAttrTest, RefusedSetAttrChangesNothing) {
  const uint64_t f = File(1, "f");
  SetAttr(f, proto::SETATTR_UID, [](proto::SetAttrOp& op) { op.set_uid(100); });
  const proto::InodeAttr before = Attr(f);
  caller_ = User(100, 100);
  now_ += 50;
  // The mode part alone would be allowed; the uid part is not.
  proto::MetaResponse r = SetAttr(f, proto::SETATTR_MODE | proto::SETATTR_UID, [](proto::SetAttrOp& op) {
    op.set_mode(0600);
    op.set_uid(0);
  });
  EXPECT_EQ(CodeOf(r), Code::kNotPermitted);
  EXPECT_EQ(Attr(f).SerializeAsString(), before.SerializeAsString());
}

}  // namespace
}  // namespace cfs::metanode
