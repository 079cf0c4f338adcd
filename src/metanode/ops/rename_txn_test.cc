// Rename across partitions: two bare partitions, A [1, 1000] holding the
// root and B [1001, ...), with the test as the client; the crash tests stop
// the client at each step and finish as the leaders' housekeeping would.
#include <chrono>
#include <random>
#include <utility>

#include "common/coding.h"
#include "common/crc32c.h"
#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;
using testing::User;

constexpr uint64_t kPartitionA = 1;
constexpr uint64_t kPartitionB = 2;
constexpr int64_t kTimeout = std::chrono::nanoseconds(std::chrono::seconds(30)).count();

class RenameTxnTest : public PartitionTest {
 protected:
  static PartitionOptions OptionsA() {
    PartitionOptions o = Options();
    o.end = InodeId(1000);
    return o;
  }
  static PartitionOptions OptionsB() {
    PartitionOptions o = Options();
    o.id = PartitionId(kPartitionB);
    o.start = InodeId(1001);
    o.end = InodeId(1'000'000'000);
    return o;
  }

  void SetUp() override {
    Reset(OptionsA());  // p_ is A: PartitionTest's helpers (File, Find, Attr, ...) run there
    bdir_ = DirInB(1, "bdir");
  }

  Partition& A() { return *p_; }
  Partition& B() { return *b_; }
  // Runs `f` with PartitionTest's helpers aimed at B.
  template <typename F>
  auto OnB(F f) {
    std::swap(p_, b_);
    auto r = f();
    std::swap(p_, b_);
    return r;
  }

  // A directory living in B whose dentry is parent/name in A.
  uint64_t DirInB(uint64_t parent, const std::string& name) {
    proto::MetaResponse r = RunOn(B(), [&](proto::MetaCommand& c) {
      auto* op = c.mutable_create_inode();
      op->set_mode(S_IFDIR | 0755);
      op->set_parent(parent);
      op->set_name(name);
    });
    EXPECT_EQ(r.code(), 0u) << r.message();
    const uint64_t id = r.attr().inode();
    EXPECT_EQ(CreateDentryOn(A(), parent, name, id, S_IFDIR).code(), 0u);
    RunOn(B(), [&](proto::MetaCommand& c) { c.mutable_confirm_link()->set_inode(id); });
    return id;
  }
  // A file living in A whose dentry is b_parent/name in B.
  uint64_t FileInAUnder(uint64_t b_parent, const std::string& name) {
    proto::MetaResponse r = RunOn(A(), [&](proto::MetaCommand& c) {
      auto* op = c.mutable_create_inode();
      op->set_mode(S_IFREG | 0644);
      op->set_parent(b_parent);
      op->set_name(name);
    });
    EXPECT_EQ(r.code(), 0u) << r.message();
    const uint64_t id = r.attr().inode();
    EXPECT_EQ(CreateDentryOn(B(), b_parent, name, id, S_IFREG).code(), 0u);
    RunOn(A(), [&](proto::MetaCommand& c) { c.mutable_confirm_link()->set_inode(id); });
    return id;
  }
  proto::MetaResponse CreateDentryOn(Partition& p, uint64_t parent, const std::string& name, uint64_t inode,
                                     uint32_t mode) {
    return RunOn(p, [&](proto::MetaCommand& c) {
      auto* op = c.mutable_create_dentry();
      op->set_parent(parent);
      op->set_name(name);
      op->set_inode(inode);
      op->set_mode(mode);
    });
  }

  // ---- the protocol's steps ----
  proto::MetaResponse PrepareSrc(uint64_t txn, uint64_t sp, const std::string& sname, uint64_t dp,
                                 const std::string& dname, uint32_t flags = 0) {
    return RunOn(A(), [&](proto::MetaCommand& c) {
      auto* op = c.mutable_rename_prepare_src();
      op->set_txn(txn);
      op->set_src_parent(sp);
      op->set_src_name(sname);
      op->set_dst_parent(dp);
      op->set_dst_name(dname);
      op->set_flags(flags);
      op->set_dst_partition(kPartitionB);
      op->set_expires_ns(expires_);
    });
  }
  proto::MetaResponse PrepareDst(uint64_t txn, uint64_t dp, const std::string& dname, const proto::InodeAttr& child,
                                 uint32_t flags = 0) {
    return RunOn(B(), [&](proto::MetaCommand& c) {
      auto* op = c.mutable_rename_prepare_dst();
      op->set_txn(txn);
      op->set_dst_parent(dp);
      op->set_dst_name(dname);
      op->set_child(child.inode());
      op->set_child_mode(child.mode());
      op->set_flags(flags);
      op->set_src_partition(kPartitionA);
      op->set_expires_ns(expires_);
    });
  }
  proto::MetaResponse Commit(Partition& p, uint64_t txn) {
    return RunOn(p, [&](proto::MetaCommand& c) {
      c.mutable_rename_commit()->set_txn(txn);
      c.mutable_rename_commit()->set_expires_ns(expires_);
    });
  }
  proto::MetaResponse Abort(Partition& p, uint64_t txn) {
    return RunOn(p, [&](proto::MetaCommand& c) {
      c.mutable_rename_abort()->set_txn(txn);
      c.mutable_rename_abort()->set_expires_ns(expires_);
    });
  }
  proto::MetaResponse Resolve(uint64_t txn) {
    return RunOn(B(), [&](proto::MetaCommand& c) {
      c.mutable_rename_resolve()->set_txn(txn);
      c.mutable_rename_resolve()->set_expires_ns(expires_);
    });
  }
  proto::MetaResponse Forget(uint64_t txn) {
    return RunOn(B(), [&](proto::MetaCommand& c) {
      c.mutable_rename_forget()->set_txn(txn);
      c.mutable_rename_forget()->set_expires_ns(expires_);
    });
  }
  proto::MetaResponse Expire(Partition& p) {
    return RunOn(p, [](proto::MetaCommand& c) { c.mutable_expire(); });
  }
  // Both prepares, as the client sends them; the answer of the second.
  proto::MetaResponse PrepareBoth(uint64_t txn, uint64_t sp, const std::string& sname, uint64_t dp,
                                  const std::string& dname, uint32_t flags = 0) {
    proto::MetaResponse src = PrepareSrc(txn, sp, sname, dp, dname, flags);
    EXPECT_EQ(src.code(), 0u) << src.message();
    return PrepareDst(txn, dp, dname, src.attr(), flags);
  }
  // The whole protocol; B's commit answer.
  proto::MetaResponse MustRename(uint64_t txn, uint64_t sp, const std::string& sname, uint64_t dp,
                                 const std::string& dname) {
    proto::MetaResponse dst = PrepareBoth(txn, sp, sname, dp, dname);
    EXPECT_EQ(dst.code(), 0u) << dst.message();
    proto::MetaResponse decision = Commit(B(), txn);
    EXPECT_EQ(decision.code(), 0u) << decision.message();
    EXPECT_EQ(Commit(A(), txn).code(), 0u);
    EXPECT_EQ(Forget(txn).code(), 0u);
    return decision;
  }

  // The txn records of a partition's snapshot.
  static proto::PartitionHeader Header(Partition& p) {
    auto snap = p.Snapshot();
    EXPECT_TRUE(snap.ok());
    std::string_view in = std::string_view(*snap).substr(8);
    auto len = GetVarint64(&in);
    proto::PartitionHeader h;
    EXPECT_TRUE(len && h.ParseFromArray(in.data(), static_cast<int>(*len)));
    return h;
  }
  // The snapshot of `p` with its header changed by `edit`, checksum and all.
  template <typename Edit>
  static std::string EditedSnapshot(Partition& p, Edit edit) {
    std::string snap = *p.Snapshot();
    std::string_view in = std::string_view(snap).substr(8, snap.size() - 8 - 4);
    auto len = GetVarint64(&in);
    proto::PartitionHeader h;
    EXPECT_TRUE(len && h.ParseFromArray(in.data(), static_cast<int>(*len)));
    in.remove_prefix(*len);
    edit(h);
    std::string out = "CFSMETA1";
    PutVarint64(&out, h.ByteSizeLong());
    h.AppendToString(&out);
    out.append(in);
    PutBE32(&out, crc32c::Value(out));
    return out;
  }
  // `p` replaced by a partition restored from its snapshot, which must give
  // the same snapshot again.
  static void Reload(std::unique_ptr<Partition>& p, PartitionOptions o) {
    std::string snap = *p->Snapshot();
    p = std::make_unique<Partition>(std::move(o));
    ASSERT_TRUE(p->Restore(snap).ok());
    EXPECT_EQ(*p->Snapshot(), snap);
  }
  void ReloadBoth() {
    Reload(p_, OptionsA());
    Reload(b_, OptionsB());
  }

  uint64_t FindB(uint64_t parent, const std::string& name) { return OnB([&] { return Find(parent, name); }); }
  proto::InodeAttr AttrB(uint64_t inode) { return OnB([&] { return Attr(inode); }); }

  std::unique_ptr<Partition> b_ = std::make_unique<Partition>(OptionsB());
  int64_t expires_ = now_ + kTimeout;
  uint64_t bdir_ = 0;  // a directory living in B, at /bdir in A
};

TEST_F(RenameTxnTest, MovesAFileIntoADirectoryOfAnotherPartition) {
  const uint64_t f = File(1, "f");
  now_ += 5;
  proto::MetaResponse src = PrepareSrc(7, 1, "f", bdir_, "g");
  ASSERT_EQ(src.code(), 0u) << src.message();
  EXPECT_EQ(src.attr().inode(), f);
  EXPECT_EQ(src.attr().mode(), S_IFREG | 0644u) << "the child lives in A: all its attributes";
  EXPECT_EQ(src.attr().nlink(), 1u);
  ASSERT_EQ(PrepareDst(7, bdir_, "g", src.attr()).code(), 0u);
  EXPECT_EQ(FindB(bdir_, "g"), 0u) << "nothing moves before the decision";
  proto::MetaResponse decision = Commit(B(), 7);
  ASSERT_EQ(decision.code(), 0u) << decision.message();
  EXPECT_EQ(decision.unlink_inode(), 0u);
  EXPECT_EQ(decision.reparent_inode(), 0u);
  EXPECT_EQ(FindB(bdir_, "g"), f);
  EXPECT_EQ(AttrB(bdir_).mtime_ns(), now_);
  EXPECT_EQ(AttrB(bdir_).nlink(), 2u) << "a file adds no link";
  ASSERT_EQ(Commit(A(), 7).code(), 0u);
  EXPECT_EQ(Find(1, "f"), 0u);
  EXPECT_EQ(Attr(1).mtime_ns(), now_);
  EXPECT_EQ(Attr(f).ctime_ns(), now_);
  EXPECT_EQ(Attr(f).nlink(), 1u);
  EXPECT_EQ(Forget(7).code(), 0u);
  EXPECT_EQ(Header(A()).rename_txns_size(), 1) << "A keeps the finished txn until past its expiry";
}

TEST_F(RenameTxnTest, MovesDirectoriesWithTheirLinkCountsAndParents) {
  // A directory living in A: B names it for the follow-up, A's commit sets it.
  const uint64_t d = Dir(1, "d");
  EXPECT_EQ(Attr(1).nlink(), 4u) << "root, bdir, d";
  proto::MetaResponse decision = MustRename(1, 1, "d", bdir_, "d");
  EXPECT_EQ(decision.reparent_inode(), d);
  EXPECT_EQ(Attr(1).nlink(), 3u);
  EXPECT_EQ(AttrB(bdir_).nlink(), 3u);
  EXPECT_EQ(Attr(d).parent(), bdir_);
  EXPECT_EQ(FindB(bdir_, "d"), d);

  // A directory living in B: B's commit sets its parent itself.
  const uint64_t e = DirInB(1, "e");
  EXPECT_EQ(AttrB(e).parent(), 1u);
  decision = MustRename(2, 1, "e", bdir_, "e");
  EXPECT_EQ(decision.reparent_inode(), 0u);
  EXPECT_EQ(AttrB(e).parent(), bdir_);
  EXPECT_EQ(AttrB(bdir_).nlink(), 4u);
  EXPECT_EQ(Attr(1).nlink(), 3u) << "root and bdir";
  EXPECT_EQ(Find(1, "e"), 0u);
}

TEST_F(RenameTxnTest, ReplacesAnExistingFileLivingInEitherPartition) {
  // The replaced file lives in B: it loses its link there and is freed.
  const uint64_t f = File(1, "f");
  const uint64_t old = OnB([&] { return File(bdir_, "g"); });
  proto::MetaResponse decision = MustRename(1, 1, "f", bdir_, "g");
  EXPECT_EQ(decision.unlink_inode(), 0u);
  EXPECT_EQ(FindB(bdir_, "g"), f);
  EXPECT_FALSE(OnB([&] { return Exists(old); }));
  EXPECT_EQ(AttrB(bdir_).nlink(), 2u);

  // The replaced file lives in A: the client owes it an UnlinkInodeOp.
  const uint64_t h = File(1, "h");
  const uint64_t other = FileInAUnder(bdir_, "i");
  decision = MustRename(2, 1, "h", bdir_, "i");
  EXPECT_EQ(decision.unlink_inode(), other);
  EXPECT_EQ(FindB(bdir_, "i"), h);
  EXPECT_EQ(Attr(other).nlink(), 1u) << "dropped by the follow-up, not here";
}

TEST_F(RenameTxnTest, DirectoryReplacesOnlyAnEmptyDirectoryAndTypesMustMatch) {
  const uint64_t d = Dir(1, "d");
  File(1, "f");
  OnB([&] { return File(bdir_, "file"); });
  const uint64_t full = OnB([&] { return Dir(bdir_, "full"); });
  OnB([&] { return File(full, "x"); });
  const uint64_t empty = OnB([&] { return Dir(bdir_, "empty"); });
  // A directory of A under bdir: B cannot see whether it is empty.
  proto::MetaResponse r = RunOn(A(), [&](proto::MetaCommand& c) {
    auto* op = c.mutable_create_inode();
    op->set_mode(S_IFDIR | 0755);
    op->set_parent(bdir_);
    op->set_name("remote");
  });
  ASSERT_EQ(CreateDentryOn(B(), bdir_, "remote", r.attr().inode(), S_IFDIR).code(), 0u);

  // B refuses; the client aborts at A.
  auto refused = [&](uint64_t txn, const std::string& sname, const std::string& dname) {
    const Code code = CodeOf(PrepareBoth(txn, 1, sname, bdir_, dname));
    EXPECT_EQ(Abort(A(), txn).code(), 0u);
    return code;
  };
  EXPECT_EQ(refused(1, "d", "file"), Code::kNotDirectory);
  EXPECT_EQ(refused(2, "f", "empty"), Code::kIsDirectory);
  EXPECT_EQ(refused(3, "d", "full"), Code::kNotEmpty);
  EXPECT_EQ(refused(4, "d", "remote"), Code::kNotSupported);
  EXPECT_EQ(Find(1, "d"), d);
  EXPECT_EQ(Unlink(1, "f").code(), 0u) << "the aborts released the source";

  MustRename(5, 1, "d", bdir_, "empty");
  EXPECT_EQ(FindB(bdir_, "empty"), d);
  EXPECT_FALSE(OnB([&] { return Exists(empty); }));
  EXPECT_EQ(AttrB(bdir_).nlink(), 2u + 3) << "full, empty (now d), remote";
}

TEST_F(RenameTxnTest, NoReplaceRefusesAnExistingTarget) {
  const uint64_t f = File(1, "f");
  const uint64_t g = OnB([&] { return File(bdir_, "g"); });
  EXPECT_EQ(CodeOf(PrepareBoth(1, 1, "f", bdir_, "g", kRenameNoReplace)), Code::kExists);
  ASSERT_EQ(Abort(A(), 1).code(), 0u);
  EXPECT_EQ(Find(1, "f"), f);
  EXPECT_EQ(FindB(bdir_, "g"), g);
  ASSERT_EQ(PrepareBoth(2, 1, "f", bdir_, "h", kRenameNoReplace).code(), 0u);
  ASSERT_EQ(Commit(B(), 2).code(), 0u);
  ASSERT_EQ(Commit(A(), 2).code(), 0u);
  EXPECT_EQ(FindB(bdir_, "h"), f);
}

TEST_F(RenameTxnTest, SourceEntryIsLockedButVisibleUntilTheTxnEnds) {
  const uint64_t f = File(1, "f");
  const uint64_t d = Dir(1, "d");
  ASSERT_EQ(PrepareSrc(1, 1, "f", bdir_, "g").code(), 0u);
  ASSERT_EQ(PrepareSrc(2, 1, "d", bdir_, "d").code(), 0u);
  EXPECT_EQ(Find(1, "f"), f) << "still visible";
  EXPECT_EQ(CodeOf(Unlink(1, "f")), Code::kBusy);
  EXPECT_EQ(CodeOf(Unlink(1, "d", /*rmdir=*/true)), Code::kBusy);
  EXPECT_EQ(CodeOf(Rename(1, "f", 1, "f2")), Code::kBusy);
  File(1, "x");
  EXPECT_EQ(CodeOf(Rename(1, "x", 1, "f")), Code::kBusy) << "nor may it be replaced";
  EXPECT_EQ(CodeOf(PrepareSrc(3, 1, "f", bdir_, "other")), Code::kBusy);
  EXPECT_EQ(CodeOf(Create(1, "f", S_IFREG | 0644)), Code::kExists);
  EXPECT_EQ(Find(1, "d"), d);

  ASSERT_EQ(Abort(A(), 1).code(), 0u);
  EXPECT_EQ(Rename(1, "f", 1, "f2").code(), 0u) << "free again";
  EXPECT_EQ(CodeOf(Unlink(1, "d", true)), Code::kBusy) << "the other txn still holds its entry";
}

TEST_F(RenameTxnTest, DestinationNameIsLockedUntilTheTxnEnds) {
  const uint64_t f = File(1, "f");
  File(1, "other");
  ASSERT_EQ(PrepareBoth(1, 1, "f", bdir_, "g").code(), 0u);
  EXPECT_EQ(CodeOf(OnB([&] { return Create(bdir_, "g", S_IFREG | 0644); })), Code::kBusy);
  EXPECT_EQ(CodeOf(CreateDentryOn(B(), bdir_, "g", f, S_IFREG)), Code::kBusy);
  const uint64_t h = OnB([&] { return File(bdir_, "h"); });
  EXPECT_EQ(CodeOf(OnB([&] { return Link(h, bdir_, "g"); })), Code::kBusy);
  EXPECT_EQ(CodeOf(OnB([&] { return Rename(bdir_, "h", bdir_, "g"); })), Code::kBusy);
  proto::MetaResponse other = PrepareSrc(2, 1, "other", bdir_, "g");
  ASSERT_EQ(other.code(), 0u);
  EXPECT_EQ(CodeOf(PrepareDst(2, bdir_, "g", other.attr())), Code::kBusy);
  EXPECT_EQ(FindB(bdir_, "g"), 0u);

  ASSERT_EQ(Commit(B(), 1).code(), 0u);
  EXPECT_EQ(CodeOf(OnB([&] { return Create(bdir_, "g", S_IFREG | 0644); })), Code::kExists) << "unlocked: it is there";
  ASSERT_EQ(Commit(A(), 1).code(), 0u);
  EXPECT_EQ(Abort(A(), 2).code(), 0u);
}

TEST_F(RenameTxnTest, ReplacedDestinationIsLockedToo) {
  File(1, "f");
  const uint64_t g = OnB([&] { return File(bdir_, "g"); });
  ASSERT_EQ(PrepareBoth(1, 1, "f", bdir_, "g").code(), 0u);
  EXPECT_EQ(CodeOf(OnB([&] { return Unlink(bdir_, "g"); })), Code::kBusy);
  EXPECT_EQ(CodeOf(OnB([&] { return Rename(bdir_, "g", bdir_, "g2"); })), Code::kBusy);
  EXPECT_EQ(FindB(bdir_, "g"), g);
}

// The client stops after A's prepare. A's leader sees the txn expire and
// asks B, which records it aborted: a late prepare or commit there fails.
TEST_F(RenameTxnTest, CrashAfterSourcePrepareLeavesTheNameAtTheSource) {
  const uint64_t f = File(1, "f");
  proto::MetaResponse src = PrepareSrc(1, 1, "f", bdir_, "g");
  ASSERT_EQ(src.code(), 0u);
  EXPECT_TRUE(A().ExpiredSourceTxns(expires_).empty()) << "not yet past";
  now_ = expires_ + 1;
  ASSERT_EQ(Expire(A()).code(), 0u);
  EXPECT_EQ(CodeOf(Unlink(1, "f")), Code::kBusy) << "A never decides alone";
  std::vector<proto::RenameTxnRecord> expired = A().ExpiredSourceTxns(now_);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].txn(), 1u);
  EXPECT_EQ(expired[0].dst_partition(), kPartitionB);

  proto::MetaResponse resolved = Resolve(1);
  ASSERT_EQ(resolved.code(), 0u);
  EXPECT_FALSE(resolved.txn_committed());
  expires_ += kTimeout;  // even a prepare that would otherwise be in time
  EXPECT_EQ(CodeOf(PrepareDst(1, bdir_, "g", src.attr())), Code::kAborted);
  EXPECT_EQ(CodeOf(Commit(B(), 1)), Code::kAborted);
  ASSERT_EQ(Abort(A(), 1).code(), 0u);

  EXPECT_EQ(Find(1, "f"), f);
  EXPECT_EQ(FindB(bdir_, "g"), 0u);
  EXPECT_TRUE(A().ExpiredSourceTxns(now_).empty());
  EXPECT_EQ(Unlink(1, "f").code(), 0u);
}

