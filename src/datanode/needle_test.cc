#include "datanode/needle.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/coding.h"
#include "common/crc32c.h"

namespace cfs::datanode {
namespace {

constexpr uint64_t kMax40Bits = (uint64_t{1} << 40) - 1;

// A needle with every optional field set.
NeedleView FullNeedle() {
  NeedleView n;
  n.cookie = Cookie(0x637037d6);
  n.id = NeedleId(0x0102030405060708);
  n.data = "the quick brown fox";
  n.flags = kFlagGzip | kFlagName | kFlagMime | kFlagLastModified | kFlagTtl | kFlagPairs;
  n.name = "fox.txt.gz";
  n.mime = "text/plain";
  n.last_modified = 0x00AB'CDEF'0123;  // uses all five stored bytes
  n.ttl = Ttl{3, TtlUnit::kDay};
  n.pairs = R"({"owner":"alice"})";
  return n;
}

std::string Encode(const NeedleView& n, uint64_t append_at_ns = 42) {
  std::string out;
  auto size = EncodeNeedle(n, append_at_ns, &out);
  EXPECT_TRUE(size.ok()) << size.status().ToString();
  return out;
}

// A record whose body is exactly `body`, with a checksum and timestamp tail.
std::string RecordWithBody(std::string_view body, NeedleId id = NeedleId(9)) {
  std::string out(kNeedleHeaderSize, '\0');
  EncodeNeedleHeader({Cookie(1), id, static_cast<uint32_t>(body.size())}, out.data());
  out.append(body);
  PutBE32(&out, 0);
  PutBE64(&out, 7);
  return out;
}

// The body of a needle with `data` and `flags`, then `rest` verbatim.
std::string Body(std::string_view data, uint8_t flags, std::string_view rest) {
  std::string b;
  PutBE32(&b, static_cast<uint32_t>(data.size()));
  b.append(data);
  b.push_back(static_cast<char>(flags));
  b.append(rest);
  return b;
}

void ExpectCorruption(std::string_view record, std::string_view message_part) {
  auto got = DecodeNeedle(record);
  ASSERT_FALSE(got.ok()) << "decoded a bad record of " << record.size() << " bytes";
  EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
  EXPECT_NE(got.status().message().find(message_part), std::string::npos)
      << "message: " << got.status().message() << "; expected to contain: " << message_part;
}

TEST(NeedleTest, RoundTripsEveryOptionalField) {
  const NeedleView in = FullNeedle();
  std::string out;
  auto size = EncodeNeedle(in, 0x1122334455667788, &out);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 4 + in.data.size() + 1 + (1 + in.name.size()) + (1 + in.mime.size()) + 5 + 2 + (2 + in.pairs.size()));
  EXPECT_EQ(out.size(), NeedleRecordSize(*size));

