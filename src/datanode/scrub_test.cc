// Scrub and read-only serving over real SeaweedFS volume files
// (../shared/fixtures/seaweedfs, see its README for what each holds).
// The fixtures are only ever opened for reading; tests that need to write
// work on copies in a TempDir.
#include "datanode/scrub.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/crc32c.h"
#include "datanode/block_group.h"
#include "datanode/idx.h"
#include "testing/temp_dir.h"

namespace cfs::datanode {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = CFS_SHARED_DIR "/fixtures/seaweedfs";

// Needle ids of healthy_volume: 17 with data, 10 of them deleted later.
const std::set<uint64_t> kHealthyLive = {0x3, 0x4, 0x8, 0x9, 0x15, 0x27, 0x30};
const std::set<uint64_t> kHealthyDeleted = {0xb, 0x12, 0x14, 0x19, 0x1d, 0x1f, 0x21, 0x23, 0x2d, 0x2e};

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::string Describe(const ScrubReport& r) {
  std::string out;
  for (const auto& p : r.problems) out += "\n  at " + std::to_string(p.offset) + ": " + p.message;
  return out;
}

// What a scan of a .dat saw, by needle id.
struct ScannedNeedle {
  Cookie cookie;
  std::string data;
  uint32_t checksum = 0;
  bool checksum_ok = false;
};

class SeaweedFsFixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::is_directory(kFixtures)) {
      GTEST_SKIP() << "../shared/fixtures absent: " << kFixtures << " is not a directory";
    }
  }

  static std::string Fixture(const std::string& name) { return kFixtures + "/" + name; }
  Env* env() { return Env::Default(); }

  // Scans a fixture .dat and returns the needles with data, by id.
  std::map<uint64_t, ScannedNeedle> ScanNeedles(const std::string& dat) {
    std::map<uint64_t, ScannedNeedle> out;
    auto report = ScrubDat(env(), Fixture(dat), "", [&](const ScannedRecord& rec) {
      if (!rec.decoded || rec.needle.size == 0) return;
      out[rec.needle.id.value()] =
          ScannedNeedle{rec.needle.cookie, std::string(rec.needle.data), rec.needle.checksum, rec.checksum_ok};
    });
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return out;
  }

  // A TempDir holding 1.dat and 1.idx as symlinks to a fixture volume, so
  // BlockGroup::Open finds it by block group id.
  std::unique_ptr<cfs::testing::TempDir> LinkAsGroupOne(const std::string& base) {
    auto dir = std::make_unique<cfs::testing::TempDir>();
    fs::create_symlink(Fixture(base + ".dat"), dir->Join("1.dat"));
    fs::create_symlink(Fixture(base + ".idx"), dir->Join("1.idx"));
    return dir;
  }

  static Result<std::unique_ptr<BlockGroup>> OpenReadOnly(const std::string& dir) {
    return BlockGroup::Open(dir, "", BlockGroupId(1), BlockGroupOptions{.read_only_files = true});
  }
};

