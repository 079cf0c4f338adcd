// Open's checks of .dat against .idx: what a crash or a bad disk leaves.
#include <gtest/gtest.h>

#include "common/coding.h"
#include "common/env.h"
#include "datanode/block_group.h"
#include "datanode/block_group_test_util.h"
#include "datanode/idx.h"
#include "datanode/scrub.h"

namespace cfs::datanode {
namespace {

class BlockGroupRecoveryTest : public BlockGroupFixture {
 protected:
  // Writes `n` needles of 100..(100+n) bytes, syncs and closes.
  void Prepare(int n) {
    auto bg = Create();
    for (int id = 1; id <= n; ++id) locs_[id] = Put(bg.get(), id, 100 + id);
    ASSERT_TRUE(bg->Close().ok());
  }
  uint64_t FileSize(const std::string& p) { return Env::Default()->FileSize(p).value(); }
  void Truncate(const std::string& p, uint64_t size) {
    auto f = Env::Default()->Open(p, OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->Truncate(size).ok());
  }
  void AppendBytes(const std::string& p, std::string_view bytes) {
    auto f = Env::Default()->Open(p, OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt((*f)->Size().value(), bytes).ok());
  }
  std::string Record(uint64_t id, size_t len) {
    std::string data = Payload(id, len), out;
    EXPECT_TRUE(EncodeNeedle(NeedleView{.cookie = CookieFor(id), .id = NeedleId(id), .data = data}, 1, &out).ok());
    return out;
  }
  void ExpectScrubClean() {
    auto report = ScrubDat(Env::Default(), DatPath(), IdxPath());
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->clean()) << report->problems.front().message;
  }

  std::map<uint64_t, NeedleLocation> locs_;
};

TEST_F(BlockGroupRecoveryTest, TornLastNeedleWithoutIndexEntryIsTruncatedAway) {
  Prepare(3);
  uint64_t size = FileSize(DatPath());
  AppendBytes(DatPath(), Record(4, 500).substr(0, 37));  // the crash tore the write
  auto bg = Open();
  EXPECT_FALSE(bg->Stats().read_only);
  EXPECT_EQ(FileSize(DatPath()), size);
  ExpectContents(*bg);
  Put(bg.get(), 5, 10);  // writable, and appends land cleanly
  ASSERT_TRUE(bg->Close().ok());
  ExpectScrubClean();
}

TEST_F(BlockGroupRecoveryTest, TornLastNeedleWithItsIndexEntryIsTruncatedAndUnindexed) {
  Prepare(3);
  uint64_t size = FileSize(DatPath());
  std::string rec = Record(4, 500);
  AppendBytes(DatPath(), rec.substr(0, rec.size() - 100));
  char raw[kIdxEntrySize];
  EncodeIdxEntry({NeedleId(4), size / 8, NeedleBodySize(NeedleView{.data = Payload(4, 500)}).value()}, raw);
  AppendBytes(IdxPath(), std::string_view(raw, kIdxEntrySize));
  auto bg = Open();
  EXPECT_FALSE(bg->Stats().read_only);
  EXPECT_EQ(FileSize(DatPath()), size);
  EXPECT_EQ(FileSize(IdxPath()), 3 * kIdxEntrySize);
  ExpectContents(*bg);
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(4), CookieFor(4), &buf).status().Is(Code::kNotFound));
}

TEST_F(BlockGroupRecoveryTest, LastNeedleWhoseBytesNeverReachedDiskIsTruncated) {
  // Delayed allocation can leave the file extended with zeros after a crash.
  Prepare(3);
  uint64_t size = FileSize(DatPath());
  std::string rec = Record(4, 200);
  std::memset(rec.data() + kNeedleHeaderSize, 0, rec.size() - kNeedleHeaderSize);
  AppendBytes(DatPath(), rec);
  auto bg = Open();
  EXPECT_FALSE(bg->Stats().read_only);
  EXPECT_EQ(FileSize(DatPath()), size);
  ExpectContents(*bg);
}

TEST_F(BlockGroupRecoveryTest, LostIndexIsRebuiltFromDat) {
  {
    auto bg = Create();
    for (uint64_t id = 1; id <= 30; ++id) Put(bg.get(), id, id * 10);
    Del(bg.get(), 4);
    Del(bg.get(), 17);
    Put(bg.get(), 9, 77);  // overwrite
    ASSERT_TRUE(bg->Close().ok());
  }
  uint64_t idx_size = FileSize(IdxPath());
  ASSERT_TRUE(Env::Default()->Remove(IdxPath()).ok());
  auto bg = Open();
  EXPECT_FALSE(bg->Stats().read_only);
  EXPECT_EQ(FileSize(IdxPath()), idx_size);
  ExpectContents(*bg);
  EXPECT_EQ(bg->Stats().needle_count, 28u);
  ASSERT_TRUE(bg->Close().ok());
  ExpectScrubClean();
}

