#include "common/strings.h"

#include <gtest/gtest.h>

namespace cfs {
namespace {

TEST(QuotedTest, PrintableAsciiIsKept) { EXPECT_EQ(Quoted("file_7.dat"), "\"file_7.dat\""); }

TEST(QuotedTest, QuotesAndBackslashesAreEscaped) { EXPECT_EQ(Quoted("a\"b\\c"), "\"a\\\"b\\\\c\""); }

TEST(QuotedTest, InvalidUtf8AndControlBytesBecomeHexEscapes) {
  EXPECT_EQ(Quoted(std::string_view("\xff\x00\n", 3)), "\"\\xff\\x00\\x0a\"");
}

TEST(QuotedTest, EmptyIsTwoQuotes) { EXPECT_EQ(Quoted(""), "\"\""); }

TEST(ParseSizeTest, UnitsArePowersOf1024) {
  EXPECT_EQ(ParseSize("17").value(), 17u);
  EXPECT_EQ(ParseSize("512K").value(), 512u << 10);
  EXPECT_EQ(ParseSize("100M").value(), uint64_t{100} << 20);
  EXPECT_EQ(ParseSize("10GiB").value(), uint64_t{10} << 30);
  EXPECT_EQ(ParseSize("10GB").value(), uint64_t{10} << 30);
  EXPECT_EQ(ParseSize("2t").value(), uint64_t{2} << 40);
}

TEST(ParseSizeTest, BadTextIsRefusedWithTheText) {
  for (const char* bad : {"", "G", "10X", "1.5G", "-1", "10GG", "99999999999999999999", "20000000P"}) {
    auto r = ParseSize(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_TRUE(r.status().Is(Code::kInvalidArgument)) << bad;
  }
}

TEST(FormatBytesTest, PicksTheLargestUnitBelowTheValue) {
  EXPECT_EQ(FormatBytes(17), "17 B");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 30), "3.0 GiB");
}

}  // namespace
}  // namespace cfs