TEST_F(SeaweedFsFixtureTest, HealthyVolumeIsClean) {
  auto report = ScrubDat(env(), Fixture("healthy_volume.dat"), Fixture("healthy_volume.idx"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->superblock.version, 3);
  EXPECT_EQ(report->superblock.placement.ToString(), "002");
  EXPECT_EQ(report->dat_bytes, 942856u);
  EXPECT_EQ(report->needles, 17u);
  EXPECT_EQ(report->tombstones, 10u);
  EXPECT_EQ(report->idx_entries, 27u);
  EXPECT_EQ(report->idx_deletions, 10u);
  EXPECT_EQ(report->idx_live, 7u);
}

TEST_F(SeaweedFsFixtureTest, HealthyVolumeHoldsTheExpectedNeedles) {
  std::set<uint64_t> with_data, tombstones;
  auto report = ScrubDat(env(), Fixture("healthy_volume.dat"), "", [&](const ScannedRecord& rec) {
    EXPECT_TRUE(rec.decoded) << rec.problem.ToString();
    EXPECT_TRUE(rec.checksum_ok) << rec.problem.ToString();
    EXPECT_EQ(rec.offset % 8, 0u);
    EXPECT_EQ(rec.record_size, NeedleRecordSize(rec.needle.size));
    (rec.needle.size == 0 ? tombstones : with_data).insert(rec.needle.id.value());
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  std::set<uint64_t> all = kHealthyLive;
  all.insert(kHealthyDeleted.begin(), kHealthyDeleted.end());
  EXPECT_EQ(with_data, all);
  EXPECT_EQ(tombstones, kHealthyDeleted);
}

TEST_F(SeaweedFsFixtureTest, HealthyVolumeWritesRawCrc) {
  auto needles = ScanNeedles("healthy_volume.dat");
  ASSERT_EQ(needles.size(), 17u);
  for (const auto& [id, n] : needles) {
    EXPECT_TRUE(n.checksum_ok) << id;
    EXPECT_EQ(n.checksum, NeedleChecksum(n.data)) << "needle " << id << ": expected the raw CRC (3.09+)";
  }
}

TEST_F(SeaweedFsFixtureTest, Volume43IsCleanWithItsMaskedCrcAccepted) {
  int records = 0;
  auto report = ScrubDat(env(), Fixture("43.dat"), "", [&](const ScannedRecord& rec) {
    ++records;
    ASSERT_TRUE(rec.decoded) << rec.problem.ToString();
    const NeedleView& n = rec.needle;
    EXPECT_EQ(n.id, NeedleId(1));
    EXPECT_EQ(n.name, "Stickies.app.zip");
    EXPECT_EQ(n.flags, 0x0e);
    EXPECT_TRUE(n.mime.empty());  // the mime flag is set with an empty mime
    EXPECT_EQ(n.last_modified, 0x629aeb3eu);
    EXPECT_EQ(n.data.size(), 1153862u);
    EXPECT_EQ(n.data.substr(0, 4), "PK\x03\x04");
    // Written before SeaweedFS 3.09: the stored checksum is the masked CRC.
    EXPECT_NE(n.checksum, NeedleChecksum(n.data));
    EXPECT_EQ(n.checksum, crc32c::Mask(NeedleChecksum(n.data)));
    EXPECT_TRUE(rec.checksum_ok);
    EXPECT_EQ(NeedlePadding(n.size), 2u);
  });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(records, 1);
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->needles, 1u);
  EXPECT_EQ(report->tombstones, 0u);
  EXPECT_EQ(report->idx_entries, 0u);
}

TEST_F(SeaweedFsFixtureTest, EmptyVolumeIsClean) {
  auto report = ScrubDat(env(), Fixture("empty_volume.dat"), Fixture("empty_volume.idx"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->needles, 0u);
  EXPECT_EQ(report->tombstones, 0u);
  EXPECT_EQ(report->idx_entries, 0u);
  EXPECT_EQ(report->idx_live, 0u);
  EXPECT_EQ(report->superblock.placement.ToString(), "002");
}

TEST_F(SeaweedFsFixtureTest, BitrotVolumeHasExactlyThreeProblems) {
  auto report = ScrubDat(env(), Fixture("bitrot_volume.dat"), Fixture("bitrot_volume.idx"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->problems.size(), 3u) << Describe(*report);
  int crc3 = 0, crc30 = 0, trailing = 0;
  for (const auto& p : report->problems) {
    if (Contains(p.message, "needle 3 ") && Contains(p.message, "checksum mismatch") &&
        Contains(p.message, "stored 4af853fb")) {
      ++crc3;
      EXPECT_EQ(p.offset, 8u);  // the first needle
    } else if (Contains(p.message, "needle 30 ") && Contains(p.message, "checksum mismatch") &&
               Contains(p.message, "stored 5077fea1")) {
      ++crc30;
    } else if (Contains(p.message, "1 trailing byte")) {
      ++trailing;
      EXPECT_EQ(p.offset, 942856u);  // the size of the healthy volume
    }
  }
  EXPECT_EQ(crc3, 1) << Describe(*report);
  EXPECT_EQ(crc30, 1) << Describe(*report);
  EXPECT_EQ(trailing, 1) << Describe(*report);
  // The damage is inside needle data: every record still parses.
  EXPECT_EQ(report->needles, 17u);
  EXPECT_EQ(report->tombstones, 10u);
  EXPECT_EQ(report->idx_entries, 27u);
  EXPECT_EQ(report->idx_live, 7u);
}

TEST_F(SeaweedFsFixtureTest, ScrubDatOfAMissingFileIsAnError) {
  auto report = ScrubDat(env(), Fixture("no_such_volume.dat"), "");
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kNotFound) << report.status().ToString();
}

TEST_F(SeaweedFsFixtureTest, SimpleIndexIsClean) {
  auto report = ScrubIdx(env(), Fixture("simple_index.idx"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->idx_entries, 161u);
  EXPECT_EQ(report->idx_deletions, 0u);
  EXPECT_EQ(report->idx_live, 161u);
}

TEST_F(SeaweedFsFixtureTest, DeletedFilesIndexIsClean) {
  auto report = ScrubIdx(env(), Fixture("deleted_files.idx"));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->idx_entries, 230u);
  EXPECT_EQ(report->idx_deletions, 76u);
}

TEST_F(SeaweedFsFixtureTest, FiveByteOffsetIndexIsCleanWithOffsetBytes5) {
  auto report = ScrubIdx(env(), Fixture("187.idx"), 5);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->idx_entries, 60527u);
}

TEST_F(SeaweedFsFixtureTest, FiveByteOffsetIndexReadWithFourByteOffsetsIsNotClean) {
  // 60,527 entries of 17 bytes are not a whole number of 16-byte entries.
  auto report = ScrubIdx(env(), Fixture("187.idx"), 4);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->clean());
}

TEST_F(SeaweedFsFixtureTest, ScrubIdxRefusesOffsetBytesOtherThan4Or5) {
  for (int bytes : {0, 3, 6, 8}) {
    auto report = ScrubIdx(env(), Fixture("simple_index.idx"), bytes);
    ASSERT_FALSE(report.ok()) << bytes;
    EXPECT_EQ(report.status().code(), Code::kInvalidArgument);
  }
}

TEST_F(SeaweedFsFixtureTest, HealthyVolumeServesItsLiveNeedlesReadOnly) {
  auto needles = ScanNeedles("healthy_volume.dat");
  ASSERT_EQ(needles.size(), 17u);
  auto dir = LinkAsGroupOne("healthy_volume");
  auto bg = OpenReadOnly(dir->path());
  ASSERT_TRUE(bg.ok()) << bg.status().ToString();

  BlockGroupStats stats = (*bg)->Stats();
  EXPECT_EQ(stats.needle_count, 7u);
  EXPECT_EQ(stats.deleted_count, 10u);
  EXPECT_EQ(stats.size_bytes, 942856u);
  EXPECT_TRUE(stats.read_only);
  EXPECT_EQ((*bg)->superblock().placement.ToString(), "002");

  std::string buffer;
  for (uint64_t id : kHealthyLive) {
    const ScannedNeedle& want = needles.at(id);
    auto got = (*bg)->Read(NeedleId(id), want.cookie, &buffer);
    ASSERT_TRUE(got.ok()) << "needle " << id << ": " << got.status().ToString();
    EXPECT_EQ(got->id, NeedleId(id));
    EXPECT_EQ(got->cookie, want.cookie);
    EXPECT_EQ(got->data, want.data) << "needle " << id;
    EXPECT_TRUE(NeedleChecksumMatches(got->checksum, got->data)) << "needle " << id;
    // A wrong cookie reads like a missing needle.
    auto wrong = (*bg)->Read(NeedleId(id), Cookie(want.cookie.value() ^ 1), &buffer);
    ASSERT_FALSE(wrong.ok());
    EXPECT_EQ(wrong.status().code(), Code::kNotFound);
  }
  for (uint64_t id : kHealthyDeleted) {
    auto got = (*bg)->Read(NeedleId(id), needles.at(id).cookie, &buffer);
    ASSERT_FALSE(got.ok()) << "deleted needle " << id << " was served";
    EXPECT_EQ(got.status().code(), Code::kNotFound) << got.status().ToString();
  }
  auto absent = (*bg)->Read(NeedleId(0x31), Cookie(0), &buffer);
  EXPECT_EQ(absent.status().code(), Code::kNotFound);
}

TEST_F(SeaweedFsFixtureTest, ReadOnlyHealthyVolumeRefusesWrites) {
  const auto dat_size = fs::file_size(Fixture("healthy_volume.dat"));
  const auto idx_size = fs::file_size(Fixture("healthy_volume.idx"));
  auto needles = ScanNeedles("healthy_volume.dat");
  auto dir = LinkAsGroupOne("healthy_volume");
  {
    auto bg = OpenReadOnly(dir->path());
    ASSERT_TRUE(bg.ok()) << bg.status().ToString();
    NeedleView n;
    n.id = NeedleId(0x100);
    n.cookie = Cookie(1);
    n.data = "new data";
    auto appended = (*bg)->Append(n);
    ASSERT_FALSE(appended.ok());
    EXPECT_EQ(appended.status().code(), Code::kReadOnly) << appended.status().ToString();

    auto deleted = (*bg)->Delete(NeedleId(0x3), needles.at(0x3).cookie);
    ASSERT_FALSE(deleted.ok());
    EXPECT_EQ(deleted.status().code(), Code::kReadOnly) << deleted.status().ToString();

    Status vacuum = (*bg)->Vacuum();
    EXPECT_EQ(vacuum.code(), Code::kReadOnly) << vacuum.ToString();
    EXPECT_TRUE((*bg)->Close().ok());
  }
  // Nothing reached the fixtures.
  EXPECT_EQ(fs::file_size(Fixture("healthy_volume.dat")), dat_size);
  EXPECT_EQ(fs::file_size(Fixture("healthy_volume.idx")), idx_size);
  EXPECT_FALSE(fs::exists(Fixture("healthy_volume.cpd")));
  EXPECT_FALSE(fs::exists(Fixture("healthy_volume.cpx")));
  EXPECT_EQ(ScanNeedles("healthy_volume.dat").size(), 17u);
}

TEST_F(SeaweedFsFixtureTest, BitrotVolumeReadsCorruptionOnlyForTheDamagedNeedles) {
  const auto dat_size = fs::file_size(Fixture("bitrot_volume.dat"));
  auto needles = ScanNeedles("bitrot_volume.dat");
  ASSERT_EQ(needles.size(), 17u);
  auto dir = LinkAsGroupOne("bitrot_volume");
  auto bg = OpenReadOnly(dir->path());
  ASSERT_TRUE(bg.ok()) << bg.status().ToString();
  EXPECT_EQ((*bg)->Stats().needle_count, 7u);
  EXPECT_TRUE((*bg)->Stats().read_only);

  std::string buffer;
  for (uint64_t id : kHealthyLive) {
    auto got = (*bg)->Read(NeedleId(id), needles.at(id).cookie, &buffer);
    if (id == 0x3 || id == 0x30) {
      ASSERT_FALSE(got.ok()) << "damaged needle " << id << " was served";
      EXPECT_EQ(got.status().code(), Code::kCorruption) << got.status().ToString();
      EXPECT_TRUE(Contains(got.status().message(), "checksum mismatch")) << got.status().ToString();
    } else {
      ASSERT_TRUE(got.ok()) << "needle " << id << ": " << got.status().ToString();
      EXPECT_EQ(got->data, needles.at(id).data);
      EXPECT_TRUE(NeedleChecksumMatches(got->checksum, got->data));
    }
  }
  for (uint64_t id : kHealthyDeleted) {
    EXPECT_EQ((*bg)->Read(NeedleId(id), needles.at(id).cookie, &buffer).status().code(), Code::kNotFound) << id;
  }
  bg->reset();
  EXPECT_EQ(fs::file_size(Fixture("bitrot_volume.dat")), dat_size);  // the trailing byte was not truncated
}

TEST_F(SeaweedFsFixtureTest, Volume43IsServedReadOnlyWithoutAnIndex) {
  // No .idx was committed for 43.dat: a read-only open indexes it in memory.
  cfs::testing::TempDir dir;
  fs::create_symlink(Fixture("43.dat"), dir.Join("1.dat"));
  auto needles = ScanNeedles("43.dat");
  ASSERT_EQ(needles.size(), 1u);
  auto bg = OpenReadOnly(dir.path());
  ASSERT_TRUE(bg.ok()) << bg.status().ToString();
  EXPECT_EQ((*bg)->Stats().needle_count, 1u);
  std::string buffer;
  auto got = (*bg)->Read(NeedleId(1), needles.at(1).cookie, &buffer);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->name, "Stickies.app.zip");
  EXPECT_EQ(got->data, needles.at(1).data);
  // Stored masked; a read gives the raw CRC (what the datanode answers).
  EXPECT_EQ(got->checksum, NeedleChecksum(needles.at(1).data));
  EXPECT_FALSE(fs::exists(dir.Join("1.idx")));  // nothing was written
}