TEST_F(BlockGroupRecoveryTest, IndexBehindDatIsCaughtUp) {
  Prepare(10);
  Truncate(IdxPath(), 6 * kIdxEntrySize + 5);  // 4 entries lost, and a torn one
  auto bg = Open();
  EXPECT_FALSE(bg->Stats().read_only);
  EXPECT_EQ(FileSize(IdxPath()), 10 * kIdxEntrySize);
  ExpectContents(*bg);
  ASSERT_TRUE(bg->Close().ok());
  ExpectScrubClean();
}

TEST_F(BlockGroupRecoveryTest, IndexAheadOfDatDropsEntriesForBytesThatWereLost) {
  Prepare(5);
  Truncate(DatPath(), locs_[5].offset);  // .dat lost its unsynced last needle
  auto bg = Open();
  EXPECT_FALSE(bg->Stats().read_only);
  live_.erase(5);
  ExpectContents(*bg);
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(5), CookieFor(5), &buf).status().Is(Code::kNotFound));
  EXPECT_EQ(FileSize(IdxPath()), 4 * kIdxEntrySize);
  Put(bg.get(), 6, 10);
  ASSERT_TRUE(bg->Close().ok());
  ExpectScrubClean();
}

TEST_F(BlockGroupRecoveryTest, DamageBeforeTheTailMakesTheGroupReadOnlyAndDropsNothing) {
  Prepare(3);
  // The index lost needle 3's entry, and needle 2 (its last indexed one) rotted.
  Truncate(IdxPath(), 2 * kIdxEntrySize);
  ASSERT_TRUE(env_.FlipByte(DatPath(), locs_[2].offset + kNeedleHeaderSize + 10).ok());
  uint64_t size = FileSize(DatPath());
  auto bg = Open();
  auto st = bg->Stats();
  EXPECT_TRUE(st.read_only);
  EXPECT_NE(st.read_only_reason.find("checksum mismatch"), std::string::npos) << st.read_only_reason;
  EXPECT_EQ(FileSize(DatPath()), size) << "nothing may be truncated";
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(1), CookieFor(1), &buf).ok());
  EXPECT_TRUE(bg->Read(NeedleId(2), CookieFor(2), &buf).status().Is(Code::kCorruption));
  std::string data = "x";
  EXPECT_TRUE(bg->Append(NeedleView{.cookie = Cookie(1), .id = NeedleId(9), .data = data}).status().Is(Code::kReadOnly));
  EXPECT_TRUE(bg->Vacuum().Is(Code::kReadOnly));
}

TEST_F(BlockGroupRecoveryTest, DamageInTheUnindexedRegionStopsIndexingAndDropsNothing) {
  Prepare(4);
  Truncate(IdxPath(), 1 * kIdxEntrySize);
  ASSERT_TRUE(env_.FlipByte(DatPath(), locs_[3].offset + kNeedleHeaderSize + 50).ok());
  uint64_t size = FileSize(DatPath());
  auto bg = Open();
  EXPECT_TRUE(bg->Stats().read_only);
  EXPECT_NE(bg->Stats().read_only_reason.find("not indexed"), std::string::npos) << bg->Stats().read_only_reason;
  EXPECT_EQ(FileSize(DatPath()), size);
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(1), CookieFor(1), &buf).ok());
  EXPECT_TRUE(bg->Read(NeedleId(2), CookieFor(2), &buf).ok()) << "indexed from the scan before the damage";
}

TEST_F(BlockGroupRecoveryTest, RotInAMiddleNeedleIsReportedOnReadNotOnOpen) {
  Prepare(5);
  ASSERT_TRUE(env_.FlipByte(DatPath(), locs_[2].offset + kNeedleHeaderSize + 7).ok());
  auto bg = Open();
  EXPECT_FALSE(bg->Stats().read_only);
  std::string buf;
  auto r = bg->Read(NeedleId(2), CookieFor(2), &buf);
  ASSERT_TRUE(r.status().Is(Code::kCorruption));
  // The message names the block group, the needle, the offset and both checksums.
  EXPECT_NE(r.status().message().find("block group 7"), std::string::npos);
  EXPECT_NE(r.status().message().find("needle 2"), std::string::npos);
  EXPECT_NE(r.status().message().find(fmt::format("offset {}", locs_[2].offset)), std::string::npos);
  EXPECT_NE(r.status().message().find("stored"), std::string::npos);
  EXPECT_NE(r.status().message().find("computed"), std::string::npos);
  EXPECT_TRUE(bg->Read(NeedleId(3), CookieFor(3), &buf).ok());
}