  auto got = DecodeNeedle(out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const NeedleView& n = *got;
  EXPECT_EQ(n.cookie, in.cookie);
  EXPECT_EQ(n.id, in.id);
  EXPECT_EQ(n.size, *size);
  EXPECT_EQ(n.data, in.data);
  EXPECT_EQ(n.flags, in.flags);
  EXPECT_EQ(n.name, in.name);
  EXPECT_EQ(n.mime, in.mime);
  EXPECT_EQ(n.last_modified, in.last_modified);
  EXPECT_EQ(n.ttl, in.ttl);
  EXPECT_EQ(n.pairs, in.pairs);
  EXPECT_EQ(n.checksum, NeedleChecksum(in.data));
  EXPECT_EQ(n.append_at_ns, 0x1122334455667788u);
  EXPECT_FALSE(n.IsTombstone());
}

TEST(NeedleTest, HeaderIsCookieIdSizeBigEndian) {
  std::string out = Encode(FullNeedle());
  const std::string expected_prefix("\x63\x70\x37\xd6\x01\x02\x03\x04\x05\x06\x07\x08", 12);
  EXPECT_EQ(out.substr(0, 12), expected_prefix);
  NeedleHeader h = DecodeNeedleHeader(out.data());
  EXPECT_EQ(h.cookie, Cookie(0x637037d6));
  EXPECT_EQ(h.id, NeedleId(0x0102030405060708));
  EXPECT_EQ(h.size, DecodeBE32(out.data() + 12));

  char raw[kNeedleHeaderSize];
  EncodeNeedleHeader(h, raw);
  EXPECT_EQ(std::string_view(raw, kNeedleHeaderSize), std::string_view(out).substr(0, kNeedleHeaderSize));
}

TEST(NeedleTest, BodyFieldsAreLaidOutInFlagOrder) {
  NeedleView in = FullNeedle();
  in.flags = kFlagName | kFlagMime | kFlagLastModified | kFlagTtl | kFlagPairs;
  in.data = "ab";
  in.name = "n";
  in.mime = "m";
  in.last_modified = 0x0102030405;
  in.ttl = Ttl{7, TtlUnit::kWeek};
  in.pairs = "p";
  std::string out = Encode(in);
  const std::string body("\x00\x00\x00\x02"  // data size
                         "ab"
                         "\x3e"              // flags
                         "\x01n"             // name
                         "\x01m"             // mime
                         "\x01\x02\x03\x04\x05"  // last modified, low 5 bytes
                         "\x07\x04"          // ttl: count, unit
                         "\x00\x01p",        // pairs
                         4 + 2 + 1 + 2 + 2 + 5 + 2 + 3);
  EXPECT_EQ(out.substr(kNeedleHeaderSize, body.size()), body);
  EXPECT_EQ(DecodeBE32(out.data() + 12), body.size());
}

TEST(NeedleTest, EmptyMimeWithItsFlagSetRoundTrips) {
  // As in SeaweedFS's 43.dat: the mime flag is set and the mime is empty.
  NeedleView in;
  in.id = NeedleId(1);
  in.cookie = Cookie(2);
  in.data = "zip bytes";
  in.flags = kFlagName | kFlagMime;
  in.name = "Stickies.app.zip";
  in.mime = "";
  std::string out;
  auto size = EncodeNeedle(in, 1, &out);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 4 + in.data.size() + 1 + 1 + in.name.size() + 1);  // the mime's length byte is there
  auto got = DecodeNeedle(out);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->flags, kFlagName | kFlagMime);
  EXPECT_EQ(got->name, "Stickies.app.zip");
  EXPECT_TRUE(got->mime.empty());
  EXPECT_EQ(got->data, "zip bytes");
}

TEST(NeedleTest, LastModifiedKeepsFortyBits) {
  NeedleView in;
  in.id = NeedleId(1);
  in.data = "x";
  in.flags = kFlagLastModified;
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{1700000000}, kMax40Bits}) {
    in.last_modified = v;
    auto got = DecodeNeedle(Encode(in));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->last_modified, v);
  }
  in.last_modified = kMax40Bits + 1;
  auto size = NeedleBodySize(in);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kInvalidArgument);
}

TEST(NeedleTest, TtlRoundTripsEveryUnit) {
  NeedleView in;
  in.id = NeedleId(1);
  in.data = "x";
  in.flags = kFlagTtl;
  for (uint8_t unit = 1; unit <= 6; ++unit) {
    in.ttl = Ttl{200, static_cast<TtlUnit>(unit)};
    auto got = DecodeNeedle(Encode(in));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->ttl, in.ttl);
  }
}

TEST(NeedleTest, FieldsWithoutTheirFlagAreNeitherWrittenNorRead) {
  NeedleView in = FullNeedle();
  in.flags = 0;
  std::string out;
  auto size = EncodeNeedle(in, 1, &out);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 4 + in.data.size() + 1);
  auto got = DecodeNeedle(out);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->flags, 0);
  EXPECT_TRUE(got->name.empty());
  EXPECT_TRUE(got->mime.empty());
  EXPECT_EQ(got->last_modified, 0u);
  EXPECT_TRUE(got->ttl.empty());
  EXPECT_TRUE(got->pairs.empty());
}

TEST(NeedleTest, SizeCountsOnlyTheBody) {
  NeedleView in;
  in.id = NeedleId(5);
  in.data = "hello";
  std::string out = Encode(in);
  // data_size u32 + 5 data bytes + flags byte; the header and tail are not counted.
  EXPECT_EQ(DecodeBE32(out.data() + 12), 10u);
  EXPECT_EQ(out.size(), NeedleRecordSize(10));
  EXPECT_EQ(NeedleReadSize(10), kNeedleHeaderSize + 10 + kNeedleChecksumSize + kNeedleTimestampSize);
}

