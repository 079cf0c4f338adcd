// SnapshotStore: round trips, atomic replacement under crashes, and damage.
#include "raft/snapshot_store.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"

namespace cfs::raft {
namespace {

using cfs::testing::FaultInjectionEnv;
using cfs::testing::TempDir;

proto::SnapshotMeta MakeMeta(uint64_t index, uint64_t term) {
  proto::SnapshotMeta meta;
  meta.set_index(index);
  meta.set_term(term);
  meta.mutable_conf_state()->add_voters(1);
  meta.mutable_conf_state()->add_voters(2);
  meta.mutable_conf_state()->add_learners(3);
  return meta;
}

// Binary data with zero bytes, so nothing treats it as a C string.
std::string Data(int seed, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 31 + static_cast<size_t>(seed)) % 7 == 0 ? 0 : i + seed);
  return out;
}

class SnapshotStoreTest : public ::testing::Test {
 protected:
  std::string Path(uint64_t group) const { return fmt::format("{}/snap/{}/snapshot", dir_.path(), group); }

  TempDir dir_;
  FaultInjectionEnv env_;
  SnapshotStore store_{&env_, dir_.Join("snap")};
};

TEST_F(SnapshotStoreTest, SaveThenLoadRoundTrips) {
  std::string data = Data(1, 5000);
  ASSERT_TRUE(store_.Save(GroupId(7), MakeMeta(100, 4), data).ok());
  auto got = store_.Load(GroupId(7));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->meta.SerializeAsString(), MakeMeta(100, 4).SerializeAsString());
  EXPECT_EQ(got->data, data);

  ASSERT_TRUE(store_.Save(GroupId(0), MakeMeta(1, 1), "").ok());  // empty data is fine
  got = store_.Load(GroupId(0));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->meta.index(), 1u);
  EXPECT_EQ(got->data, "");
}

TEST_F(SnapshotStoreTest, GroupWithoutSnapshotIsNotFound) {
  EXPECT_TRUE(store_.Load(GroupId(3)).status().Is(Code::kNotFound));
}

TEST_F(SnapshotStoreTest, SaveReplacesTheSnapshotAndGroupsAreIndependent) {
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(10, 1), "one").ok());
  ASSERT_TRUE(store_.Save(GroupId(2), MakeMeta(20, 1), "two").ok());
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(30, 2), "three").ok());
  EXPECT_EQ(store_.Load(GroupId(1))->data, "three");
  EXPECT_EQ(store_.Load(GroupId(1))->meta.index(), 30u);
  EXPECT_EQ(store_.Load(GroupId(2))->data, "two");
}

TEST_F(SnapshotStoreTest, AStagedSnapshotReplacesTheOldOnlyWhenPromoted) {
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(10, 1), "old").ok());
  ASSERT_TRUE(store_.Stage(GroupId(1), MakeMeta(20, 2), "new").ok());
  EXPECT_EQ(store_.Load(GroupId(1))->data, "old");  // staged is not loaded
  ASSERT_TRUE(store_.Promote(GroupId(1)).ok());
  EXPECT_EQ(store_.Load(GroupId(1))->data, "new");
  EXPECT_EQ(store_.Load(GroupId(1))->meta.index(), 20u);
  EXPECT_FALSE(store_.Promote(GroupId(1)).ok());  // nothing staged any more

  ASSERT_TRUE(store_.Stage(GroupId(1), MakeMeta(30, 2), "dropped").ok());
  ASSERT_TRUE(store_.Discard(GroupId(1)).ok());
  ASSERT_TRUE(store_.Discard(GroupId(1)).ok());  // twice is fine
  EXPECT_FALSE(store_.Promote(GroupId(1)).ok());
  EXPECT_EQ(store_.Load(GroupId(1))->data, "new");

  // A group's first snapshot may be staged too (the directory is made).
  ASSERT_TRUE(store_.Stage(GroupId(9), MakeMeta(5, 1), "first").ok());
  EXPECT_TRUE(store_.Load(GroupId(9)).status().Is(Code::kNotFound));
  ASSERT_TRUE(store_.Promote(GroupId(9)).ok());
  EXPECT_EQ(store_.Load(GroupId(9))->data, "first");
}

TEST_F(SnapshotStoreTest, RemoveForgetsTheSnapshot) {
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(10, 1), "one").ok());
  ASSERT_TRUE(store_.Save(GroupId(2), MakeMeta(10, 1), "two").ok());
  ASSERT_TRUE(store_.Remove(GroupId(1)).ok());
  EXPECT_TRUE(store_.Load(GroupId(1)).status().Is(Code::kNotFound));
  EXPECT_TRUE(store_.Remove(GroupId(1)).ok());  // again: nothing to do
  EXPECT_TRUE(store_.Remove(GroupId(9)).ok());  // never had one
  EXPECT_EQ(store_.Load(GroupId(2))->data, "two");
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(11, 1), "again").ok());
  EXPECT_EQ(store_.Load(GroupId(1))->data, "again");
}