// The client stops after both prepares: B aborts its txn when it expires.
TEST_F(RenameTxnTest, CrashAfterBothPreparesLeavesTheNameAtTheSource) {
  const uint64_t f = File(1, "f");
  ASSERT_EQ(PrepareBoth(1, 1, "f", bdir_, "g").code(), 0u);
  now_ = expires_ + 1;
  ASSERT_EQ(Expire(B()).code(), 0u);
  ASSERT_EQ(OnB([&] { return Create(bdir_, "g", S_IFREG | 0644); }).code(), 0u) << "released";
  ASSERT_EQ(OnB([&] { return Unlink(bdir_, "g"); }).code(), 0u);

  proto::MetaResponse resolved = Resolve(1);
  ASSERT_EQ(resolved.code(), 0u);
  EXPECT_FALSE(resolved.txn_committed());
  EXPECT_EQ(CodeOf(Commit(B(), 1)), Code::kAborted) << "a late commit";
  ASSERT_EQ(Abort(A(), 1).code(), 0u);
  EXPECT_EQ(Find(1, "f"), f);
  EXPECT_EQ(FindB(bdir_, "g"), 0u);
}

TEST_F(RenameTxnTest, ExpiredPendingTxnCannotCommit) {
  File(1, "f");
  ASSERT_EQ(PrepareBoth(1, 1, "f", bdir_, "g").code(), 0u);
  now_ = expires_ + 1;  // before any ExpireOp
  EXPECT_EQ(CodeOf(Commit(B(), 1)), Code::kAborted);
  EXPECT_FALSE(Resolve(1).txn_committed());
  EXPECT_EQ(FindB(bdir_, "g"), 0u);
}

