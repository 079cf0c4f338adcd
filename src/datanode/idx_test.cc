#include "datanode/idx.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/coding.h"
#include "datanode/needle.h"
#include "testing/temp_dir.h"

namespace cfs::datanode {
namespace {

std::string EncodeEntries(const std::vector<IdxEntry>& entries) {
  std::string out;
  for (const IdxEntry& e : entries) {
    char raw[kIdxEntrySize];
    EncodeIdxEntry(e, raw);
    out.append(raw, kIdxEntrySize);
  }
  return out;
}

// A SeaweedFS "5BytesOffset" entry: id, 4 low offset bytes, the high byte, size.
std::string Encode17(uint64_t id, uint64_t offset_units, uint32_t size) {
  std::string out;
  PutBE64(&out, id);
  PutBE32(&out, static_cast<uint32_t>(offset_units));
  out.push_back(static_cast<char>(offset_units >> 32));
  PutBE32(&out, size);
  return out;
}

bool Same(const IdxEntry& a, const IdxEntry& b) {
  return a.id == b.id && a.offset_units == b.offset_units && a.size == b.size;
}

std::vector<IdxEntry> Collect(std::string_view data, int offset_bytes, size_t* torn) {
  std::vector<IdxEntry> out;
  *torn = ForEachIdxEntry(data, offset_bytes, [&](const IdxEntry& e, uint64_t i) {
    EXPECT_EQ(i, out.size());
    out.push_back(e);
  });
  return out;
}

TEST(IdxTest, EntryIsIdOffsetSizeBigEndian) {
  IdxEntry e{NeedleId(0x0102030405060708), 0x0A0B0C0D, 0x11223344};
  char raw[kIdxEntrySize];
  EncodeIdxEntry(e, raw);
  EXPECT_EQ(std::string(raw, kIdxEntrySize),
            std::string("\x01\x02\x03\x04\x05\x06\x07\x08\x0a\x0b\x0c\x0d\x11\x22\x33\x44", 16));
  IdxEntry d = DecodeIdxEntry(raw);
  EXPECT_TRUE(Same(d, e));
  EXPECT_EQ(d.offset_bytes(), uint64_t{0x0A0B0C0D} * 8);
}

TEST(IdxTest, EntryRoundTripsExtremes) {
  for (const IdxEntry& e : {IdxEntry{NeedleId(0), 0, 0}, IdxEntry{NeedleId(~uint64_t{0}), 0xFFFFFFFF, kTombstoneSize},
                            IdxEntry{NeedleId(1), 1, 1}}) {
    char raw[kIdxEntrySize];
    EncodeIdxEntry(e, raw);
    EXPECT_TRUE(Same(DecodeIdxEntry(raw), e));
  }
}

TEST(IdxTest, LargestOffsetAddresses32GiB) {
  IdxEntry e{NeedleId(1), 0xFFFFFFFF, 10};
  EXPECT_EQ(e.offset_bytes(), kMaxBlockGroupBytes - 8);
}

TEST(IdxTest, IsDeletionForZeroOffsetZeroSizeOrTombstoneSize) {
  EXPECT_FALSE((IdxEntry{NeedleId(1), 5, 10}).IsDeletion());
  EXPECT_FALSE((IdxEntry{NeedleId(1), 1, 1}).IsDeletion());
  EXPECT_FALSE((IdxEntry{NeedleId(1), 5, 0xFFFFFFFE}).IsDeletion());
  EXPECT_TRUE((IdxEntry{NeedleId(1), 0, 10}).IsDeletion());  // old-style deletion without a record
  EXPECT_TRUE((IdxEntry{NeedleId(1), 5, 0}).IsDeletion());
  EXPECT_TRUE((IdxEntry{NeedleId(1), 5, kTombstoneSize}).IsDeletion());
  EXPECT_TRUE((IdxEntry{NeedleId(1), 0, 0}).IsDeletion());
  EXPECT_EQ(kTombstoneSize, 0xFFFFFFFFu);
}

TEST(IdxTest, ForEachIdxEntryVisitsEveryWholeEntryInOrder) {
  std::vector<IdxEntry> in = {{NeedleId(3), 1, 100}, {NeedleId(1), 20, 7}, {NeedleId(3), 30, kTombstoneSize}};
  size_t torn = 99;
  auto out = Collect(EncodeEntries(in), 4, &torn);
  EXPECT_EQ(torn, 0u);
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_TRUE(Same(out[i], in[i])) << i;
}

TEST(IdxTest, ForEachIdxEntryReportsTornBytes) {
  std::string data = EncodeEntries({{NeedleId(1), 1, 10}, {NeedleId(2), 5, 20}});
  for (size_t extra = 1; extra < kIdxEntrySize; ++extra) {
    std::string torn_data = data + std::string(extra, '\x7f');
    size_t torn = 0;
    auto out = Collect(torn_data, 4, &torn);
    EXPECT_EQ(torn, extra);
    EXPECT_EQ(out.size(), 2u);
  }
  size_t torn = 99;
  EXPECT_TRUE(Collect("", 4, &torn).empty());
  EXPECT_EQ(torn, 0u);
  EXPECT_TRUE(Collect("short", 4, &torn).empty());
  EXPECT_EQ(torn, 5u);
}

TEST(IdxTest, FiveByteOffsetsUse17ByteEntries) {
  EXPECT_EQ(IdxEntrySize(4), 16u);
  EXPECT_EQ(IdxEntrySize(5), 17u);
  std::string data = Encode17(7, 0x12'3456'789A, 1000) + Encode17(8, 0xFF'FFFF'FFFF, kTombstoneSize) +
                     Encode17(9, 0x10, 5);
  ASSERT_EQ(data.size(), 51u);
  IdxEntry e = DecodeIdxEntry(data.data(), 5);
  EXPECT_EQ(e.id, NeedleId(7));
  EXPECT_EQ(e.offset_units, 0x12'3456'789Au);
  EXPECT_EQ(e.size, 1000u);
  EXPECT_EQ(e.offset_bytes(), 0x12'3456'789Au * 8);

  size_t torn = 99;
  auto out = Collect(data + std::string(16, '\0'), 5, &torn);
  EXPECT_EQ(torn, 16u);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(Same(out[0], (IdxEntry{NeedleId(7), 0x12'3456'789A, 1000})));
  EXPECT_TRUE(Same(out[1], (IdxEntry{NeedleId(8), 0xFF'FFFF'FFFF, kTombstoneSize})));
  EXPECT_TRUE(out[1].IsDeletion());
  EXPECT_TRUE(Same(out[2], (IdxEntry{NeedleId(9), 0x10, 5})));
}

class IdxFileTest : public ::testing::Test {
 protected:
  // Writes `data` to a file and returns it opened for reading.
  std::unique_ptr<File> WriteFile(const std::string& name, const std::string& data) {
    std::string path = dir_.Join(name);
    auto f = Env::Default()->Open(path, OpenMode::kTruncate);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    EXPECT_TRUE((*f)->WriteAt(0, data).ok());
    auto r = Env::Default()->Open(path, OpenMode::kRead);
    EXPECT_TRUE(r.ok());
    return std::move(*r);
  }

