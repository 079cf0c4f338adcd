#include "common/coding.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

namespace cfs {
namespace {

std::string Bytes(std::initializer_list<uint8_t> bytes) {
  std::string s;
  for (uint8_t b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

// --- Big-endian fixed width --------------------------------------------------

TEST(CodingTest, EncodeBE16WritesMostSignificantByteFirst) {
  char b[2];
  EncodeBE16(b, 0x1234);
  EXPECT_EQ(std::string(b, 2), Bytes({0x12, 0x34}));
}

TEST(CodingTest, EncodeBE32WritesMostSignificantByteFirst) {
  char b[4];
  EncodeBE32(b, 0x01020304u);
  EXPECT_EQ(std::string(b, 4), Bytes({0x01, 0x02, 0x03, 0x04}));
}

TEST(CodingTest, EncodeBE64WritesMostSignificantByteFirst) {
  char b[8];
  EncodeBE64(b, 0x0102030405060708ull);
  EXPECT_EQ(std::string(b, 8), Bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08}));
}

TEST(CodingTest, DecodeBE16ReadsMostSignificantByteFirst) {
  std::string b = Bytes({0xab, 0xcd});
  EXPECT_EQ(DecodeBE16(b.data()), 0xabcd);
}

TEST(CodingTest, DecodeBE32ReadsMostSignificantByteFirst) {
  std::string b = Bytes({0xde, 0xad, 0xbe, 0xef});
  EXPECT_EQ(DecodeBE32(b.data()), 0xdeadbeefu);
}

TEST(CodingTest, DecodeBE64ReadsMostSignificantByteFirst) {
  std::string b = Bytes({0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10});
  EXPECT_EQ(DecodeBE64(b.data()), 0xfedcba9876543210ull);
}

TEST(CodingTest, DecodeHandlesHighBitBytesWithoutSignExtension) {
  // char is signed on x86: a byte >= 0x80 must not smear into the upper bits.
  std::string b16 = Bytes({0x00, 0xff});
  EXPECT_EQ(DecodeBE16(b16.data()), 0x00ff);
  std::string b32 = Bytes({0x00, 0x00, 0x00, 0x80});
  EXPECT_EQ(DecodeBE32(b32.data()), 0x80u);
  std::string b64 = Bytes({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80});
  EXPECT_EQ(DecodeBE64(b64.data()), 0x80u);
}

TEST(CodingTest, DecodeReadsUnalignedPointers) {
  std::string buf = Bytes({0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88});
  EXPECT_EQ(DecodeBE16(buf.data() + 1), 0x1122);
  EXPECT_EQ(DecodeBE32(buf.data() + 1), 0x11223344u);
  EXPECT_EQ(DecodeBE64(buf.data() + 1), 0x1122334455667788ull);
}

TEST(CodingTest, BE16RoundTripsBoundaries) {
  for (uint16_t v : {uint16_t{0}, uint16_t{1}, uint16_t{0x7f}, uint16_t{0x80}, uint16_t{0xff}, uint16_t{0x100},
                     uint16_t{0x7fff}, uint16_t{0x8000}, std::numeric_limits<uint16_t>::max()}) {
    char b[2];
    EncodeBE16(b, v);
    EXPECT_EQ(DecodeBE16(b), v);
  }
}

TEST(CodingTest, BE32RoundTripsBoundaries) {
  for (uint32_t v : {0u, 1u, 0xffu, 0x100u, 0xffffu, 0x10000u, 0x7fffffffu, 0x80000000u,
                     std::numeric_limits<uint32_t>::max()}) {
    char b[4];
    EncodeBE32(b, v);
    EXPECT_EQ(DecodeBE32(b), v);
  }
}

TEST(CodingTest, BE64RoundTripsBoundaries) {
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0xffffffff}, uint64_t{1} << 32, uint64_t{1} << 63,
                     std::numeric_limits<uint64_t>::max() - 1, std::numeric_limits<uint64_t>::max()}) {
    char b[8];
    EncodeBE64(b, v);
    EXPECT_EQ(DecodeBE64(b), v);
  }
}

TEST(CodingTest, BE64RoundTripsEveryByteLane) {
  for (int shift = 0; shift < 64; shift += 8) {
    uint64_t v = uint64_t{0xa5} << shift;
    char b[8];
    EncodeBE64(b, v);
    EXPECT_EQ(static_cast<uint8_t>(b[7 - shift / 8]), 0xa5) << shift;
    EXPECT_EQ(DecodeBE64(b), v);
  }
}

TEST(CodingTest, PutBEAppendsInOrder) {
  std::string out = "x";
  PutBE16(&out, 0x0102);
  PutBE32(&out, 0x03040506u);
  PutBE64(&out, 0x0708090a0b0c0d0eull);
  EXPECT_EQ(out, "x" + Bytes({0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d,
                             0x0e}));
  EXPECT_EQ(DecodeBE16(out.data() + 1), 0x0102);
  EXPECT_EQ(DecodeBE32(out.data() + 3), 0x03040506u);
  EXPECT_EQ(DecodeBE64(out.data() + 7), 0x0708090a0b0c0d0eull);
}

// --- Varint ------------------------------------------------------------------

std::string Varint(uint64_t v) {
  std::string s;
  PutVarint64(&s, v);
  return s;
}