// The client stops after B's decision: A's leader learns it and commits.
TEST_F(RenameTxnTest, CrashAfterTheDecisionLeavesTheNameAtTheDestination) {
  const uint64_t f = File(1, "f");
  ASSERT_EQ(PrepareBoth(1, 1, "f", bdir_, "g").code(), 0u);
  ASSERT_EQ(Commit(B(), 1).code(), 0u);
  now_ = expires_ + 1;
  ASSERT_EQ(Expire(B()).code(), 0u);
  ASSERT_EQ(Expire(A()).code(), 0u);
  ASSERT_EQ(A().ExpiredSourceTxns(now_).size(), 1u);
  proto::MetaResponse resolved = Resolve(1);
  ASSERT_EQ(resolved.code(), 0u);
  EXPECT_TRUE(resolved.txn_committed()) << "kept past its expiry until forgotten";
  ASSERT_EQ(Commit(A(), 1).code(), 0u);
  ASSERT_EQ(Forget(1).code(), 0u);
  EXPECT_EQ(Find(1, "f"), 0u);
  EXPECT_EQ(FindB(bdir_, "g"), f);
  EXPECT_TRUE(A().ExpiredSourceTxns(now_).empty());
  EXPECT_EQ(Attr(f).nlink(), 1u);
}

TEST_F(RenameTxnTest, RetriesAnswerTheSame) {
  const uint64_t f = File(1, "f");
  OnB([&] { return File(bdir_, "g"); });
  const uint64_t old = FileInAUnder(bdir_, "h");
  proto::MetaResponse src = PrepareSrc(1, 1, "f", bdir_, "h");
  ASSERT_EQ(src.code(), 0u);
  EXPECT_EQ(PrepareSrc(1, 1, "f", bdir_, "h").SerializeAsString(), src.SerializeAsString());
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", bdir_, "other")), Code::kInvalidArgument) << "the same id, another rename";
  ASSERT_EQ(PrepareDst(1, bdir_, "h", src.attr()).code(), 0u);
  EXPECT_EQ(PrepareDst(1, bdir_, "h", src.attr()).code(), 0u);
  EXPECT_EQ(CodeOf(PrepareDst(1, bdir_, "g", src.attr())), Code::kInvalidArgument);

  proto::MetaResponse decision = Commit(B(), 1);
  ASSERT_EQ(decision.code(), 0u);
  EXPECT_EQ(decision.unlink_inode(), old);
  EXPECT_EQ(Commit(B(), 1).SerializeAsString(), decision.SerializeAsString()) << "the follow-up is named again";
  proto::MetaResponse abort = Abort(B(), 1);
  EXPECT_EQ(CodeOf(abort), Code::kAborted);
  EXPECT_NE(abort.message().find("committed"), std::string::npos) << abort.message();
  EXPECT_TRUE(Resolve(1).txn_committed());
  EXPECT_TRUE(Resolve(1).txn_committed());
  EXPECT_EQ(CodeOf(PrepareDst(1, bdir_, "h", src.attr())), Code::kAborted) << "finished";

  ASSERT_EQ(Commit(A(), 1).code(), 0u);
  const uint64_t again = File(1, "f");
  EXPECT_EQ(Commit(A(), 1).code(), 0u);
  EXPECT_EQ(Find(1, "f"), again) << "a retried commit deletes nothing";
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", bdir_, "h")), Code::kAborted) << "a late prepare cannot lock the new f";
  EXPECT_EQ(Unlink(1, "f").code(), 0u);
  EXPECT_EQ(CodeOf(Abort(A(), 1)), Code::kAborted) << "committed at A too";
  EXPECT_EQ(Forget(1).code(), 0u);
  EXPECT_EQ(Forget(1).code(), 0u);
  EXPECT_EQ(FindB(bdir_, "h"), f);

  // Aborts.
  const uint64_t k = File(1, "k");
  proto::MetaResponse ks = PrepareSrc(2, 1, "k", bdir_, "k");
  ASSERT_EQ(PrepareDst(2, bdir_, "k", ks.attr()).code(), 0u);
  EXPECT_EQ(Abort(B(), 2).code(), 0u);
  EXPECT_EQ(Abort(B(), 2).code(), 0u);
  EXPECT_EQ(CodeOf(Commit(B(), 2)), Code::kAborted);
  EXPECT_EQ(CodeOf(Commit(B(), 2)), Code::kAborted);
  EXPECT_EQ(Abort(A(), 2).code(), 0u);
  EXPECT_EQ(Abort(A(), 2).code(), 0u);
  EXPECT_EQ(CodeOf(Commit(A(), 2)), Code::kAborted) << "aborted at A: a commit cannot delete it";
  EXPECT_EQ(Find(1, "k"), k);
  EXPECT_EQ(FindB(bdir_, "k"), 0u);
}