TEST_F(SeaweedFsFixtureTest, EmptyVolumeOpensReadOnlyWithNoNeedles) {
  auto dir = LinkAsGroupOne("empty_volume");
  auto bg = OpenReadOnly(dir->path());
  ASSERT_TRUE(bg.ok()) << bg.status().ToString();
  BlockGroupStats stats = (*bg)->Stats();
  EXPECT_EQ(stats.needle_count, 0u);
  EXPECT_EQ(stats.size_bytes, 8u);
  EXPECT_EQ(stats.read_only_reason, "files opened read-only");
  std::string buffer;
  EXPECT_EQ((*bg)->Read(NeedleId(1), Cookie(0), &buffer).status().code(), Code::kNotFound);
}

TEST_F(SeaweedFsFixtureTest, RebuildIdxOfHealthyVolumeMatchesItsIndex) {
  cfs::testing::TempDir dir;
  const std::string dat = dir.Join("1.dat"), idx = dir.Join("1.idx");
  fs::copy_file(Fixture("healthy_volume.dat"), dat);
  std::vector<ScrubProblem> problems;
  auto entries = RebuildIdx(env(), dat, idx, &problems);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(*entries, 27u);
  EXPECT_TRUE(problems.empty());
  EXPECT_EQ(fs::file_size(idx), 27 * kIdxEntrySize);

  auto report = ScrubDat(env(), dat, idx);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->idx_entries, 27u);
  EXPECT_EQ(report->idx_deletions, 10u);
  EXPECT_EQ(report->idx_live, 7u);

  // SeaweedFS wrote the same index: puts in .dat order, then the deletions.
  auto rebuilt = ReadFileToString(env(), idx);
  auto original = ReadFileToString(env(), Fixture("healthy_volume.idx"));
  ASSERT_TRUE(rebuilt.ok() && original.ok());
  EXPECT_EQ(*rebuilt, *original);
}