TEST(NeedleTest, EmptyDataIsSizeZeroWithNoBodyAndA32ByteRecord) {
  NeedleView in;
  in.id = NeedleId(5);
  in.cookie = Cookie(6);
  in.flags = kFlagName | kFlagMime;  // ignored: there is no body to hold them
  in.name = "ignored";
  auto body = NeedleBodySize(in);
  ASSERT_TRUE(body.ok());
  EXPECT_EQ(*body, 0u);

  std::string out;
  auto size = EncodeNeedle(in, 99, &out);
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 0u);
  ASSERT_EQ(out.size(), 32u);
  EXPECT_EQ(NeedleRecordSize(0), 32u);
  EXPECT_EQ(DecodeBE32(out.data() + 12), 0u);
  // The tail follows the header directly: checksum of no data, then the time.
  EXPECT_EQ(DecodeBE32(out.data() + 16), NeedleChecksum(""));
  EXPECT_EQ(DecodeBE64(out.data() + 20), 99u);

  auto got = DecodeNeedle(out);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->IsTombstone());
  EXPECT_EQ(got->size, 0u);
  EXPECT_TRUE(got->data.empty());
  EXPECT_EQ(got->flags, 0);
  EXPECT_TRUE(got->name.empty());
  EXPECT_EQ(got->id, NeedleId(5));
  EXPECT_EQ(got->cookie, Cookie(6));
  EXPECT_EQ(got->append_at_ns, 99u);
}

TEST(NeedleTest, PaddingIsOneToEightNeverZero) {
  for (uint32_t size = 0; size <= 64; ++size) {
    SCOPED_TRACE(size);
    uint32_t pad = NeedlePadding(size);
    EXPECT_GE(pad, 1u);
    EXPECT_LE(pad, 8u);
    EXPECT_EQ((kNeedleHeaderSize + size + kNeedleChecksumSize + kNeedleTimestampSize + pad) % 8, 0u);
    EXPECT_EQ(NeedleRecordSize(size) % 8, 0u);
    EXPECT_EQ(NeedleRecordSize(size), NeedleReadSize(size) + pad);
  }
  // 16 + 4 + 12 = 32 is already aligned: a whole 8 bytes of padding, not 0.
  EXPECT_EQ(NeedlePadding(4), 8u);
  EXPECT_EQ(NeedlePadding(0), 4u);
  EXPECT_EQ(NeedlePadding(3), 1u);
  // Large sizes do not overflow the computation.
  EXPECT_EQ(NeedleRecordSize(0xFFFFFFFF) % 8, 0u);
  EXPECT_GE(NeedlePadding(0xFFFFFFFF), 1u);
}

TEST(NeedleTest, EveryEncodedRecordIsAMultipleOfEight) {
  std::string data(64, 'd');
  std::string all;
  std::vector<size_t> starts;
  for (size_t len = 0; len <= 64; ++len) {
    NeedleView in;
    in.id = NeedleId(len + 1);
    in.data = std::string_view(data).substr(0, len);
    in.flags = len % 2 ? kFlagName : 0;
    in.name = "abc";
    starts.push_back(all.size());
    std::string one = Encode(in);
    EXPECT_EQ(one.size() % 8, 0u) << "data of " << len << " bytes";
    auto body = NeedleBodySize(in);
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(one.size(), NeedleRecordSize(*body));
    all += one;
  }
  // Back to back, each record starts 8-byte aligned and decodes.
  for (size_t i = 0; i < starts.size(); ++i) {
    EXPECT_EQ(starts[i] % 8, 0u);
    auto got = DecodeNeedle(std::string_view(all).substr(starts[i]));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->id, NeedleId(i + 1));
    EXPECT_EQ(got->data.size(), i);
  }
}

TEST(NeedleTest, EncodeAppendsToWhatTheBufferHolds) {
  std::string out = "prefix";
  NeedleView in;
  in.id = NeedleId(1);
  in.data = "x";
  ASSERT_TRUE(EncodeNeedle(in, 1, &out).ok());
  EXPECT_EQ(out.substr(0, 6), "prefix");
  auto got = DecodeNeedle(std::string_view(out).substr(6));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->data, "x");
}

