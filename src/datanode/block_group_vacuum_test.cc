// Vacuum: compaction that loses nothing, whatever happens meanwhile.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/env.h"
#include "datanode/block_group.h"
#include "datanode/block_group_test_util.h"
#include "datanode/scrub.h"

namespace cfs::datanode {
namespace {

class BlockGroupVacuumTest : public BlockGroupFixture {
 protected:
  // 60 needles, a third deleted, some overwritten: garbage for vacuum.
  void Fill(BlockGroup* bg) {
    for (uint64_t id = 1; id <= 60; ++id) Put(bg, id, 200 + id * 7);
    for (uint64_t id = 3; id <= 60; id += 3) Del(bg, id);
    for (uint64_t id = 1; id <= 60; id += 10) Put(bg, id, 99);
    ASSERT_TRUE(bg->Sync().ok());
  }
  uint64_t FileSize(const std::string& p) { return Env::Default()->FileSize(p).value(); }
  void ExpectNoLeftovers(const std::string& dir) {
    EXPECT_FALSE(Env::Default()->Exists(dir + "/7.cpd"));
    EXPECT_FALSE(Env::Default()->Exists(dir + "/7.cpx"));
  }
};

TEST_F(BlockGroupVacuumTest, VacuumReclaimsGarbageAndKeepsEveryLiveNeedle) {
  auto bg = Create();
  Fill(bg.get());
  auto before = bg->Stats();
  EXPECT_GT(before.garbage_bytes, 0u);
  ASSERT_TRUE(bg->Vacuum().ok());
  auto after = bg->Stats();
  EXPECT_EQ(after.garbage_bytes, 0u);
  EXPECT_EQ(after.size_bytes, before.size_bytes - before.garbage_bytes);
  EXPECT_EQ(after.compaction_revision, before.compaction_revision + 1);
  EXPECT_EQ(after.needle_count, before.needle_count);
  ExpectContents(*bg);
  ExpectNoLeftovers(dir_.path());
  // Writes go on in the compacted files, and survive a reopen.
  Put(bg.get(), 1000, 123);
  Del(bg.get(), 1);
  ASSERT_TRUE(bg->Close().ok());
  bg = Open();
  ExpectContents(*bg);
  EXPECT_EQ(bg->superblock().compaction_revision, 1);
  auto report = ScrubDat(Env::Default(), DatPath(), IdxPath());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean());
}

TEST_F(BlockGroupVacuumTest, WritesAndDeletesDuringCompactionAreCaughtUp) {
  auto bg = Create();
  Fill(bg.get());
  ASSERT_TRUE(bg->Compact().ok());
  // Meanwhile: new needles, deletes of copied ones, an overwrite, and a
  // needle written and deleted within the window.
  Put(bg.get(), 500, 1000);
  Put(bg.get(), 501, 10);
  Del(bg.get(), 2);
  Put(bg.get(), 4, 4444);
  Put(bg.get(), 502, 50);
  Del(bg.get(), 502);
  ExpectContents(*bg);  // reads served from the old files
  ASSERT_TRUE(bg->CommitCompact().ok());
  ExpectContents(*bg);
  EXPECT_EQ(bg->Stats().needle_count, live_.size());
  ASSERT_TRUE(bg->Close().ok());
  bg = Open();
  ExpectContents(*bg);
  EXPECT_EQ(bg->Stats().needle_count, live_.size());
}

TEST_F(BlockGroupVacuumTest, CommitWithoutCompactIsRefused) {
  auto bg = Create();
  EXPECT_TRUE(bg->CommitCompact().Is(Code::kInvalidArgument));
}

TEST_F(BlockGroupVacuumTest, ReadsKeepWorkingDuringVacuum) {
  auto bg = Create();
  for (uint64_t id = 1; id <= 3000; ++id) Put(bg.get(), id, 300 + id % 700);
  for (uint64_t id = 2; id <= 3000; id += 2) Del(bg.get(), id);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0}, failures{0};
  std::thread reader([&] {
    std::string buf;
    uint64_t id = 1;
    while (!stop) {
      auto n = bg->Read(NeedleId(id), CookieFor(id), &buf);
      if (!n.ok() || n->data != Payload(id, 300 + id % 700)) failures++;
      reads++;
      id = (id + 2) % 3000;  // odd ids: the live ones
    }
  });
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(bg->Vacuum().ok());
    Put(bg.get(), 10000 + round, 100);  // something new to compact next round
  }
  stop = true;
  reader.join();
  EXPECT_GT(reads, 0u);
  EXPECT_EQ(failures, 0u);
  ExpectContents(*bg);
  EXPECT_EQ(bg->Stats().compaction_revision, 3);
}

