#include "common/crc32c.h"

#include <cstdint>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace cfs::crc32c {
namespace {

TEST(Crc32cTest, CheckValueOfDigitString) {
  // The standard CRC-32C check value (RFC 3720, "123456789").
  EXPECT_EQ(Value("123456789"), 0xE3069283u);
  EXPECT_EQ(Value("123456789", 9), 0xE3069283u);
}

TEST(Crc32cTest, EmptyInputIsZero) {
  EXPECT_EQ(Value(""), 0u);
  EXPECT_EQ(Value(nullptr, 0), 0u);
}

TEST(Crc32cTest, ExtendOverNothingKeepsCrc) {
  uint32_t crc = Value("abc");
  EXPECT_EQ(Extend(crc, "", 0), crc);
}

TEST(Crc32cTest, MatchesRfc3720TestVectors) {
  // RFC 3720 appendix B.4.
  std::string zeros(32, '\0');
  EXPECT_EQ(Value(zeros), 0x8a9136aau);
  std::string ones(32, static_cast<char>(0xff));
  EXPECT_EQ(Value(ones), 0x62a8ab43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Value(ascending), 0x46dd794eu);
  std::string descending;
  for (int i = 31; i >= 0; --i) descending.push_back(static_cast<char>(i));
  EXPECT_EQ(Value(descending), 0x113fdb5cu);
}

TEST(Crc32cTest, ExtendOverSplitInputEqualsValueOfWhole) {
  const std::string data = "hello, container file system";
  const uint32_t whole = Value(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t crc = Value(data.data(), split);
    crc = Extend(crc, data.data() + split, data.size() - split);
    EXPECT_EQ(crc, whole) << "split at " << split;
  }
}

TEST(Crc32cTest, ValueDependsOnContentAndLength) {
  EXPECT_NE(Value("a"), Value("b"));
  EXPECT_NE(Value(std::string(1, '\0')), Value(std::string(2, '\0')));
  EXPECT_NE(Value(std::string(1, '\0')), 0u);
}

TEST(Crc32cTest, LargeBufferSplitAtOddPointsEqualsValueOfWhole) {
  // A deterministic 3 MiB pattern that is not periodic in any small power of two.
  std::string data(3 << 20, '\0');
  uint32_t x = 2463534242u;
  for (char& c : data) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x);
  }
  const uint32_t whole = Value(data);

  const size_t splits[] = {1, 7, 4093, 65537, 1048573, 2097169, data.size() - 3};
  uint32_t crc = 0;
  size_t done = 0;
  for (size_t split : splits) {
    crc = Extend(crc, data.data() + done, split - done);
    done = split;
  }
  crc = Extend(crc, data.data() + done, data.size() - done);
  EXPECT_EQ(crc, whole);

  // Byte-at-a-time over a stretch crossing the odd points agrees too.
  uint32_t a = Value(data.data(), 4090);
  for (size_t i = 4090; i < 4100; ++i) a = Extend(a, data.data() + i, 1);
  EXPECT_EQ(a, Value(data.data(), 4100));

  // A flipped bit anywhere changes the checksum.
  data[data.size() / 2] = static_cast<char>(data[data.size() / 2] ^ 0x01);
  EXPECT_NE(Value(data), whole);
}

TEST(Crc32cTest, MaskDiffersFromValue) {
  for (std::string_view s : {"", "a", "123456789", "foo bar"}) {
    uint32_t crc = Value(s);
    EXPECT_NE(Mask(crc), crc) << s;
    EXPECT_NE(Mask(Mask(crc)), crc) << s;
  }
}

TEST(Crc32cTest, UnmaskInvertsMask) {
  for (uint32_t crc : {0u, 1u, 0x7fffffffu, 0x80000000u, 0xffffffffu, 0xE3069283u, 0xa282ead8u}) {
    EXPECT_EQ(Unmask(Mask(crc)), crc) << crc;
    EXPECT_EQ(Mask(Unmask(crc)), crc) << crc;
  }
  uint32_t crc = Value("123456789");
  EXPECT_EQ(Unmask(Mask(Mask(crc))), Mask(crc));
  EXPECT_EQ(Unmask(Unmask(Mask(Mask(crc)))), crc);
}

TEST(Crc32cTest, MaskMatchesLevelDbFormula) {
  // LevelDB: ((crc >> 15) | (crc << 17)) + 0xa282ead8.
  EXPECT_EQ(Mask(0u), 0xa282ead8u);
  EXPECT_EQ(Mask(0x00008000u), 0xa282ead9u);
}

}  // namespace
}  // namespace cfs::crc32c
