// AssembleRead: the bytes of a read from visible extents, holes and EOF.
#include "client/file_system.h"

#include <gtest/gtest.h>

#include <map>

namespace cfs::client {
namespace {

proto::Extent E(uint64_t file_offset, uint32_t length, uint64_t needle, uint32_t needle_offset = 0) {
  proto::Extent e;
  e.set_file_offset(file_offset);
  e.set_length(length);
  e.set_needle_id(needle);
  e.set_needle_offset(needle_offset);
  return e;
}

class AssembleReadTest : public ::testing::Test {
 protected:
  std::string Read(const std::vector<proto::Extent>& extents, uint64_t size, uint64_t offset, size_t n) {
    return AssembleRead(extents, size, offset, n,
                        [&](const proto::Extent& e) -> const std::string& { return needles_.at(e.needle_id()); });
  }
  std::map<uint64_t, std::string> needles_ = {{1, "abcdefghij"}, {2, "0123456789"}};
};

TEST_F(AssembleReadTest, PiecesOfNeedlesWithHolesBetweenAndAfter) {
  // [0,4) = needle 1 "cdef" (from its offset 2); [6,9) = needle 2 "456"; size 12.
  std::vector<proto::Extent> x = {E(0, 4, 1, 2), E(6, 3, 2, 4)};
  EXPECT_EQ(Read(x, 12, 0, 12), std::string("cdef\0\0" "456\0\0\0", 12));
  EXPECT_EQ(Read(x, 12, 3, 5), std::string("f\0\0" "45", 5));
  EXPECT_EQ(Read(x, 12, 9, 100), std::string(3, '\0'));  // the hole at the end, cut at the size
}

TEST_F(AssembleReadTest, NothingAtOrPastTheEnd) {
  std::vector<proto::Extent> x = {E(0, 10, 1)};
  EXPECT_EQ(Read(x, 10, 10, 5), "");
  EXPECT_EQ(Read(x, 10, 50, 5), "");
  EXPECT_EQ(Read(x, 4, 0, 10), "abcd");  // truncated below the extent
}

TEST_F(AssembleReadTest, ASparseFileIsZeros) {
  EXPECT_EQ(Read({}, 5, 0, 10), std::string(5, '\0'));
}

TEST_F(AssembleReadTest, AShortNeedleReadsAsAHoleNotPastItsEnd) {
  std::vector<proto::Extent> x = {E(0, 10, 1, 8)};  // claims 10 bytes from offset 8 of a 10-byte needle
  EXPECT_EQ(Read(x, 10, 0, 10), std::string("ij") + std::string(8, '\0'));
}

}  // namespace
}  // namespace cfs::client
