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

}  // namespace
}  // namespace cfs
