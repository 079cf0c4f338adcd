#include "fuse/mount.h"

#include <gtest/gtest.h>

namespace cfs::fuse {
namespace {

constexpr std::string_view kMountInfo =
    "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "36 22 0:40 / /work/main/mnt3 rw,nosuid,nodev shared:20 - fuse.cfs cfs:v3 rw,user_id=0\n"
    "37 22 0:41 / /tmp/a\\040b rw shared:21 - fuse.cfs cfs:v3 rw\n"
    "38 36 0:42 / /work/main/mnt3 rw shared:22 - fuse.cfs cfs:v4 rw\n";

TEST(MountDeviceTest, FindsTheMountOnTopAtAPath) {
  EXPECT_EQ(MountDevice(kMountInfo, "/"), "254:0");
  // Mounted twice: the later line is the mount on top.
  EXPECT_EQ(MountDevice(kMountInfo, "/work/main/mnt3"), "0:42");
}

TEST(MountDeviceTest, UnescapesOctalInPaths) {
  EXPECT_EQ(MountDevice(kMountInfo, "/tmp/a b"), "0:41");
  EXPECT_EQ(MountDevice(kMountInfo, "/tmp/a\\040b"), "");
}

TEST(MountDeviceTest, NothingMountedOrBadLinesGiveNothing) {
  EXPECT_EQ(MountDevice(kMountInfo, "/work/main"), "");
  EXPECT_EQ(MountDevice("", "/"), "");
  EXPECT_EQ(MountDevice("garbage\n36 22\n\n", "/"), "");
  EXPECT_EQ(MountDevice("1 2 3:4 / /x\\04", "/x\\04"), "3:4");  // a cut escape stays as it is
}

}  // namespace
}  // namespace cfs::fuse
