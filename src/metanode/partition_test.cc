// The partition as a whole: retries, determinism, snapshots, time, range.
#include "metanode/partition.h"

#include <random>

#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;

TEST_F(PartitionTest, RetriedCommandIsAppliedOnceAndAnsweredAgain) {
  proto::MetaCommand c;
  c.set_client_id(9);
  c.set_seq(1);
  c.set_now_ns(now_);
  c.mutable_create()->set_parent(1);
  c.mutable_create()->set_name("once");
  c.mutable_create()->set_mode(S_IFREG | 0644);
  proto::MetaResponse first = p_->Execute(c);
  ASSERT_EQ(first.code(), 0u);
  proto::MetaResponse again = p_->Execute(c);
  EXPECT_EQ(again.SerializeAsString(), first.SerializeAsString()) << "not Exists: the first answer";
  EXPECT_EQ(p_->stats().retries_answered.load(), 1u);
  EXPECT_EQ(p_->StatFs().inodes(), 2u);
  // Another client's seq 1 is another command.
  c.set_client_id(10);
  EXPECT_EQ(static_cast<Code>(p_->Execute(c).code()), Code::kExists);
}

TEST_F(PartitionTest, RetryOlderThanTheKeptAnswersIsRefusedNotReapplied) {
  PartitionOptions o = Options();
  o.answers_per_client = 4;
  Reset(o);
  const uint64_t f = File(1, "f");  // seq 1
  proto::MetaCommand link;
  link.set_client_id(client_);
  link.set_seq(++seq_);  // seq 2
  link.mutable_link_inode()->set_inode(f);
  ASSERT_EQ(p_->Execute(link).code(), 0u);
  for (int i = 0; i < 5; ++i) File(1, fmt::format("g{}", i));
  EXPECT_EQ(static_cast<Code>(p_->Execute(link).code()), Code::kAborted);
  EXPECT_EQ(Attr(f).nlink(), 2u) << "applied once";
}

// Answers of the commands that change a directory's entries carry the
// directory's attributes as they are after it (the client caches them).
TEST_F(PartitionTest, EntryChangesAnswerWithTheChangedDirectories) {
  const uint64_t a = Dir(1, "a");
  const uint64_t b = Dir(1, "b");
  now_ += 10;
  proto::MetaResponse r = Create(a, "f", S_IFREG | 0644);
  ASSERT_EQ(r.dirs_size(), 1);
  EXPECT_EQ(r.dirs(0).inode(), a);
  EXPECT_EQ(r.dirs(0).mtime_ns(), now_);
  EXPECT_EQ(r.dirs(0).SerializeAsString(), Attr(a).SerializeAsString());
  Dir(a, "sub");
  EXPECT_EQ(Attr(a).nlink(), 3u);
  now_ += 10;
  r = Rename(a, "f", b, "g");
  ASSERT_EQ(r.code(), 0u) << r.message();
  ASSERT_EQ(r.dirs_size(), 2);
  EXPECT_EQ(r.dirs(0).SerializeAsString(), Attr(a).SerializeAsString());
  EXPECT_EQ(r.dirs(1).SerializeAsString(), Attr(b).SerializeAsString());
  EXPECT_EQ(r.dirs(1).mtime_ns(), now_);
  r = Rename(b, "g", b, "h");
  EXPECT_EQ(r.dirs_size(), 1) << "one directory, listed once";
  r = Link(Find(b, "h"), a, "l");
  ASSERT_EQ(r.dirs_size(), 1);
  EXPECT_EQ(r.dirs(0).inode(), a);
  now_ += 10;
  r = Unlink(a, "sub", true);
  ASSERT_EQ(r.dirs_size(), 1);
  EXPECT_EQ(r.dirs(0).nlink(), 2u);
  EXPECT_EQ(r.dirs(0).mtime_ns(), now_);
  // Failed commands and other operations carry none.
  EXPECT_EQ(Unlink(a, "missing").dirs_size(), 0);
  EXPECT_EQ(SetAttr(a, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(0700); }).dirs_size(), 0);
}

TEST_F(PartitionTest, TimeNeverRunsBackwards) {
  now_ = 5'000'000;
  const uint64_t a = File(1, "a");
  now_ = 4'000'000;  // a proposer with a slower clock
  const uint64_t b = File(1, "b");
  EXPECT_EQ(Attr(b).ctime_ns(), 5'000'000);
  EXPECT_GE(Attr(b).ctime_ns(), Attr(a).ctime_ns());
}

TEST_F(PartitionTest, SetEndFixesTheRangeButNotBelowWhatWasGivenOut) {
  File(1, "a");  // inode 2
  File(1, "b");  // inode 3
  auto set_end = [&](uint64_t end) {
    return Run([&](proto::MetaCommand& c) { c.mutable_set_end()->set_end(end); });
  };
  EXPECT_EQ(CodeOf(set_end(2)), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(set_end(2'000'000)), Code::kInvalidArgument);
  ASSERT_EQ(set_end(4).code(), 0u);
  EXPECT_EQ(p_->end(), InodeId(4));
  File(1, "c");
  EXPECT_EQ(CodeOf(Create(1, "d", S_IFREG | 0644)), Code::kNoSpace);
}