TEST_F(SeaweedFsFixtureTest, RebuildIdxOfBitrotVolumeIndexesDamagedNeedlesAndReportsAll) {
  cfs::testing::TempDir dir;
  const std::string dat = dir.Join("1.dat"), idx = dir.Join("1.idx");
  fs::copy_file(Fixture("bitrot_volume.dat"), dat);
  std::vector<ScrubProblem> problems;
  auto entries = RebuildIdx(env(), dat, idx, &problems);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(*entries, 27u);  // damaged needles are indexed, nothing is dropped
  ASSERT_EQ(problems.size(), 3u);
  int indexed_anyway = 0, left_out = 0;
  for (const auto& p : problems) {
    indexed_anyway += Contains(p.message, "(indexed anyway)");
    left_out += Contains(p.message, "(left out of the index)");
  }
  EXPECT_EQ(indexed_anyway, 2);
  EXPECT_EQ(left_out, 1);
  auto rebuilt = ReadFileToString(env(), idx);
  auto original = ReadFileToString(env(), Fixture("bitrot_volume.idx"));
  ASSERT_TRUE(rebuilt.ok() && original.ok());
  EXPECT_EQ(*rebuilt, *original);
}

TEST_F(SeaweedFsFixtureTest, ScrubDatReportsRecordsTheIndexDoesNotName) {
  // An index with only the first 17 puts leaves the 10 tombstones unindexed.
  cfs::testing::TempDir dir;
  auto original = ReadFileToString(env(), Fixture("healthy_volume.idx"));
  ASSERT_TRUE(original.ok());
  const std::string idx = dir.Join("short.idx");
  ASSERT_TRUE(WriteFileAtomic(env(), idx, original->substr(0, 17 * kIdxEntrySize)).ok());
  auto report = ScrubDat(env(), Fixture("healthy_volume.dat"), idx);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->problems.size(), 1u) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[0].message, "10 record(s) in .dat have no .idx entry"))
      << report->problems[0].message;
  EXPECT_EQ(report->idx_live, 17u);
}