TEST(NeedleTest, WritesTheRawCrc32c) {
  NeedleView in;
  in.id = NeedleId(1);
  in.data = "123456789";
  std::string out = Encode(in);
  auto body = NeedleBodySize(in);
  ASSERT_TRUE(body.ok());
  uint32_t stored = DecodeBE32(out.data() + kNeedleHeaderSize + *body);
  EXPECT_EQ(stored, 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(NeedleChecksum("123456789"), 0xE3069283u);
  EXPECT_NE(stored, crc32c::Mask(0xE3069283u));
}

TEST(NeedleTest, ChecksumMatchesAcceptsRawAndMaskedAndRefusesOthers) {
  const std::string data = "some needle data";
  const uint32_t raw = NeedleChecksum(data);
  EXPECT_TRUE(NeedleChecksumMatches(raw, data));
  EXPECT_TRUE(NeedleChecksumMatches(crc32c::Mask(raw), data));
  EXPECT_FALSE(NeedleChecksumMatches(raw ^ 1, data));
  EXPECT_FALSE(NeedleChecksumMatches(crc32c::Mask(raw) ^ 0x80000000u, data));
  EXPECT_FALSE(NeedleChecksumMatches(crc32c::Unmask(raw), data));
  EXPECT_FALSE(NeedleChecksumMatches(raw, "some needle dat4"));
  // The empty data of a tombstone checks too.
  EXPECT_TRUE(NeedleChecksumMatches(NeedleChecksum(""), ""));
}

TEST(NeedleTest, DecodeDoesNotVerifyTheChecksum) {
  std::string out = Encode(FullNeedle());
  auto body = DecodeBE32(out.data() + 12);
  out[kNeedleHeaderSize + body] ^= 0x55;
  auto got = DecodeNeedle(out);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(NeedleChecksumMatches(got->checksum, got->data));
}

TEST(NeedleTest, DecodeRefusesARecordShorterThanTheHeader) {
  std::string out = Encode(FullNeedle());
  for (size_t len = 0; len < kNeedleHeaderSize; ++len) {
    SCOPED_TRACE(len);
    ExpectCorruption(std::string_view(out).substr(0, len), "shorter than its header");
  }
}

TEST(NeedleTest, DecodeRefusesTruncationAtEveryLength) {
  std::string full = Encode(FullNeedle());
  const size_t read_size = NeedleReadSize(DecodeBE32(full.data() + 12));
  for (size_t len = 0; len < read_size; ++len) {
    SCOPED_TRACE(len);
    // A copy of exactly `len` bytes, so a read past it is caught by tools.
    std::string cut = full.substr(0, len);
    auto got = DecodeNeedle(cut);
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.status().code(), Code::kCorruption);
  }
  EXPECT_TRUE(DecodeNeedle(full.substr(0, read_size)).ok());  // the padding is not needed
  EXPECT_TRUE(DecodeNeedle(full).ok());
}

TEST(NeedleTest, DecodeRefusesABodyTooShortForTheDataSize) {
  ExpectCorruption(RecordWithBody(std::string("\x00\x00\x00", 3)), "too short for data size");
}

TEST(NeedleTest, DecodeRefusesDataRunningPastTheBody) {
  std::string body;
  PutBE32(&body, 100);
  body += "abc";
  ExpectCorruption(RecordWithBody(body), "data size runs past the body");
  // Data filling the body leaves no room for the flags byte.
  body.clear();
  PutBE32(&body, 3);
  body += "abc";
  ExpectCorruption(RecordWithBody(body), "data size runs past the body");
  // A data size near 2^32 must not wrap around a bounds check.
  body.clear();
  PutBE32(&body, 0xFFFFFFFF);
  body += "abc";
  ExpectCorruption(RecordWithBody(body), "data size runs past the body");
}

TEST(NeedleTest, DecodeRefusesANameRunningPastTheBody) {
  ExpectCorruption(RecordWithBody(Body("d", kFlagName, "")), "name runs past the body");
  ExpectCorruption(RecordWithBody(Body("d", kFlagName, "\x05" "abc")), "name runs past the body");
  ExpectCorruption(RecordWithBody(Body("d", kFlagName, "\xff" "abc")), "name runs past the body");
}

TEST(NeedleTest, DecodeRefusesAMimeRunningPastTheBody) {
  ExpectCorruption(RecordWithBody(Body("d", kFlagMime, "")), "mime runs past the body");
  ExpectCorruption(RecordWithBody(Body("d", kFlagName | kFlagMime, "\x01n\x09text")), "mime runs past the body");
}

TEST(NeedleTest, DecodeRefusesLastModifiedRunningPastTheBody) {
  ExpectCorruption(RecordWithBody(Body("d", kFlagLastModified, "1234")), "last-modified runs past the body");
  ExpectCorruption(RecordWithBody(Body("d", kFlagLastModified, "")), "last-modified runs past the body");
}

TEST(NeedleTest, DecodeRefusesTtlRunningPastTheBody) {
  ExpectCorruption(RecordWithBody(Body("d", kFlagTtl, "\x03")), "ttl runs past the body");
}

