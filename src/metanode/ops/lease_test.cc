#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;

class LeaseTest : public PartitionTest {
 protected:
  proto::MetaResponse Open(uint64_t ino) { return Run([&](proto::MetaCommand& c) { c.mutable_open()->set_inode(ino); }); }
  proto::MetaResponse Release(uint64_t ino) {
    return Run([&](proto::MetaCommand& c) { c.mutable_release()->set_inode(ino); });
  }
  proto::MetaResponse Expire() { return Run([&](proto::MetaCommand& c) { c.mutable_expire(); }); }
};

TEST_F(LeaseTest, UnlinkedOpenFileStaysReadableAndIsFreedAtTheLastRelease) {
  const uint64_t f = File(1, "f");
  Append(f, 0, 10, 8);
  ASSERT_EQ(Open(f).code(), 0u);
  client_ = 43;
  ASSERT_EQ(Open(f).code(), 0u);
  ASSERT_EQ(Unlink(1, "f").code(), 0u);
  EXPECT_EQ(Find(1, "f"), 0u);
  ASSERT_TRUE(Exists(f));
  EXPECT_EQ(Attr(f).nlink(), 0u);
  EXPECT_EQ(p_->GetExtents(InodeId(f))->size(), 1u) << "its data is still readable";
  EXPECT_TRUE(p_->PendingDeletions(10).empty());
  Release(f);
  EXPECT_TRUE(Exists(f)) << "client 42 still has it open";
  client_ = 42;
  Release(f);
  EXPECT_FALSE(Exists(f));
  EXPECT_EQ(p_->PendingDeletions(10).size(), 1u);
  EXPECT_EQ(Release(f).code(), 0u) << "a repeated release is harmless";
}

TEST_F(LeaseTest, CreateWithOpenTakesTheLeaseAtOnce) {
  proto::MetaResponse r = Run([&](proto::MetaCommand& c) {
    auto* op = c.mutable_create();
    op->set_parent(1);
    op->set_name("f");
    op->set_mode(S_IFREG | 0644);
    op->set_open(true);
  });
  ASSERT_EQ(r.code(), 0u) << r.message();
  const uint64_t f = r.attr().inode();
  ASSERT_EQ(Unlink(1, "f").code(), 0u);
  EXPECT_TRUE(Exists(f)) << "open since its creation";
  Release(f);
  EXPECT_FALSE(Exists(f));

  // Without `open`, no lease: the unlink frees it.
  const uint64_t g = File(1, "g");
  ASSERT_EQ(Unlink(1, "g").code(), 0u);
  EXPECT_FALSE(Exists(g));
}

TEST_F(LeaseTest, OneOpenLeasesSeveralFilesAndSkipsThoseGone) {
  const uint64_t f = File(1, "f"), g = File(1, "g"), gone = File(1, "gone");
  ASSERT_EQ(Unlink(1, "gone").code(), 0u);
  ASSERT_FALSE(Exists(gone));
  proto::MetaResponse r = Run([&](proto::MetaCommand& c) {
    c.mutable_open()->add_more(f);
    c.mutable_open()->add_more(gone);
    c.mutable_open()->add_more(g);
  });
  ASSERT_EQ(r.code(), 0u) << r.message();
  ASSERT_EQ(Unlink(1, "f").code(), 0u);
  ASSERT_EQ(Unlink(1, "g").code(), 0u);
  EXPECT_TRUE(Exists(f)) << "leased by the batch";
  EXPECT_TRUE(Exists(g)) << "leased by the batch";
  EXPECT_FALSE(Exists(gone));
  Release(f);
  Release(g);
  EXPECT_FALSE(Exists(f));
  EXPECT_FALSE(Exists(g));
}

TEST_F(LeaseTest, FreedNeedlesArePendingOnlyOnceFreedLongEnoughAgo) {
  const uint64_t f = File(1, "f"), g = File(1, "g");
  Append(f, 0, 10, 8);
  Append(g, 0, 10, 9);
  const int64_t first = now_;
  ASSERT_EQ(Unlink(1, "f").code(), 0u);
  now_ += 5'000'000'000;
  ASSERT_EQ(Unlink(1, "g").code(), 0u);
  EXPECT_TRUE(p_->PendingDeletions(10, first - 1).empty()) << "freed after the cut";
  auto pending = p_->PendingDeletions(10, first);
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].queued_ns(), first);
  EXPECT_EQ(p_->PendingDeletions(10, now_).size(), 2u);
  EXPECT_EQ(p_->PendingDeletions(10).size(), 2u);
}

TEST_F(LeaseTest, OneReleaseDropsTheLeasesOfSeveralFiles) {
  const uint64_t f = File(1, "f"), g = File(1, "g"), h = File(1, "h");
  for (uint64_t i : {f, g, h}) ASSERT_EQ(Open(i).code(), 0u);
  for (const char* n : {"f", "g", "h"}) ASSERT_EQ(Unlink(1, n).code(), 0u);
  ASSERT_TRUE(Exists(f) && Exists(g) && Exists(h));
  auto r = Run([&](proto::MetaCommand& c) {
    c.mutable_release()->set_inode(f);
    c.mutable_release()->add_more(h);
  });
  ASSERT_EQ(r.code(), 0u);
  EXPECT_FALSE(Exists(f));
  EXPECT_TRUE(Exists(g));
  EXPECT_FALSE(Exists(h));
}

TEST_F(LeaseTest, LeaseOfADeadClientExpiresAndFreesTheUnlinkedFile) {
  const uint64_t f = File(1, "f");
  Open(f);
  Unlink(1, "f");
  const int64_t ttl = Options().lease_ttl.count();
  now_ += ttl - 1;
  Expire();
  EXPECT_TRUE(Exists(f));
  now_ += 1;
  Expire();
  EXPECT_FALSE(Exists(f));
}

TEST_F(LeaseTest, RenewedLeaseOutlivesItsFirstTerm) {
  const uint64_t f = File(1, "f");
  Open(f);
  Unlink(1, "f");
  const int64_t ttl = Options().lease_ttl.count();
  now_ += ttl / 2;
  Run([&](proto::MetaCommand& c) { c.mutable_renew_leases(); });
  now_ += ttl / 2 + 1;
  Expire();
  EXPECT_TRUE(Exists(f));
  Release(f);
  EXPECT_FALSE(Exists(f));
}

TEST_F(LeaseTest, OpenOfAnUnlinkedFileWithoutLeaseIsNotFound) {
  EXPECT_EQ(CodeOf(Open(999)), Code::kNotFound);
  const uint64_t f = File(1, "f");
  ASSERT_EQ(Open(f).code(), 0u);
  Release(f);
  EXPECT_TRUE(Exists(f)) << "still linked";
}

TEST_F(LeaseTest, OpenOrphanIsNotReclaimed) {
  proto::MetaResponse r = CreateOrphan("x");
  const uint64_t ino = r.attr().inode();
  Open(ino);
  EXPECT_EQ(CodeOf(Run([&](proto::MetaCommand& c) { c.mutable_reclaim_orphan()->set_inode(ino); })), Code::kBusy);
  EXPECT_TRUE(Exists(ino));
}

}  // namespace
}  // namespace cfs::metanode