  // Checks that ScanIdxFile over the first `size` bytes of `data` reports
  // exactly what ForEachIdxEntry does.
  void ExpectScanMatchesForEach(const std::string& data, int offset_bytes, uint64_t size) {
    auto file = WriteFile("scan.idx", data);
    size_t want_torn = 0;
    auto want = Collect(std::string_view(data).substr(0, size), offset_bytes, &want_torn);
    std::vector<IdxEntry> got;
    auto torn = ScanIdxFile(*file, size, offset_bytes, [&](const IdxEntry& e, uint64_t i) {
      EXPECT_EQ(i, got.size());
      got.push_back(e);
    });
    ASSERT_TRUE(torn.ok()) << torn.status().ToString();
    EXPECT_EQ(*torn, want_torn);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_TRUE(Same(got[i], want[i])) << "entry " << i;
    }
  }

  cfs::testing::TempDir dir_;
};

TEST_F(IdxFileTest, ScanOfAFileLargerThanOneChunkMatchesForEach) {
  // 70,000 entries are 1,120,000 bytes: more than the 1 MiB read chunk, and
  // the chunk boundary falls at a whole entry.
  std::string data;
  for (uint64_t i = 0; i < 70000; ++i) {
    IdxEntry e{NeedleId(i * 7 + 1), i * 3 + 1, i % 5 == 0 ? kTombstoneSize : static_cast<uint32_t>(i)};
    char raw[kIdxEntrySize];
    EncodeIdxEntry(e, raw);
    data.append(raw, kIdxEntrySize);
  }
  ASSERT_GT(data.size(), size_t{1} << 20);
  data += "torn!!!";  // 7 bytes of a torn entry
  ExpectScanMatchesForEach(data, 4, data.size());
}

TEST_F(IdxFileTest, ScanOfAFiveByteOffsetFileLargerThanOneChunkMatchesForEach) {
  std::string data;
  for (uint64_t i = 0; i < 70000; ++i) data += Encode17(i + 1, (i << 20) + i, static_cast<uint32_t>(i * 11));
  ASSERT_GT(data.size(), 65536u * 17);  // more than one chunk of 17-byte entries
  data += std::string(3, '\x01');
  ExpectScanMatchesForEach(data, 5, data.size());
}

TEST_F(IdxFileTest, ScanReadsOnlyTheGivenSize) {
  std::string data = EncodeEntries({{NeedleId(1), 1, 10}, {NeedleId(2), 3, 20}, {NeedleId(3), 5, 30}});
  ExpectScanMatchesForEach(data, 4, 32);  // two entries
  ExpectScanMatchesForEach(data, 4, 40);  // two entries and 8 torn bytes
  ExpectScanMatchesForEach(data, 4, 0);
}

TEST_F(IdxFileTest, ScanOfAnEmptyFileVisitsNothing) { ExpectScanMatchesForEach("", 4, 0); }

TEST_F(IdxFileTest, ScanPastTheEndOfTheFileIsAnError) {
  auto file = WriteFile("short.idx", EncodeEntries({{NeedleId(1), 1, 10}}));
  auto torn = ScanIdxFile(*file, 64, 4, [](const IdxEntry&, uint64_t) {});
  ASSERT_FALSE(torn.ok());
  EXPECT_EQ(torn.status().code(), Code::kCorruption) << torn.status().ToString();
}

}  // namespace
}  // namespace cfs::datanode