TEST_F(BlockGroupVacuumTest, VacuumFailureLeavesTheGroupWhole) {
  auto bg = Create();
  Fill(bg.get());
  env_.FailNextWrite(".cpd");
  EXPECT_FALSE(bg->Vacuum().ok());
  ExpectNoLeftovers(dir_.path());
  ExpectContents(*bg);
  Put(bg.get(), 777, 10);
  ASSERT_TRUE(bg->Vacuum().ok());
  ExpectContents(*bg);
}

// A crash at each mutating step of a vacuum, with the unsynced data lost:
// reopening finds either the old or the new files whole, never a mix, and
// every live needle reads back.
TEST_F(BlockGroupVacuumTest, CrashAtEveryStepLeavesOldOrNewFilesWhole) {
  int crash_at = 1;
  bool completed = false;
  int saw_old = 0, saw_new = 0;
  for (; !completed && crash_at < 200; ++crash_at) {
    SCOPED_TRACE(crash_at);
    testing::TempDir dir;
    testing::FaultInjectionEnv env;
    BlockGroupOptions o = Options();
    o.env = &env;
    std::map<uint64_t, std::string> live;
    {
      auto bg = BlockGroup::Create(dir.path(), "", BlockGroupId(7), SuperBlock{}, 0, o);
      ASSERT_TRUE(bg.ok());
      for (uint64_t id = 1; id <= 30; ++id) {
        std::string data = Payload(id, 100 + id);
        ASSERT_TRUE((*bg)->Append(NeedleView{.cookie = CookieFor(id), .id = NeedleId(id), .data = data}).ok());
        live[id] = data;
      }
      for (uint64_t id = 1; id <= 30; id += 4) {
        ASSERT_TRUE((*bg)->Delete(NeedleId(id), CookieFor(id)).ok());
        live.erase(id);
      }
      ASSERT_TRUE((*bg)->Sync().ok());
      env.CrashAfter(crash_at);
      Status compact = (*bg)->Compact();
      Status commit = compact.ok() ? (*bg)->CommitCompact() : compact;
      completed = commit.ok() && !env.crashed();
    }  // the destructor's close fails quietly if crashed
    env.Heal();
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    auto bg = BlockGroup::Open(dir.path(), "", BlockGroupId(7), o);
    ASSERT_TRUE(bg.ok()) << bg.status().ToString();
    EXPECT_FALSE((*bg)->Stats().read_only) << (*bg)->Stats().read_only_reason;
    uint16_t rev = (*bg)->superblock().compaction_revision;
    EXPECT_TRUE(rev == 0 || rev == 1);
    (rev == 0 ? saw_old : saw_new)++;
    if (rev == 1) {
      EXPECT_EQ((*bg)->Stats().garbage_bytes, 0u);
    }
    std::string buf;
    for (const auto& [id, data] : live) {
      auto n = (*bg)->Read(NeedleId(id), CookieFor(id), &buf);
      ASSERT_TRUE(n.ok()) << "needle " << id << ": " << n.status().ToString();
      EXPECT_EQ(n->data, data);
    }
    for (uint64_t id = 1; id <= 30; id += 4) {
      EXPECT_TRUE((*bg)->Read(NeedleId(id), CookieFor(id), &buf).status().Is(Code::kNotFound)) << id;
    }
    EXPECT_FALSE(Env::Default()->Exists(dir.Join("7.cpd")));
    EXPECT_FALSE(Env::Default()->Exists(dir.Join("7.cpx")));
  }
  EXPECT_TRUE(completed) << "the vacuum never got through";
  EXPECT_GT(saw_old, 0);
  EXPECT_GT(saw_new, 0);
}

}  // namespace
}  // namespace cfs::datanode
