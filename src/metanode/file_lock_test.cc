#include "metanode/file_lock.h"

#include <gtest/gtest.h>

#include <string>

namespace cfs::metanode {
namespace {

proto::FileLock L(uint64_t client, uint64_t owner, proto::LockType type, uint64_t start, uint64_t end,
                  bool flock = false) {
  proto::FileLock l;
  l.set_client_id(client);
  l.set_owner(owner);
  l.set_type(type);
  l.set_start(start);
  l.set_end(end);
  l.set_flock(flock);
  return l;
}

// "R0-9 W10-19" for the locks of one owner, in start order.
std::string Shape(LockList held) {
  std::sort(held.begin(), held.end(), [](const auto& a, const auto& b) { return a.start() < b.start(); });
  std::string s;
  for (const auto& l : held) {
    if (!s.empty()) s += ' ';
    s += (l.type() == proto::FILE_LOCK_WRITE ? "W" : "R") + std::to_string(l.start()) + "-" +
         (l.end() == kLockToEnd ? std::string("end") : std::to_string(l.end()));
  }
  return s;
}

void Take(LockList* held, const proto::FileLock& l) {
  ASSERT_EQ(FindConflict(*held, l), nullptr);
  ApplyLock(held, l);
}

TEST(FileLockTest, ReadersShareAndAWriterConflictsWithBoth) {
  LockList held;
  Take(&held, L(1, 1, proto::FILE_LOCK_READ, 0, 99));
  Take(&held, L(2, 1, proto::FILE_LOCK_READ, 50, 149));  // another client's reader
  const proto::FileLock* c = FindConflict(held, L(3, 1, proto::FILE_LOCK_WRITE, 120, 130));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->client_id(), 2u);
  EXPECT_EQ(FindConflict(held, L(3, 1, proto::FILE_LOCK_WRITE, 150, 200)), nullptr);  // no overlap
  // The same kernel owner on another client is another owner.
  EXPECT_NE(FindConflict(held, L(2, 9, proto::FILE_LOCK_WRITE, 0, 0)), nullptr);
}

TEST(FileLockTest, AnOwnerNeverConflictsWithItselfAndUpgradesInPlace) {
  LockList held;
  Take(&held, L(1, 7, proto::FILE_LOCK_READ, 0, 99));
  Take(&held, L(1, 7, proto::FILE_LOCK_WRITE, 10, 19));
  EXPECT_EQ(Shape(held), "R0-9 W10-19 R20-99");
}

TEST(FileLockTest, UnlockSplitsAndTouchingLocksOfOneTypeMerge) {
  LockList held;
  Take(&held, L(1, 7, proto::FILE_LOCK_WRITE, 0, kLockToEnd));
  ApplyLock(&held, L(1, 7, proto::FILE_UNLOCK, 100, 199));
  EXPECT_EQ(Shape(held), "W0-99 W200-end");
  Take(&held, L(1, 7, proto::FILE_LOCK_WRITE, 100, 199));
  EXPECT_EQ(Shape(held), "W0-end");
  ApplyLock(&held, L(1, 7, proto::FILE_UNLOCK, 0, kLockToEnd));
  EXPECT_TRUE(held.empty());
}

TEST(FileLockTest, FlockAndPosixLocksAreIndependent) {
  LockList held;
  proto::FileLock f = L(1, 1, proto::FILE_LOCK_WRITE, 5, 6, /*flock=*/true);
  ASSERT_TRUE(ValidateLock(&f).ok());
  EXPECT_EQ(f.start(), 0u);
  EXPECT_EQ(f.end(), kLockToEnd);
  Take(&held, f);
  Take(&held, L(2, 1, proto::FILE_LOCK_WRITE, 0, kLockToEnd));  // a POSIX lock beside it
  EXPECT_NE(FindConflict(held, L(2, 1, proto::FILE_LOCK_READ, 0, kLockToEnd, true)), nullptr);
  // Converting the flock lock to shared lets another shared one in.
  Take(&held, L(1, 1, proto::FILE_LOCK_READ, 0, kLockToEnd, true));
  Take(&held, L(3, 1, proto::FILE_LOCK_READ, 0, kLockToEnd, true));
  EXPECT_EQ(held.size(), 3u);
}

TEST(FileLockTest, DroppingAClientLeavesOthersLocks) {
  LockList held;
  Take(&held, L(1, 1, proto::FILE_LOCK_READ, 0, 9));
  Take(&held, L(1, 2, proto::FILE_LOCK_READ, 0, 9, true));
  Take(&held, L(2, 1, proto::FILE_LOCK_READ, 0, 9));
  DropClientLocks(&held, 1);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].client_id(), 2u);
}

TEST(FileLockTest, BadLocksAreRefused) {
  proto::FileLock l = L(1, 1, proto::FILE_LOCK_READ, 10, 9);
  EXPECT_EQ(ValidateLock(&l).code(), Code::kInvalidArgument);
  l = L(1, 1, static_cast<proto::LockType>(7), 0, 9);
  EXPECT_EQ(ValidateLock(&l).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace cfs::metanode
