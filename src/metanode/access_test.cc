#include "metanode/access.h"

#include <gtest/gtest.h>

namespace cfs::metanode {
namespace {

proto::Caller Who(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  proto::Caller c;
  c.set_uid(uid);
  c.set_gid(gid);
  for (uint32_t g : groups) c.add_groups(g);
  return c;
}

Inode Node(uint32_t mode, uint32_t uid, uint32_t gid) {
  Inode n;
  n.mode = mode;
  n.uid = uid;
  n.gid = gid;
  n.nlink = 1;
  return n;
}

TEST(AccessTest, OwnerGroupAndOtherBitsApplyInThatOrder) {
  Inode n = Node(S_IFREG | 0640, 100, 200);
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(100, 1), kMayRead | kMayWrite).ok());
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(101, 200), kMayRead).ok());
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(101, 200), kMayWrite).Is(Code::kPermissionDenied));
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(101, 1, {200}), kMayRead).ok()) << "a supplementary group counts";
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(101, 1), kMayRead).Is(Code::kPermissionDenied));
  // The owner class decides even when it grants less than the group's.
  Inode n2 = Node(S_IFREG | 0070, 100, 200);
  EXPECT_TRUE(CheckAccess(InodeId(5), n2, Who(100, 200), kMayRead).Is(Code::kPermissionDenied));
}

TEST(AccessTest, RootReadsAndWritesAnythingButExecutesOnlyWithAnExecuteBit) {
  Inode n = Node(S_IFREG | 0000, 100, 200);
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(0, 0), kMayRead | kMayWrite).ok());
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(0, 0), kMayExec).Is(Code::kPermissionDenied));
  n.mode = S_IFREG | 0001;
  EXPECT_TRUE(CheckAccess(InodeId(5), n, Who(0, 0), kMayExec).ok());
  Inode d = Node(S_IFDIR | 0000, 100, 200);
  EXPECT_TRUE(CheckAccess(InodeId(6), d, Who(0, 0), kMayExec).ok());
}

TEST(AccessTest, StickyDirectoryLetsOnlyRootTheDirectoryOwnerOrTheFileOwnerRemove) {
  Inode tmp = Node(S_IFDIR | 01777, 0, 0);
  EXPECT_TRUE(CheckRemove(InodeId(2), tmp, 100, Who(100, 100)).ok());
  EXPECT_TRUE(CheckRemove(InodeId(2), tmp, 100, Who(101, 100)).Is(Code::kNotPermitted));
  EXPECT_TRUE(CheckRemove(InodeId(2), tmp, 100, Who(0, 0)).ok());
  Inode owned = Node(S_IFDIR | 01777, 101, 0);
  EXPECT_TRUE(CheckRemove(InodeId(2), owned, 100, Who(101, 100)).ok());
  // Without the sticky bit, write and search permission suffice.
  Inode open = Node(S_IFDIR | 0777, 0, 0);
  EXPECT_TRUE(CheckRemove(InodeId(2), open, 100, Who(101, 100)).ok());
  Inode closed = Node(S_IFDIR | 0755, 0, 0);
  EXPECT_TRUE(CheckRemove(InodeId(2), closed, 100, Who(100, 100)).Is(Code::kPermissionDenied));
}

}  // namespace
}  // namespace cfs::metanode