TEST_F(SeaweedFsFixtureTest, ScrubDatReportsATornIndexEntry) {
  cfs::testing::TempDir dir;
  auto original = ReadFileToString(env(), Fixture("healthy_volume.idx"));
  ASSERT_TRUE(original.ok());
  const std::string idx = dir.Join("torn.idx");
  ASSERT_TRUE(WriteFileAtomic(env(), idx, *original + "torn").ok());
  auto report = ScrubDat(env(), Fixture("healthy_volume.dat"), idx);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->problems.size(), 1u) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[0].message, "torn entry of 4 bytes")) << report->problems[0].message;
  EXPECT_EQ(report->problems[0].offset, original->size());
}

TEST_F(SeaweedFsFixtureTest, ScrubDatReportsAnIndexEntryPointingNowhere) {
  cfs::testing::TempDir dir;
  auto original = ReadFileToString(env(), Fixture("healthy_volume.idx"));
  ASSERT_TRUE(original.ok());
  std::string bad = *original;
  // Entry 1 (needle 4) now points one 8-byte unit into needle 3.
  char raw[kIdxEntrySize];
  EncodeIdxEntry(IdxEntry{NeedleId(4), 2, 0x113d}, raw);
  bad.replace(kIdxEntrySize, kIdxEntrySize, raw, kIdxEntrySize);
  const std::string idx = dir.Join("bad.idx");
  ASSERT_TRUE(WriteFileAtomic(env(), idx, bad).ok());
  auto report = ScrubDat(env(), Fixture("healthy_volume.dat"), idx);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // The bad pointer, and the record it should have named now unindexed.
  ASSERT_EQ(report->problems.size(), 2u) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[0].message, "where no record starts")) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[1].message, "1 record(s) in .dat have no .idx entry")) << Describe(*report);
}