TEST(VarintTest, EncodesKnownBytes) {
  EXPECT_EQ(Varint(0), Bytes({0x00}));
  EXPECT_EQ(Varint(1), Bytes({0x01}));
  EXPECT_EQ(Varint(127), Bytes({0x7f}));
  EXPECT_EQ(Varint(128), Bytes({0x80, 0x01}));
  EXPECT_EQ(Varint(300), Bytes({0xac, 0x02}));
  EXPECT_EQ(Varint(16383), Bytes({0xff, 0x7f}));
  EXPECT_EQ(Varint(16384), Bytes({0x80, 0x80, 0x01}));
  EXPECT_EQ(Varint(uint64_t{1} << 63), Bytes({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}));
  EXPECT_EQ(Varint(std::numeric_limits<uint64_t>::max()),
            Bytes({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}));
}

TEST(VarintTest, LengthGrowsBySevenBitGroups) {
  EXPECT_EQ(Varint(0).size(), 1u);
  EXPECT_EQ(Varint(127).size(), 1u);
  EXPECT_EQ(Varint(128).size(), 2u);
  for (int bits = 1; bits <= 64; ++bits) {
    uint64_t v = bits == 64 ? std::numeric_limits<uint64_t>::max() : (uint64_t{1} << bits) - 1;
    EXPECT_EQ(Varint(v).size(), static_cast<size_t>((bits + 6) / 7)) << bits;
  }
  EXPECT_EQ(Varint(std::numeric_limits<uint64_t>::max()).size(), kMaxVarint64Bytes);
}

TEST(VarintTest, RoundTripsBoundaries) {
  std::vector<uint64_t> values = {0, 1, 127, 128, 255, 256, 16383, 16384, (uint64_t{1} << 32) - 1, uint64_t{1} << 32,
                                  (uint64_t{1} << 63) - 1, uint64_t{1} << 63, std::numeric_limits<uint64_t>::max()};
  for (int shift = 0; shift < 64; ++shift) {
    uint64_t p = uint64_t{1} << shift;
    values.push_back(p - 1);
    values.push_back(p);
    values.push_back(p + 1);
  }
  for (uint64_t v : values) {
    std::string enc = Varint(v);
    std::string_view in = enc;
    std::optional<uint64_t> got = GetVarint64(&in);
    ASSERT_TRUE(got.has_value()) << v;
    EXPECT_EQ(*got, v);
    EXPECT_TRUE(in.empty()) << v;
  }
}

TEST(VarintTest, DecodeAdvancesPastOneValueOnly) {
  std::string buf;
  PutVarint64(&buf, 300);
  PutVarint64(&buf, 0);
  PutVarint64(&buf, std::numeric_limits<uint64_t>::max());
  buf += "tail";
  std::string_view in = buf;
  EXPECT_EQ(GetVarint64(&in), std::optional<uint64_t>(300));
  EXPECT_EQ(in.size(), buf.size() - 2);
  EXPECT_EQ(GetVarint64(&in), std::optional<uint64_t>(0));
  EXPECT_EQ(GetVarint64(&in), std::optional<uint64_t>(std::numeric_limits<uint64_t>::max()));
  EXPECT_EQ(in, "tail");
}

TEST(VarintTest, EmptyInputReturnsNullopt) {
  std::string_view in;
  EXPECT_EQ(GetVarint64(&in), std::nullopt);
  EXPECT_TRUE(in.empty());
}

TEST(VarintTest, TruncatedInputReturnsNulloptWithoutAdvancing) {
  std::string full = Varint(std::numeric_limits<uint64_t>::max());
  for (size_t len = 1; len < full.size(); ++len) {
    std::string part = full.substr(0, len);
    std::string_view in = part;
    EXPECT_EQ(GetVarint64(&in), std::nullopt) << len;
    EXPECT_EQ(in.size(), len) << "advanced on failure";
    EXPECT_EQ(in.data(), part.data());
  }
}

TEST(VarintTest, ElevenByteEncodingReturnsNulloptWithoutAdvancing) {
  // Ten continuation bytes then a terminator: longer than any uint64_t needs.
  std::string enc(10, static_cast<char>(0x80));
  enc.push_back(0x00);
  std::string_view in = enc;
  EXPECT_EQ(GetVarint64(&in), std::nullopt);
  EXPECT_EQ(in.size(), enc.size());
}

TEST(VarintTest, TenthByteOverflowingSixtyFourBitsReturnsNullopt) {
  // The tenth byte carries bit 63 only; 0x02 would be bit 64.
  std::string enc(9, static_cast<char>(0xff));
  enc.push_back(0x02);
  std::string_view in = enc;
  EXPECT_EQ(GetVarint64(&in), std::nullopt);
  EXPECT_EQ(in.size(), enc.size());

  std::string big(9, static_cast<char>(0x80));
  big.push_back(0x7f);
  in = big;
  EXPECT_EQ(GetVarint64(&in), std::nullopt);
  EXPECT_EQ(in.size(), big.size());
}

TEST(VarintTest, TenthByteWithContinuationBitReturnsNullopt) {
  std::string enc(9, static_cast<char>(0xff));
  enc.push_back(static_cast<char>(0x81));
  enc.push_back(0x00);
  std::string_view in = enc;
  EXPECT_EQ(GetVarint64(&in), std::nullopt);
  EXPECT_EQ(in.size(), enc.size());
}

TEST(VarintTest, NonMinimalEncodingDecodesToSameValue) {
  // 0x81 0x80 0x00 is a padded 1: accepted, as LEB128 readers do.
  std::string enc = Bytes({0x81, 0x80, 0x00});
  std::string_view in = enc;
  EXPECT_EQ(GetVarint64(&in), std::optional<uint64_t>(1));
  EXPECT_TRUE(in.empty());
}

TEST(VarintTest, PutAppendsToExistingContent) {
  std::string out = "ab";
  PutVarint64(&out, 128);
  EXPECT_EQ(out, "ab" + Bytes({0x80, 0x01}));
}

}  // namespace
}  // namespace cfs
