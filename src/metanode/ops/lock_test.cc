#include "metanode/partition_test_util.h"

namespace cfs::metanode {
namespace {

using testing::PartitionTest;

class LockTest : public PartitionTest {
 protected:
  static proto::FileLock L(proto::LockType type, uint64_t start, uint64_t end, uint64_t owner = 1,
                           bool flock = false) {
    proto::FileLock l;
    l.set_type(type);
    l.set_start(start);
    l.set_end(end);
    l.set_owner(owner);
    l.set_flock(flock);
    l.set_pid(100 + owner);
    return l;
  }
  proto::MetaResponse SetLock(uint64_t ino, const proto::FileLock& l) {
    return Run([&](proto::MetaCommand& c) {
      c.mutable_set_lock()->set_inode(ino);
      *c.mutable_set_lock()->mutable_lock() = l;
    });
  }
  // Taken: OK and no conflict named.
  bool Took(uint64_t ino, const proto::FileLock& l) {
    proto::MetaResponse r = SetLock(ino, l);
    EXPECT_EQ(r.code(), 0u) << r.message();
    return r.code() == 0 && !r.has_lock();
  }
  // The conflict GetLock finds for `l` as client_, or type UNLOCK.
  proto::FileLock Probe(uint64_t ino, proto::FileLock l) {
    l.set_client_id(client_);
    auto r = p_->GetLock(InodeId(ino), l);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : proto::FileLock();
  }
  proto::MetaResponse Release(uint64_t ino) {
    return Run([&](proto::MetaCommand& c) { c.mutable_release()->set_inode(ino); });
  }
  proto::MetaResponse Open(uint64_t ino) { return Run([&](proto::MetaCommand& c) { c.mutable_open()->set_inode(ino); }); }
};

TEST_F(LockTest, TwoClientsConflictOnAWriteLockAndSeeTheHolder) {
  const uint64_t f = File(1, "f");
  Open(f);
  ASSERT_TRUE(Took(f, L(proto::FILE_LOCK_WRITE, 0, 99)));
  client_ = 43;
  Open(f);
  proto::MetaResponse r = SetLock(f, L(proto::FILE_LOCK_READ, 50, 60));
  ASSERT_EQ(r.code(), 0u);
  ASSERT_TRUE(r.has_lock()) << "refused, naming the holder";
  EXPECT_EQ(r.lock().client_id(), 42u);
  EXPECT_EQ(r.lock().pid(), 101u);
  EXPECT_EQ(Probe(f, L(proto::FILE_LOCK_READ, 50, 60)).type(), proto::FILE_LOCK_WRITE);
  EXPECT_TRUE(Took(f, L(proto::FILE_LOCK_WRITE, 100, 200))) << "beside it is free";
  client_ = 42;
  ASSERT_TRUE(Took(f, L(proto::FILE_UNLOCK, 0, kLockToEnd)));
  client_ = 43;
  EXPECT_TRUE(Took(f, L(proto::FILE_LOCK_READ, 50, 60)));
}

TEST_F(LockTest, ReleasingTheLeaseOrItsExpiryDropsTheClientsLocks) {
  const uint64_t f = File(1, "f");
  Open(f);
  ASSERT_TRUE(Took(f, L(proto::FILE_LOCK_WRITE, 0, kLockToEnd, 1, /*flock=*/true)));
  client_ = 43;
  Open(f);
  EXPECT_FALSE(Took(f, L(proto::FILE_LOCK_READ, 0, 0, 1, true)));
  client_ = 42;
  Release(f);
  client_ = 43;
  EXPECT_TRUE(Took(f, L(proto::FILE_LOCK_WRITE, 0, 0, 1, true)));

  // Client 43 dies: its lease, and with it its lock, expires.
  client_ = 42;
  Open(f);
  EXPECT_FALSE(Took(f, L(proto::FILE_LOCK_WRITE, 0, 0, 1, true)));
  now_ += Options().lease_ttl.count() / 2;
  Run([](proto::MetaCommand& c) { c.mutable_renew_leases(); });  // 42 stays alive
  now_ += Options().lease_ttl.count() / 2 + 1;
  Run([](proto::MetaCommand& c) { c.mutable_expire(); });
  EXPECT_TRUE(Took(f, L(proto::FILE_LOCK_WRITE, 0, 0, 1, true)));
}

TEST_F(LockTest, LocksSurviveASnapshotAndARestore) {
  const uint64_t f = File(1, "f");
  Open(f);
  ASSERT_TRUE(Took(f, L(proto::FILE_LOCK_WRITE, 10, 19, 5)));
  auto snap = p_->Snapshot();
  ASSERT_TRUE(snap.ok());
  Reset(Options());
  ASSERT_TRUE(p_->Restore(*snap).ok());
  client_ = 43;
  EXPECT_EQ(Probe(f, L(proto::FILE_LOCK_READ, 0, kLockToEnd)).start(), 10u);
  EXPECT_EQ(Probe(f, L(proto::FILE_LOCK_READ, 20, 30)).type(), proto::FILE_UNLOCK);
}

TEST_F(LockTest, BadLocksAndMissingInodesGetClearErrors) {
  const uint64_t f = File(1, "f");
  EXPECT_EQ(CodeOf(SetLock(f, L(proto::FILE_LOCK_READ, 9, 1))), Code::kInvalidArgument);
  EXPECT_EQ(CodeOf(SetLock(999, L(proto::FILE_LOCK_READ, 0, 1))), Code::kNotFound);
  EXPECT_EQ(p_->GetLock(InodeId(999), L(proto::FILE_LOCK_READ, 0, 1)).status().code(), Code::kNotFound);
  EXPECT_EQ(SetLock(999, L(proto::FILE_UNLOCK, 0, 1)).code(), 0u) << "an unlock of nothing is harmless";
}

TEST_F(LockTest, AFreedInodeTakesItsLocksAlong) {
  const uint64_t f = File(1, "f");
  Open(f);
  ASSERT_TRUE(Took(f, L(proto::FILE_LOCK_WRITE, 0, 9)));
  Unlink(1, "f");
  Release(f);
  EXPECT_FALSE(Exists(f));
  auto snap = p_->Snapshot();
  ASSERT_TRUE(snap.ok());
  Reset(Options());
  EXPECT_TRUE(p_->Restore(*snap).ok()) << "no lock left of a freed inode";
}

}  // namespace
}  // namespace cfs::metanode