// Scrub over volumes built here, so these run without the fixtures.
class ScrubTest : public ::testing::Test {
 protected:
  // Appends a needle record; returns its offset.
  uint64_t AddNeedle(uint64_t id, std::string_view data, uint32_t cookie = 0x1234) {
    uint64_t offset = dat_.size();
    NeedleView n;
    n.id = NeedleId(id);
    n.cookie = Cookie(cookie);
    n.data = data;
    auto size = EncodeNeedle(n, ++ts_, &dat_);
    EXPECT_TRUE(size.ok());
    char raw[kIdxEntrySize];
    EncodeIdxEntry(IdxEntry{n.id, offset / 8, data.empty() ? kTombstoneSize : *size}, raw);
    idx_.append(raw, kIdxEntrySize);
    return offset;
  }
  void Write() {
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), dat_path(), dat_).ok());
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), idx_path(), idx_).ok());
  }
  std::string dat_path() const { return dir_.Join("v.dat"); }
  std::string idx_path() const { return dir_.Join("v.idx"); }
  Result<ScrubReport> Scrub() { return ScrubDat(Env::Default(), dat_path(), idx_path()); }

  cfs::testing::TempDir dir_;
  std::string dat_ = SuperBlock{}.Encode();
  std::string idx_;
  uint64_t ts_ = 0;
};

TEST_F(ScrubTest, VolumeWrittenHereIsClean) {
  AddNeedle(1, "one");
  AddNeedle(2, std::string(5000, 'x'));
  AddNeedle(1, "");  // delete 1
  Write();
  auto report = Scrub();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << Describe(*report);
  EXPECT_EQ(report->needles, 2u);
  EXPECT_EQ(report->tombstones, 1u);
  EXPECT_EQ(report->idx_entries, 3u);
  EXPECT_EQ(report->idx_deletions, 1u);
  EXPECT_EQ(report->idx_live, 1u);
}