TEST_F(RenameTxnTest, UnknownTxnIsRecordedAbortedAtAbortOrCommit) {
  const uint64_t f = File(1, "f");
  EXPECT_EQ(Abort(B(), 5).code(), 0u) << "the client gave up before B saw it";
  EXPECT_EQ(CodeOf(Commit(B(), 6)), Code::kAborted);
  proto::MetaResponse src = PrepareSrc(5, 1, "f", bdir_, "g");
  ASSERT_EQ(src.code(), 0u);
  EXPECT_EQ(CodeOf(PrepareDst(5, bdir_, "g", src.attr())), Code::kAborted) << "a late prepare";
  EXPECT_EQ(CodeOf(PrepareDst(6, bdir_, "g", src.attr())), Code::kAborted);
  EXPECT_FALSE(Resolve(5).txn_committed());
  ASSERT_EQ(Abort(A(), 5).code(), 0u);
  EXPECT_EQ(Find(1, "f"), f);
  EXPECT_EQ(CodeOf(Resolve(0)), Code::kInvalidArgument);
}

TEST_F(RenameTxnTest, SourceDoesNotResolveItself) {
  File(1, "f");
  ASSERT_EQ(PrepareSrc(1, 1, "f", bdir_, "g").code(), 0u);
  proto::MetaResponse r = RunOn(A(), [&](proto::MetaCommand& c) {
    c.mutable_rename_resolve()->set_txn(1);
    c.mutable_rename_resolve()->set_expires_ns(expires_);
  });
  EXPECT_EQ(CodeOf(r), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(Unlink(1, "f")), Code::kBusy);
}