TEST_F(BlockGroupRecoveryTest, IndexEntryWithADamagedSizeIsCorruptionNotAHugeAllocation) {
  // Found by idx_fuzz: Read trusted the .idx Size and resized its buffer to
  // up to 4 GiB before failing.
  Prepare(3);
  char raw[kIdxEntrySize];
  EncodeIdxEntry({NeedleId(1), locs_[1].offset / 8, 0x7FFFFFF0u}, raw);
  {
    auto f = Env::Default()->Open(IdxPath(), OpenMode::kReadWrite);
    ASSERT_TRUE((*f)->WriteAt(0, std::string_view(raw, kIdxEntrySize)).ok());
  }
  auto bg = Open();
  std::string buf;
  auto r = bg->Read(NeedleId(1), CookieFor(1), &buf);
  ASSERT_TRUE(r.status().Is(Code::kCorruption)) << r.status().ToString();
  EXPECT_NE(r.status().message().find("past the end of .dat"), std::string::npos);
  EXPECT_LT(buf.capacity(), size_t{1} << 20);
  EXPECT_TRUE(bg->Read(NeedleId(2), CookieFor(2), &buf).ok());
}

TEST_F(BlockGroupRecoveryTest, BadSuperblockRefusesToOpen) {
  Prepare(1);
  {
    auto f = Env::Default()->Open(DatPath(), OpenMode::kReadWrite);
    ASSERT_TRUE((*f)->WriteAt(0, std::string_view("\x02", 1)).ok());
  }
  auto bg = BlockGroup::Open(dir_.path(), "", BlockGroupId(7), Options());
  EXPECT_TRUE(bg.status().Is(Code::kNotSupported)) << bg.status().ToString();
  Truncate(DatPath(), 3);
  bg = BlockGroup::Open(dir_.path(), "", BlockGroupId(7), Options());
  EXPECT_TRUE(bg.status().Is(Code::kCorruption)) << bg.status().ToString();
  EXPECT_NE(bg.status().message().find("no superblock"), std::string::npos);
}

TEST_F(BlockGroupRecoveryTest, MissingDatIsNotFound) {
  auto bg = BlockGroup::Open(dir_.path(), "", BlockGroupId(8), Options());
  EXPECT_TRUE(bg.status().Is(Code::kNotFound));
}

TEST_F(BlockGroupRecoveryTest, ReadOnlyFilesAreNeverRepaired) {
  Prepare(3);
  AppendBytes(DatPath(), "torn");
  uint64_t size = FileSize(DatPath());
  BlockGroupOptions o = Options();
  o.read_only_files = true;
  auto bg = BlockGroup::Open(dir_.path(), "", BlockGroupId(7), o);
  ASSERT_TRUE(bg.ok());
  EXPECT_EQ(FileSize(DatPath()), size);
  EXPECT_TRUE((*bg)->Stats().read_only);
  ExpectContents(**bg);
}

// Crash at every mutating step of a stream of appends and syncs: after the
// unsynced data is lost, every needle acknowledged by a good Sync is intact
// and the group is writable.
TEST_F(BlockGroupRecoveryTest, CrashAtEveryStepKeepsEverySyncedNeedle) {
  for (int crash_at = 1; crash_at <= 40; ++crash_at) {
    SCOPED_TRACE(crash_at);
    testing::TempDir dir;
    testing::FaultInjectionEnv env;
    BlockGroupOptions o = Options();
    o.env = &env;
    std::map<uint64_t, std::string> durable;
    {
      auto bg = BlockGroup::Create(dir.path(), "", BlockGroupId(1), SuperBlock{}, 0, o);
      ASSERT_TRUE(bg.ok());
      env.CrashAfter(crash_at);
      std::map<uint64_t, std::string> pending;
      for (uint64_t id = 1; id <= 12; ++id) {
        std::string data = Payload(id, 50 * id);
        if (!(*bg)->Append(NeedleView{.cookie = CookieFor(id), .id = NeedleId(id), .data = data}).ok()) break;
        pending[id] = data;
        if (id % 3 == 0) {
          if (!(*bg)->Sync().ok()) break;
          durable.insert(pending.begin(), pending.end());
        }
        if (id == 7) {
          if (!(*bg)->Delete(NeedleId(2), CookieFor(2)).ok()) break;
          pending.erase(2);
          durable.erase(2);  // a delete may or may not survive if unsynced; checked below
        }
      }
    }
    env.Heal();
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    auto bg = BlockGroup::Open(dir.path(), "", BlockGroupId(1), o);
    ASSERT_TRUE(bg.ok()) << bg.status().ToString();
    EXPECT_FALSE((*bg)->Stats().read_only) << (*bg)->Stats().read_only_reason;
    std::string buf;
    for (const auto& [id, data] : durable) {
      auto n = (*bg)->Read(NeedleId(id), CookieFor(id), &buf);
      ASSERT_TRUE(n.ok()) << "needle " << id << ": " << n.status().ToString();
      EXPECT_EQ(n->data, data);
    }
    std::string data = "after";
    EXPECT_TRUE((*bg)->Append(NeedleView{.cookie = Cookie(1), .id = NeedleId(100), .data = data}).ok());
  }
}

}  // namespace
}  // namespace cfs::datanode