TEST_F(ScrubTest, ADatWithoutASuperBlockIsAnError) {
  dat_ = "abc";
  Write();
  auto report = Scrub();
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kCorruption) << report.status().ToString();
}

TEST_F(ScrubTest, ATornLastRecordIsReported) {
  AddNeedle(1, "one");
  uint64_t second = AddNeedle(2, std::string(100, 'y'));
  dat_.resize(dat_.size() - 20);
  Write();
  auto report = Scrub();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  // The torn record, and the .idx entry pointing at it.
  ASSERT_EQ(report->problems.size(), 2u) << Describe(*report);
  EXPECT_EQ(report->problems[0].offset, second);
  EXPECT_TRUE(Contains(report->problems[0].message, "only")) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[1].message, "where no record starts")) << Describe(*report);
  EXPECT_EQ(report->needles, 1u);
}

TEST_F(ScrubTest, AnUndecodableRecordIsReportedAndTheScanGoesOn) {
  uint64_t first = AddNeedle(1, "abcdef");
  AddNeedle(2, "second");
  // Needle 1's data size now claims more than its body holds.
  dat_[first + kNeedleHeaderSize + 3] = 100;
  Write();
  std::vector<uint64_t> seen;
  auto report = ScrubDat(Env::Default(), dat_path(), idx_path(),
                         [&](const ScannedRecord& rec) { seen.push_back(rec.needle.id.value()); });
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->problems.size(), 1u) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[0].message, "needle 1: data size runs past the body")) << Describe(*report);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
}

TEST_F(ScrubTest, AFlippedDataByteIsAChecksumMismatch) {
  uint64_t first = AddNeedle(7, "payload");
  Write();
  std::string bad = dat_;
  bad[first + kNeedleHeaderSize + 4] ^= 1;
  ASSERT_TRUE(WriteFileAtomic(Env::Default(), dat_path(), bad).ok());
  auto report = Scrub();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[0].message, "needle 7 at offset 8: checksum mismatch: stored "))
      << Describe(*report);
}

TEST_F(ScrubTest, AnIndexEntryWithTheWrongSizeIsReported) {
  AddNeedle(1, "one");
  idx_.replace(12, 4, std::string("\x00\x00\x00\x63", 4));  // size 99
  Write();
  auto report = Scrub();
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->problems.size(), 1u) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[0].message, "says needle 1 of size 99")) << Describe(*report);
}

TEST_F(ScrubTest, ScrubIdxReportsOverlappingEntries) {
  AddNeedle(1, std::string(100, 'a'));
  AddNeedle(2, "b");
  // A third entry claiming bytes inside needle 1's record.
  char raw[kIdxEntrySize];
  EncodeIdxEntry(IdxEntry{NeedleId(3), 2, 10}, raw);
  idx_.append(raw, kIdxEntrySize);
  Write();
  auto report = ScrubIdx(Env::Default(), idx_path());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->problems.size(), 1u) << Describe(*report);
  EXPECT_TRUE(Contains(report->problems[0].message, "overlapping")) << Describe(*report);
  EXPECT_EQ(report->problems[0].offset, 2 * kIdxEntrySize);
}

TEST_F(ScrubTest, RebuildIdxReproducesTheIndex) {
  AddNeedle(1, "one");
  AddNeedle(2, std::string(3000, 'z'));
  AddNeedle(3, "three");
  AddNeedle(2, "");
  AddNeedle(1, "one again");
  Write();
  const std::string rebuilt_path = dir_.Join("rebuilt.idx");
  std::vector<ScrubProblem> problems;
  auto entries = RebuildIdx(Env::Default(), dat_path(), rebuilt_path, &problems);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  EXPECT_EQ(*entries, 5u);
  EXPECT_TRUE(problems.empty());
  auto rebuilt = ReadFileToString(Env::Default(), rebuilt_path);
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(*rebuilt, idx_);
}

}  // namespace
}  // namespace cfs::datanode