// A crash at every mutating step of a replacing Save, then a power cut:
// Load finds the old snapshot whole or the new one whole, and the old one
// whenever the rename had not happened.
TEST_F(SnapshotStoreTest, CrashDuringSaveLeavesTheOldOrTheNewSnapshot) {
  const std::string old_data = Data(1, 3000), new_data = Data(2, 4000);
  int steps;
  {
    FaultInjectionEnv env;
    TempDir dir;
    SnapshotStore store(&env, dir.Join("snap"));
    ASSERT_TRUE(store.Save(GroupId(5), MakeMeta(10, 1), old_data).ok());
    env.ResetCounters();
    ASSERT_TRUE(store.Save(GroupId(5), MakeMeta(20, 2), new_data).ok());
    steps = env.mutations();
  }
  ASSERT_GE(steps, 4);  // create temp, write, sync, rename, (sync dir)
  for (int n = 1; n <= steps; ++n) {
    SCOPED_TRACE(fmt::format("crash at step {} of {}", n, steps));
    FaultInjectionEnv env;
    TempDir dir;
    SnapshotStore store(&env, dir.Join("snap"));
    ASSERT_TRUE(store.Save(GroupId(5), MakeMeta(10, 1), old_data).ok());
    env.ResetCounters();
    env.CrashAfter(n);
    Status s = store.Save(GroupId(5), MakeMeta(20, 2), new_data);
    EXPECT_FALSE(s.ok());
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    env.Heal();
    auto got = store.Load(GroupId(5));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (got->meta.index() == 10) {
      EXPECT_EQ(got->data, old_data);
    } else {
      EXPECT_EQ(got->meta.index(), 20u);
      EXPECT_EQ(got->data, new_data);
      EXPECT_EQ(n, steps) << "the new snapshot is visible before its rename";
    }
    // The store keeps working after the crash.
    ASSERT_TRUE(store.Save(GroupId(5), MakeMeta(30, 3), "later").ok());
    EXPECT_EQ(store.Load(GroupId(5))->data, "later");
  }
}

TEST_F(SnapshotStoreTest, DamageAnywhereIsCorruption) {
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(10, 1), Data(3, 40)).ok());
  const uint64_t size = env_.FileSize(Path(1)).value();
  for (uint64_t offset = 0; offset < size; ++offset) {
    SCOPED_TRACE(fmt::format("byte {} of {} flipped", offset, size));
    ASSERT_TRUE(env_.FlipByte(Path(1), offset).ok());
    auto got = store_.Load(GroupId(1));
    EXPECT_TRUE(got.status().Is(Code::kCorruption)) << got.status().ToString();
    ASSERT_TRUE(env_.FlipByte(Path(1), offset).ok());
  }
  EXPECT_TRUE(store_.Load(GroupId(1)).ok());
}

TEST_F(SnapshotStoreTest, ChecksumFailureNamesTheFileAndBothChecksums) {
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(10, 1), "data").ok());
  ASSERT_TRUE(env_.FlipByte(Path(1), 20).ok());
  Status s = store_.Load(GroupId(1)).status();
  EXPECT_TRUE(s.Is(Code::kCorruption));
  EXPECT_NE(s.message().find(Path(1)), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find("checksum mismatch: stored 0x"), std::string::npos) << s.ToString();
}

TEST_F(SnapshotStoreTest, FileCutShortAtAnyLengthIsCorruption) {
  ASSERT_TRUE(store_.Save(GroupId(1), MakeMeta(10, 1), Data(4, 30)).ok());
  std::string whole = ReadFileToString(&env_, Path(1)).value();
  for (size_t len = 0; len < whole.size(); ++len) {
    SCOPED_TRACE(fmt::format("cut to {} of {} bytes", len, whole.size()));
    auto f = env_.Open(Path(1), OpenMode::kTruncate);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE((*f)->WriteAt(0, std::string_view(whole).substr(0, len)).ok());
    EXPECT_TRUE(store_.Load(GroupId(1)).status().Is(Code::kCorruption));
  }
}

TEST_F(SnapshotStoreTest, DifferentGroupsSaveConcurrently) {
  std::vector<std::thread> threads;
  for (uint64_t g = 1; g <= 8; ++g) {
    threads.emplace_back([this, g] {
      for (uint64_t i = 1; i <= 5; ++i) {
        EXPECT_TRUE(store_.Save(GroupId(g), MakeMeta(i, 1), Data(static_cast<int>(g + i), 1000)).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (uint64_t g = 1; g <= 8; ++g) {
    auto got = store_.Load(GroupId(g));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->meta.index(), 5u);
    EXPECT_EQ(got->data, Data(static_cast<int>(g + 5), 1000));
  }
}

}  // namespace
}  // namespace cfs::raft