// Each state midway survives a snapshot and restore (locks and all), and
// the protocol finishes on the restored partitions.
TEST_F(RenameTxnTest, SnapshotsMidwayRestoreAndTheProtocolFinishes) {
  const uint64_t f1 = File(1, "f1");
  const uint64_t f2 = File(1, "f2");
  const uint64_t f3 = File(1, "f3");
  OnB([&] { return File(bdir_, "g3"); });  // replaced by f3
  proto::MetaResponse s1 = PrepareSrc(1, 1, "f1", bdir_, "g1");
  ASSERT_EQ(s1.code(), 0u);
  ASSERT_EQ(PrepareBoth(2, 1, "f2", bdir_, "g2").code(), 0u);
  ASSERT_EQ(PrepareBoth(3, 1, "f3", bdir_, "g3").code(), 0u);
  ASSERT_EQ(Commit(B(), 3).code(), 0u);
  EXPECT_EQ(Header(A()).rename_txns_size(), 3);
  EXPECT_EQ(Header(B()).rename_txns_size(), 2);
  ReloadBoth();

  EXPECT_EQ(CodeOf(Unlink(1, "f1")), Code::kBusy);
  EXPECT_EQ(CodeOf(Unlink(1, "f3")), Code::kBusy);
  EXPECT_EQ(CodeOf(OnB([&] { return Create(bdir_, "g2", S_IFREG | 0644); })), Code::kBusy);
  // 1: after A's prepare only; 2: after both; 3: after the decision.
  ASSERT_EQ(PrepareDst(1, bdir_, "g1", s1.attr()).code(), 0u);
  ReloadBoth();
  ASSERT_EQ(Commit(B(), 1).code(), 0u);
  ASSERT_EQ(Commit(A(), 1).code(), 0u);
  ASSERT_EQ(Commit(B(), 2).code(), 0u);
  ReloadBoth();
  ASSERT_EQ(Commit(A(), 2).code(), 0u);
  ASSERT_EQ(Commit(A(), 3).code(), 0u);
  for (uint64_t txn : {1, 2, 3}) ASSERT_EQ(Forget(txn).code(), 0u);
  ReloadBoth();
  EXPECT_EQ(FindB(bdir_, "g1"), f1);
  EXPECT_EQ(FindB(bdir_, "g2"), f2);
  EXPECT_EQ(FindB(bdir_, "g3"), f3);
  EXPECT_EQ(Find(1, "f1") + Find(1, "f2") + Find(1, "f3"), 0u);
  EXPECT_TRUE(Resolve(3).txn_committed()) << "forgotten, but kept past the expiry";

  // Aborted midway, restored, finished.
  File(1, "f4");
  ASSERT_EQ(PrepareBoth(4, 1, "f4", bdir_, "g4").code(), 0u);
  ASSERT_EQ(Abort(B(), 4).code(), 0u);
  ReloadBoth();
  EXPECT_FALSE(Resolve(4).txn_committed());
  ASSERT_EQ(Abort(A(), 4).code(), 0u);
  EXPECT_NE(Find(1, "f4"), 0u);
  EXPECT_EQ(FindB(bdir_, "g4"), 0u);
}