TEST(NeedleTest, DecodeRefusesAnUnknownTtlUnit) {
  ExpectCorruption(RecordWithBody(Body("d", kFlagTtl, "\x03\x09")), "ttl unit byte 9 is unknown");
}

TEST(NeedleTest, DecodeRefusesPairsRunningPastTheBody) {
  ExpectCorruption(RecordWithBody(Body("d", kFlagPairs, "\x00")), "pairs run past the body");
  ExpectCorruption(RecordWithBody(Body("d", kFlagPairs, std::string("\x00\x09{}", 4))), "pairs run past the body");
  ExpectCorruption(RecordWithBody(Body("d", kFlagPairs, std::string("\xff\xff{}", 4))), "pairs run past the body");
}

TEST(NeedleTest, DecodeRefusesBytesLeftOverAfterTheLastField) {
  ExpectCorruption(RecordWithBody(Body("d", 0, "x")), "1 bytes left over");
  ExpectCorruption(RecordWithBody(Body("d", kFlagName, "\x01nzz")), "2 bytes left over");
  // The well-formed body is accepted, so the bytes alone are the problem.
  EXPECT_TRUE(DecodeNeedle(RecordWithBody(Body("d", kFlagName, "\x01n"))).ok());
}

TEST(NeedleTest, DecodeOfAnyByteFlippedRecordNeverCrashes) {
  // Each byte of a record, set to a few nasty values: the decoder must answer
  // with a value or Corruption, never read outside the record.
  const std::string full = Encode(FullNeedle());
  const size_t read_size = NeedleReadSize(DecodeBE32(full.data() + 12));
  for (size_t i = 0; i < read_size; ++i) {
    for (char v : {'\x00', '\x01', '\x7f', '\x80', '\xff'}) {
      std::string bad = full.substr(0, read_size);
      bad[i] = v;
      auto got = DecodeNeedle(bad);
      if (!got.ok()) {
        EXPECT_EQ(got.status().code(), Code::kCorruption) << "byte " << i;
      } else {
        // Whatever decoded lies within the record.
        EXPECT_LE(NeedleReadSize(got->size), bad.size());
        for (std::string_view field : {got->data, got->name, got->mime, got->pairs}) {
          if (field.empty()) continue;
          EXPECT_GE(field.data(), bad.data()) << "byte " << i;
          EXPECT_LE(field.data() + field.size(), bad.data() + bad.size()) << "byte " << i;
        }
      }
    }
  }
}

TEST(NeedleTest, BodySizeRefusesA256ByteName) {
  NeedleView in;
  in.id = NeedleId(1);
  in.data = "x";
  in.flags = kFlagName;
  std::string name(255, 'n');
  in.name = name;
  EXPECT_TRUE(NeedleBodySize(in).ok());
  name.push_back('n');
  in.name = name;
  auto size = NeedleBodySize(in);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kInvalidArgument);
  EXPECT_NE(size.status().message().find("256"), std::string::npos) << size.status().message();
  // Without its flag the name is not stored, so its length does not matter.
  in.flags = 0;
  EXPECT_TRUE(NeedleBodySize(in).ok());
}

TEST(NeedleTest, BodySizeRefusesA256ByteMimeAnd64KiBPairs) {
  NeedleView in;
  in.id = NeedleId(1);
  in.data = "x";
  std::string mime(256, 'm');
  in.flags = kFlagMime;
  in.mime = mime;
  EXPECT_EQ(NeedleBodySize(in).status().code(), Code::kInvalidArgument);

  std::string pairs(65535, 'p');
  in.flags = kFlagPairs;
  in.pairs = pairs;
  EXPECT_TRUE(NeedleBodySize(in).ok());
  pairs.push_back('p');
  in.pairs = pairs;
  EXPECT_EQ(NeedleBodySize(in).status().code(), Code::kInvalidArgument);
}

TEST(NeedleTest, EncodeRefusesWhatBodySizeRefusesAndWritesNothing) {
  NeedleView in;
  in.id = NeedleId(1);
  in.data = "x";
  in.flags = kFlagName;
  std::string name(256, 'n');
  in.name = name;
  std::string out = "kept";
  auto size = EncodeNeedle(in, 1, &out);
  ASSERT_FALSE(size.ok());
  EXPECT_EQ(size.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(out, "kept");
}








}  // namespace
}  // namespace cfs::datanode

namespace cfs::datanode {
namespace {


}  // namespace
}  // namespace cfs::datanode
