#include "metanode/dentry.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace cfs::metanode {
namespace {

// Names inline (up to 15 bytes) and on the heap (16 to 255) keep their
// bytes through copies and moves, and order as their bytes do.
TEST(NameTest, InlineAndHeapNamesKeepTheirBytesThroughCopiesAndMoves) {
  const std::vector<std::string> names = {"",
                                          "a",
                                          std::string(15, 'x'),
                                          std::string(16, 'y'),
                                          std::string(255, 'z'),
                                          std::string("nul\0inside", 10)};
  for (const std::string& s : names) {
    Name n(s);
    EXPECT_EQ(n.view(), s);
    Name copy(n);
    EXPECT_EQ(copy.view(), s);
    Name moved(std::move(copy));
    EXPECT_EQ(moved.view(), s);
    EXPECT_EQ(copy.view(), "");  // NOLINT(bugprone-use-after-move): a moved-from name is empty
    Name assigned("other name, long enough for the heap");
    assigned = moved;
    EXPECT_EQ(assigned.view(), s);
    assigned = Name("short");
    EXPECT_EQ(assigned.view(), "short");
    assigned = std::move(moved);
    EXPECT_EQ(assigned.view(), s);
  }
}

TEST(NameTest, KeysOrderByParentThenNameBytes) {
  DentryLess less;
  DentryKey a{InodeId(1), Name("b")};
  DentryKey b{InodeId(1), Name(std::string(20, 'a'))};
  DentryKey c{InodeId(2), Name("a")};
  EXPECT_TRUE(less(b, a));
  EXPECT_TRUE(less(a, c));
  EXPECT_TRUE(less(DentryRef{InodeId(1), "a"}, b));
  EXPECT_FALSE(less(a, DentryRef{InodeId(1), "b"}));
}

}  // namespace
}  // namespace cfs::metanode