TEST_F(RenameTxnTest, RestoreRefusesTxnRecordsThatDoNotHold) {
  File(1, "f");
  File(1, "other");
  ASSERT_EQ(PrepareSrc(1, 1, "f", bdir_, "g").code(), 0u);
  ASSERT_EQ(PrepareSrc(2, 1, "other", bdir_, "g2").code(), 0u);
  Partition fresh(OptionsA());
  auto refused = [&](auto edit) { return fresh.Restore(EditedSnapshot(A(), edit)).Is(Code::kCorruption); };
  EXPECT_TRUE(fresh.Restore(EditedSnapshot(A(), [](proto::PartitionHeader&) {})).ok());
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) { h.mutable_rename_txns(0)->set_src_name("missing"); }));
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) { h.mutable_rename_txns(0)->set_child(999); }));
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) { h.mutable_rename_txns(0)->set_child_mode(S_IFDIR); }));
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) { h.mutable_rename_txns(0)->set_txn(2); })) << "order";
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) {
    h.mutable_rename_txns(1)->set_src_name("f");  // both lock f
    h.mutable_rename_txns(1)->set_child(h.rename_txns(0).child());
  }));
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) { h.mutable_rename_txns(0)->set_role(proto::RENAME_TXN_NO_ROLE); }));
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) {
    h.mutable_rename_txns(0)->set_state(static_cast<proto::RenameTxnState>(9));
  }));
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) {
    h.mutable_rename_txns(0)->set_role(proto::RENAME_TXN_DESTINATION);
    h.mutable_rename_txns(0)->set_dst_name("");
  }));
  EXPECT_TRUE(refused([](proto::PartitionHeader& h) { h.mutable_rename_txns(0)->set_txn(0); }));
}