TEST_F(PartitionTest, UnknownCommandAndUnparsableEntryAreRefused) {
  EXPECT_EQ(CodeOf(Run([](proto::MetaCommand&) {})), Code::kInvalidArgument);
  EXPECT_TRUE(p_->Apply(LogIndex(1), "\xff\xff not a command").status().Is(Code::kCorruption));
}

// A random mix of operations, applied to two partitions: the same answers
// and the same snapshot bytes (determinism); then a snapshot restored into a
// third partition gives the same snapshot again.
TEST_F(PartitionTest, SameCommandsGiveSameStateAndSnapshotsRoundTrip) {
  Partition twin(Options());
  std::mt19937 rng(3);
  std::vector<uint64_t> dirs{1};
  for (int i = 0; i < 2000; ++i) {
    proto::MetaCommand c;
    c.set_client_id(1 + rng() % 3);
    c.set_seq(static_cast<uint64_t>(i + 1));
    c.set_now_ns(1'000'000 + i);
    const uint64_t parent = dirs[rng() % dirs.size()];
    const std::string name = fmt::format("n{}", rng() % 50);
    switch (rng() % 6) {
      case 0:
      case 1:
        c.mutable_create()->set_parent(parent);
        c.mutable_create()->set_name(name);
        c.mutable_create()->set_mode(rng() % 3 == 0 ? (S_IFDIR | 0755) : (S_IFREG | 0644));
        break;
      case 2:
        c.mutable_unlink()->set_parent(parent);
        c.mutable_unlink()->set_name(name);
        c.mutable_unlink()->set_rmdir(rng() % 2);
        break;
      case 3: {
        auto* op = c.mutable_rename();
        op->set_src_parent(parent);
        op->set_src_name(name);
        op->set_dst_parent(dirs[rng() % dirs.size()]);
        op->set_dst_name(fmt::format("n{}", rng() % 50));
        break;
      }
      case 4: {
        auto* op = c.mutable_append_extents();
        op->set_inode(2 + rng() % 200);
        auto* e = op->add_extents();
        e->set_file_offset(rng() % 10000);
        e->set_length(1 + rng() % 5000);
        e->set_block_group(1);
        e->set_needle_id(static_cast<uint64_t>(i + 1));
        e->set_needle_size(e->length());
        break;
      }
      case 5:
        c.mutable_set_xattr()->set_inode(2 + rng() % 200);
        c.mutable_set_xattr()->set_name("user.k");
        c.mutable_set_xattr()->set_value(name);
        break;
    }
    proto::MetaResponse a = p_->Execute(c);
    proto::MetaResponse b = twin.Execute(c);
    ASSERT_EQ(a.SerializeAsString(), b.SerializeAsString()) << "command " << i;
    if (a.code() == 0 && c.has_create() && S_ISDIR(c.create().mode())) dirs.push_back(a.attr().inode());
  }
  ASSERT_GT(p_->StatFs().inodes(), 20u);
  auto s1 = p_->Snapshot();
  auto s2 = twin.Snapshot();
  ASSERT_TRUE(s1.ok() && s2.ok());
  EXPECT_EQ(*s1, *s2);
  Partition restored(Options());
  ASSERT_TRUE(restored.Restore(*s1).ok());
  EXPECT_EQ(*restored.Snapshot(), *s1);
  EXPECT_EQ(restored.StatFs().SerializeAsString(), p_->StatFs().SerializeAsString());
  // And it goes on answering as the original would.
  proto::MetaCommand next;
  next.set_client_id(1);
  next.set_seq(5000);
  next.set_now_ns(9'000'000);
  next.mutable_create()->set_parent(1);
  next.mutable_create()->set_name("after");
  next.mutable_create()->set_mode(S_IFREG | 0644);
  EXPECT_EQ(restored.Execute(next).SerializeAsString(), p_->Execute(next).SerializeAsString());
}

TEST_F(PartitionTest, DamagedSnapshotIsRefusedAndTheStateKept) {
  File(1, "keep");
  auto good = p_->Snapshot();
  ASSERT_TRUE(good.ok());
  Partition other(Options());
  const uint64_t mine = [&] {
    proto::MetaCommand c;
    c.set_now_ns(1);
    c.mutable_create()->set_parent(1);
    c.mutable_create()->set_name("mine");
    c.mutable_create()->set_mode(S_IFREG | 0644);
    return other.Execute(c).attr().inode();
  }();
  for (size_t i = 0; i < good->size(); i += 7) {
    std::string bad = *good;
    bad[i] ^= 0x20;
    EXPECT_TRUE(other.Restore(bad).Is(Code::kCorruption)) << "byte " << i;
  }
  EXPECT_TRUE(other.Restore(good->substr(0, good->size() - 1)).Is(Code::kCorruption));
  EXPECT_TRUE(other.Restore("").Is(Code::kCorruption));
  EXPECT_TRUE(other.Lookup(kRootInode, "mine", testing::Root()).ok());
  EXPECT_EQ(other.Lookup(kRootInode, "mine", testing::Root())->inode(), mine);
  ASSERT_TRUE(other.Restore(*good).ok());
  EXPECT_TRUE(other.Lookup(kRootInode, "keep", testing::Root()).ok());
}

}  // namespace
}  // namespace cfs::metanode
