#include "common/file_id.h"

#include <gtest/gtest.h>

namespace cfs {
namespace {

TEST(FileIdTest, FormatsTheSeaweedFsExample) {
  EXPECT_EQ(FormatFileId(BlockGroupId(3), NeedleId(0x01), Cookie(0x637037d6)), "3,01637037d6");
}

TEST(FileIdTest, ParsesTheSeaweedFsExample) {
  auto fid = ParseFileId("3,01637037d6");
  ASSERT_TRUE(fid.ok()) << fid.status().ToString();
  EXPECT_EQ(fid->group, BlockGroupId(3));
  EXPECT_EQ(fid->needle, NeedleId(0x01));
  EXPECT_EQ(fid->cookie, Cookie(0x637037d6));
}

TEST(FileIdTest, NeedleIdLosesLeadingZeroBytesOnly) {
  EXPECT_EQ(FormatFileId(BlockGroupId(1), NeedleId(0x100), Cookie(0xab)), "1,0100000000ab");
  EXPECT_EQ(FormatFileId(BlockGroupId(1), NeedleId(0x1234), Cookie(0)), "1,123400000000");
}

TEST(FileIdTest, RoundTrips) {
  struct Case {
    uint32_t group;
    uint64_t needle;
    uint32_t cookie;
  };
  for (const Case& c : std::vector<Case>{{0, 1, 0},
                                         {3, 0x01, 0x637037d6},
                                         {7, 0xff, 0xffffffff},
                                         {42, 0x100, 1},
                                         {0xffffffff, 0xffffffffffffffff, 0xffffffff},
                                         {1, 0x00ff00ff00ff00ff, 0x00000001}}) {
    std::string s = FormatFileId(BlockGroupId(c.group), NeedleId(c.needle), Cookie(c.cookie));
    auto fid = ParseFileId(s);
    ASSERT_TRUE(fid.ok()) << s << ": " << fid.status().ToString();
    EXPECT_EQ(fid->group, BlockGroupId(c.group)) << s;
    EXPECT_EQ(fid->needle, NeedleId(c.needle)) << s;
    EXPECT_EQ(fid->cookie, Cookie(c.cookie)) << s;
  }
}

TEST(FileIdTest, NeedleIdZeroRoundTrips) {
  std::string s = FormatFileId(BlockGroupId(7), NeedleId(0), Cookie(0x12345678));
  EXPECT_EQ(s, "7,0012345678");
  auto fid = ParseFileId(s);
  ASSERT_TRUE(fid.ok()) << s << ": " << fid.status().ToString();
  EXPECT_EQ(fid->group, BlockGroupId(7));
  EXPECT_EQ(fid->needle, NeedleId(0));
  EXPECT_EQ(fid->cookie, Cookie(0x12345678));
}

TEST(FileIdTest, ParseAcceptsUpperCaseHex) {
  auto fid = ParseFileId("3,01637037D6");
  ASSERT_TRUE(fid.ok());
  EXPECT_EQ(fid->cookie, Cookie(0x637037d6));
}

TEST(FileIdTest, ParseRefusesBadInputs) {
  for (std::string_view bad : {
           "",                              // empty
           "3",                             // no comma
           "301637037d6",                   // no comma
           "3,",                            // nothing after the comma
           ",01637037d6",                   // no group
           "x,01637037d6",                  // group not a number
           "-3,01637037d6",                 // negative group
           "3 ,01637037d6",                 // junk after the group
           "4294967296,01637037d6",         // group over u32
           "3,637037d6",                    // cookie only, no needle id
           "3,37d6",                        // too short
           "3,0g637037d6",                  // needle id not hex
           "3,01637037z6",                  // cookie not hex
           "3,01637037d6 ",                 // trailing space
           "3,01637037d6,1",                // trailing junk
           "3,-1637037d6",                  // sign in the needle id
           "3,0x637037d6",                  // a 0x prefix is not hex digits
           "3,1ffffffffffffffff637037d6",   // needle id over 64 bits
       }) {
    auto fid = ParseFileId(bad);
    EXPECT_FALSE(fid.ok()) << "accepted \"" << bad << "\"";
    if (!fid.ok()) {
      EXPECT_EQ(fid.status().code(), Code::kInvalidArgument) << bad;
    }
  }
}

TEST(FileIdTest, InvalidUtf8IsAnErrorNotACrash) {
  // Found by needle_fuzz: fmt's "{:?}" terminated the process on such input.
  auto r = ParseFileId(std::string_view("a\xf1,b", 5));
  ASSERT_TRUE(r.status().Is(Code::kInvalidArgument));
  EXPECT_NE(r.status().message().find("\\xf1"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace cfs