TEST_F(RenameTxnTest, FinishedTxnsAreForgottenPastTheirExpiryAndTheMargin) {
  File(1, "a");
  File(1, "b");
  MustRename(1, 1, "a", bdir_, "a");                   // committed and forgotten
  ASSERT_EQ(PrepareBoth(2, 1, "b", bdir_, "b").code(), 0u);
  ASSERT_EQ(Commit(B(), 2).code(), 0u);               // committed, not forgotten
  ASSERT_EQ(Abort(B(), 3).code(), 0u);                // aborted, unknown
  EXPECT_EQ(Header(B()).rename_txns_size(), 3);
  now_ = expires_ + OptionsB().rename_txn_keep.count() + 1;
  ASSERT_EQ(Expire(B()).code(), 0u);
  ASSERT_EQ(Expire(A()).code(), 0u);
  proto::PartitionHeader hb = Header(B());
  ASSERT_EQ(hb.rename_txns_size(), 1) << "only forgetting drops a committed txn";
  EXPECT_EQ(hb.rename_txns(0).txn(), 2u);
  EXPECT_EQ(Header(A()).rename_txns_size(), 1) << "A's pending txn 2 stays until B's word";
  ASSERT_TRUE(Resolve(2).txn_committed());
  ASSERT_EQ(Commit(A(), 2).code(), 0u);
  ASSERT_EQ(Forget(2).code(), 0u);
  EXPECT_EQ(Header(B()).rename_txns_size(), 0) << "past the margin: dropped at once";
  ASSERT_EQ(Expire(A()).code(), 0u);
  EXPECT_EQ(Header(A()).rename_txns_size(), 0);
}

TEST_F(RenameTxnTest, ExpiredOverlongExchangeAndMisdirectedTxnsAreRefused) {
  File(1, "f");
  expires_ = now_ - 1;
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", bdir_, "g")), Code::kAborted);
  expires_ = now_ + OptionsA().rename_txn_max.count() + 1;
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", bdir_, "g")), Code::kInvalidArgument);
  expires_ = now_ + kTimeout;
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", bdir_, "g", kRenameExchange)), Code::kNotSupported);
  EXPECT_EQ(CodeOf(PrepareSrc(0, 1, "f", bdir_, "g")), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", 1, "g")), Code::kInvalidArgument) << "both parents in A: RenameOp";
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "missing", bdir_, "g")), Code::kNotFound);
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", bdir_, "..")), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "f", bdir_, std::string(256, 'x'))), Code::kNameTooLong);
  proto::InodeAttr child;
  child.set_inode(2);
  child.set_mode(S_IFREG);
  EXPECT_EQ(CodeOf(PrepareDst(1, bdir_, "g", child, kRenameExchange)), Code::kNotSupported);
  EXPECT_EQ(CodeOf(PrepareDst(1, 1, "g", child)), Code::kInvalidArgument) << "parent not in B";
  EXPECT_EQ(CodeOf(PrepareDst(1, 5'000, "g", child)), Code::kNotFound);
  expires_ = now_ - 1;
  EXPECT_EQ(CodeOf(PrepareDst(1, bdir_, "g", child)), Code::kAborted);
  EXPECT_EQ(Header(A()).rename_txns_size() + Header(B()).rename_txns_size(), 0) << "nothing recorded";
}

TEST_F(RenameTxnTest, PermissionsAndTheStickyRuleApplyOnBothSides) {
  const uint64_t shared = Dir(1, "shared");
  SetAttr(shared, proto::SETATTR_MODE, [](proto::SetAttrOp& op) { op.set_mode(01777); });
  caller_ = User(100, 100);
  File(shared, "mine");
  caller_ = User(200, 200);
  EXPECT_EQ(CodeOf(PrepareSrc(1, shared, "mine", bdir_, "g")), Code::kNotPermitted) << "sticky, not the owner";
  caller_ = User(100, 100);
  proto::MetaResponse src = PrepareSrc(1, shared, "mine", bdir_, "g");
  ASSERT_EQ(src.code(), 0u) << src.message();
  EXPECT_EQ(CodeOf(PrepareDst(1, bdir_, "g", src.attr())), Code::kPermissionDenied) << "bdir is root's 0755";
  ASSERT_EQ(Abort(A(), 1).code(), 0u);
}

TEST_F(RenameTxnTest, DirectoryIntoItsOwnSubtreeIsRefused) {
  const uint64_t e = DirInB(1, "e");
  const uint64_t sub = OnB([&] { return Dir(e, "sub"); });
  EXPECT_EQ(CodeOf(PrepareSrc(1, 1, "e", e, "self")), Code::kInvalidArgument) << "A sees the child is the parent";
  proto::MetaResponse src = PrepareSrc(2, 1, "e", sub, "x");
  ASSERT_EQ(src.code(), 0u) << "A cannot see below e";
  EXPECT_EQ(CodeOf(PrepareDst(2, sub, "x", src.attr())), Code::kInvalidArgument) << "B walks up from sub to e";
  ASSERT_EQ(Abort(A(), 2).code(), 0u);
}

TEST_F(RenameTxnTest, OntoAnotherLinkOfTheSameFileDoesNothing) {
  const uint64_t f = File(1, "f");
  ASSERT_EQ(RunOn(A(), [&](proto::MetaCommand& c) { c.mutable_link_inode()->set_inode(f); }).code(), 0u);
  ASSERT_EQ(CreateDentryOn(B(), bdir_, "g", f, S_IFREG).code(), 0u);
  proto::MetaResponse dst = PrepareBoth(1, 1, "f", bdir_, "g");
  ASSERT_EQ(dst.code(), 0u) << dst.message();
  EXPECT_TRUE(dst.rename_noop());
  EXPECT_EQ(Header(B()).rename_txns_size(), 0) << "nothing to commit";
  ASSERT_EQ(Abort(A(), 1).code(), 0u);
  EXPECT_EQ(Find(1, "f"), f);
  EXPECT_EQ(FindB(bdir_, "g"), f);
  EXPECT_EQ(Attr(f).nlink(), 2u);
}

// What the destination's lock does not cover is checked again at the
// decision: a failure aborts.
TEST_F(RenameTxnTest, CommitChecksTheDestinationAgain) {
  const uint64_t d = Dir(1, "d");
  const uint64_t empty = OnB([&] { return Dir(bdir_, "empty"); });
  ASSERT_EQ(PrepareBoth(1, 1, "d", bdir_, "empty").code(), 0u);
  OnB([&] { return File(empty, "late"); });
  EXPECT_EQ(CodeOf(Commit(B(), 1)), Code::kNotEmpty);
  EXPECT_EQ(CodeOf(Commit(B(), 1)), Code::kAborted);
  EXPECT_FALSE(Resolve(1).txn_committed());
  ASSERT_EQ(Abort(A(), 1).code(), 0u);
  EXPECT_EQ(Find(1, "d"), d);

  // The destination directory removed meanwhile (it had no entry yet).
  const uint64_t gone = OnB([&] { return Dir(bdir_, "gone"); });
  File(1, "f");
  ASSERT_EQ(PrepareBoth(2, 1, "f", gone, "f").code(), 0u);
  ASSERT_EQ(OnB([&] { return Unlink(bdir_, "gone", true); }).code(), 0u);
  EXPECT_EQ(CodeOf(Commit(B(), 2)), Code::kNotFound);
  ASSERT_EQ(Abort(A(), 2).code(), 0u);
  EXPECT_NE(Find(1, "f"), 0u);
}

// Several txns in flight, each stopped by its client after a random number
// of steps, with retries and restores at random; then the leaders' recovery
// (B's expiry, A's resolve with B). Every name ends in exactly one place.
TEST_F(RenameTxnTest, AnyStopWithRetriesAndRestoresEndsWithEachNameInOnePlace) {
  std::mt19937 rng(11);
  struct Txn {
    uint64_t id;
    std::string src;
    std::string dst;
    uint64_t child;
    uint64_t replaced;  // the file at dst before, 0 if none
    int steps;          // the client's steps to take: 0..5
    int done = 0;
    proto::InodeAttr attr;
  };
  uint64_t next_txn = 1;
  for (int round = 0; round < 40; ++round) {
    std::vector<Txn> txns;
    for (int i = 0; i < 4; ++i) {
      Txn t;
      t.id = next_txn++;
      t.src = fmt::format("s{}", t.id);
      t.dst = fmt::format("d{}", t.id);
      t.child = File(1, t.src);
      t.replaced = rng() % 2 ? OnB([&] { return File(bdir_, t.dst); }) : 0;
      t.steps = static_cast<int>(rng() % 6);
      txns.push_back(t);
    }
    auto step = [&](Txn& t) {
      switch (t.done) {
        case 0: {
          proto::MetaResponse r = PrepareSrc(t.id, 1, t.src, bdir_, t.dst);
          t.attr = r.attr();
          return r;
        }
        case 1: return PrepareDst(t.id, bdir_, t.dst, t.attr);
        case 2: return Commit(B(), t.id);
        case 3: return Commit(A(), t.id);
        default: return Forget(t.id);
      }
    };
    for (bool more = true; more;) {
      more = false;
      for (Txn& t : txns) {
        if (t.done == t.steps || rng() % 2) {
          more |= t.done < t.steps;
          continue;
        }
        proto::MetaResponse first = step(t);
        ASSERT_EQ(first.code(), 0u) << "txn " << t.id << " step " << t.done << ": " << first.message();
        if (rng() % 3 == 0) {
          EXPECT_EQ(step(t).SerializeAsString(), first.SerializeAsString()) << "retry of step " << t.done;
        }
        ++t.done;
        more |= t.done < t.steps;
      }
      if (rng() % 8 == 0) ReloadBoth();
    }

    // The leaders' recovery, past every expiry.
    now_ = expires_ + 1;
    ASSERT_EQ(Expire(B()).code(), 0u);
    ASSERT_EQ(Expire(A()).code(), 0u);
    if (rng() % 2) ReloadBoth();
    for (const proto::RenameTxnRecord& r : A().ExpiredSourceTxns(now_)) {
      proto::MetaResponse resolved = Resolve(r.txn());
      ASSERT_EQ(resolved.code(), 0u);
      if (resolved.txn_committed()) {
        ASSERT_EQ(Commit(A(), r.txn()).code(), 0u);
        ASSERT_EQ(Forget(r.txn()).code(), 0u);
      } else {
        ASSERT_EQ(Abort(A(), r.txn()).code(), 0u);
      }
    }
    EXPECT_TRUE(A().ExpiredSourceTxns(now_).empty());
    for (const Txn& t : txns) {
      const bool at_src = Find(1, t.src) == t.child;
      const bool at_dst = FindB(bdir_, t.dst) == t.child;
      EXPECT_NE(at_src, at_dst) << "txn " << t.id << " stopped after " << t.steps << " steps";
      EXPECT_EQ(at_dst, t.steps >= 3) << "committed exactly when B decided";
      EXPECT_EQ(Attr(t.child).nlink(), 1u);
      if (t.replaced != 0) {
        EXPECT_EQ(OnB([&] { return Exists(t.replaced); }), !at_dst) << "replaced exactly when moved";
      }
      // No lock is left behind.
      EXPECT_EQ(Unlink(1, t.src).code() == 0, at_src);
      EXPECT_EQ(OnB([&] { return Unlink(bdir_, t.dst); }).code() == 0, at_dst || t.replaced != 0);
    }
    expires_ = now_ + kTimeout;
  }
}

}  // namespace
}  // namespace cfs::metanode
