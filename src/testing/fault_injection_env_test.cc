#include "testing/fault_injection_env.h"

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "testing/temp_dir.h"

namespace cfs::testing {
namespace {

class FaultInjectionEnvTest : public ::testing::Test {
 protected:
  std::unique_ptr<File> MustOpen(const std::string& path, OpenMode mode) {
    Result<std::unique_ptr<File>> f = env_.Open(path, mode);
    EXPECT_TRUE(f.ok()) << f.status().ToString();
    return f.ok() ? std::move(f).value() : nullptr;
  }

  // Reads through the real file system, not the env under test.
  std::string Contents(const std::string& path) {
    Result<std::string> r = ReadFileToString(Env::Default(), path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::string();
  }

  // Writes a file through the real file system, behind the env's back.
  void WriteBehindEnv(const std::string& path, std::string_view data) {
    auto f = Env::Default()->Open(path, OpenMode::kTruncate);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_TRUE((*f)->WriteAt(0, data).ok());
    ASSERT_TRUE((*f)->Sync().ok());
  }

  TempDir dir_;
  FaultInjectionEnv env_;
};

// --- Pass-through ------------------------------------------------------------

TEST_F(FaultInjectionEnvTest, WithoutFaultsBehavesLikeBaseEnv) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->path(), p);
  ASSERT_TRUE(f->WriteAt(0, "hello").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->Preallocate(4096).ok());
  EXPECT_EQ(*f->Size(), 5u);
  std::string buf(5, '\0');
  ASSERT_EQ(*f->ReadAt(0, buf), 5u);
  EXPECT_EQ(buf, "hello");
  EXPECT_TRUE(env_.Exists(p));
  EXPECT_EQ(*env_.FileSize(p), 5u);
  ASSERT_TRUE(env_.CreateDirs(dir_.Join("d/e")).ok());
  ASSERT_TRUE(env_.Rename(p, dir_.Join("g")).ok());
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());
  std::vector<std::string> names = *env_.ListDir(dir_.path());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"d", "g"}));
  ASSERT_TRUE(env_.Remove(dir_.Join("g")).ok());
  EXPECT_FALSE(env_.Exists(dir_.Join("g")));
  EXPECT_FALSE(env_.crashed());
}

TEST_F(FaultInjectionEnvTest, BaseErrorsPassThrough) {
  Result<std::unique_ptr<File>> f = env_.Open(dir_.Join("missing"), OpenMode::kRead);
  EXPECT_EQ(f.status().code(), Code::kNotFound);
  EXPECT_EQ(env_.Remove(dir_.Join("missing")).code(), Code::kNotFound);
}

TEST_F(FaultInjectionEnvTest, WrapsAnyBaseEnv) {
  FaultInjectionEnv outer(&env_);
  outer.FailNextWrite();
  auto f = outer.Open(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_TRUE(f.ok());
  EXPECT_FALSE((*f)->WriteAt(0, "x").ok());
  EXPECT_TRUE((*f)->WriteAt(0, "y").ok());
  EXPECT_EQ(Contents(dir_.Join("f")), "y");
  // The inner env saw the create and the one write that got through.
  EXPECT_EQ(env_.mutations(), 2);
}

// --- FailNextWrite -----------------------------------------------------------

TEST_F(FaultInjectionEnvTest, FailNextWriteFailsOnceAndChangesNothing) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());

  env_.FailNextWrite();
  Status s = f->WriteAt(1, "XYZW");
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_NE(s.message().find(p), std::string::npos) << s.ToString();
  EXPECT_EQ(Contents(p), "abc");

  ASSERT_TRUE(f->WriteAt(1, "XYZW").ok());
  EXPECT_EQ(Contents(p), "aXYZW");
}

TEST_F(FaultInjectionEnvTest, FailNextWriteWaitsForMatchingPath) {
  auto a = MustOpen(dir_.Join("needles.dat"), OpenMode::kCreate);
  auto b = MustOpen(dir_.Join("needles.idx"), OpenMode::kCreate);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  env_.FailNextWrite(".idx");
  EXPECT_TRUE(a->WriteAt(0, "data").ok());
  EXPECT_TRUE(a->WriteAt(4, "more").ok());
  EXPECT_EQ(b->WriteAt(0, "index").code(), Code::kIOError);
  EXPECT_TRUE(b->WriteAt(0, "index").ok());
  EXPECT_EQ(Contents(dir_.Join("needles.dat")), "datamore");
  EXPECT_EQ(Contents(dir_.Join("needles.idx")), "index");
}

TEST_F(FaultInjectionEnvTest, FailNextWriteDoesNotFailSync) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.FailNextWrite();
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->Truncate(0).ok());
  EXPECT_FALSE(f->WriteAt(0, "x").ok());
}

// --- FailNextSync ------------------------------------------------------------

TEST_F(FaultInjectionEnvTest, FailNextSyncFailsOnce) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.FailNextSync();
  EXPECT_TRUE(f->WriteAt(0, "abc").ok());  // writes are not affected
  Status s = f->Sync();
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_NE(s.message().find(p), std::string::npos) << s.ToString();
  EXPECT_TRUE(f->Sync().ok());
}

TEST_F(FaultInjectionEnvTest, FailNextSyncWaitsForMatchingPath) {
  auto a = MustOpen(dir_.Join("raft.log"), OpenMode::kCreate);
  auto b = MustOpen(dir_.Join("meta.snap"), OpenMode::kCreate);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  env_.FailNextSync("snap");
  EXPECT_TRUE(a->Sync().ok());
  EXPECT_FALSE(b->Sync().ok());
  EXPECT_TRUE(b->Sync().ok());
}

TEST_F(FaultInjectionEnvTest, FailedSyncDoesNotMakeDataDurable) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(3, "def").ok());
  env_.FailNextSync();
  ASSERT_FALSE(f->Sync().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "abc");
}

// --- TearNextWrite -----------------------------------------------------------

TEST_F(FaultInjectionEnvTest, TearNextWriteLeavesExactlyNBytes) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "head:").ok());

  env_.TearNextWrite(3);
  Status s = f->WriteAt(5, "0123456789");
  EXPECT_EQ(s.code(), Code::kIOError);
  EXPECT_EQ(Contents(p), "head:012");
  EXPECT_EQ(*f->Size(), 8u);

  // Only the next write is torn.
  ASSERT_TRUE(f->WriteAt(8, "3456789").ok());
  EXPECT_EQ(Contents(p), "head:0123456789");
}

TEST_F(FaultInjectionEnvTest, TearNextWriteOfZeroBytesWritesNothing) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.TearNextWrite(0);
  EXPECT_FALSE(f->WriteAt(0, "abc").ok());
  EXPECT_EQ(*f->Size(), 0u);
}

TEST_F(FaultInjectionEnvTest, TearNextWriteKeepingWholeWriteWritesItAndStillFails) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.TearNextWrite(4);
  EXPECT_FALSE(f->WriteAt(0, "abcd").ok());
  EXPECT_EQ(Contents(p), "abcd");

  env_.TearNextWrite(100);
  EXPECT_FALSE(f->WriteAt(4, "ef").ok());
  EXPECT_EQ(Contents(p), "abcdef");
}

TEST_F(FaultInjectionEnvTest, TearNextWriteWaitsForMatchingPath) {
  auto a = MustOpen(dir_.Join("a.dat"), OpenMode::kCreate);
  auto b = MustOpen(dir_.Join("b.dat"), OpenMode::kCreate);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  env_.TearNextWrite(2, "b.dat");
  EXPECT_TRUE(a->WriteAt(0, "whole").ok());
  EXPECT_FALSE(b->WriteAt(0, "torn").ok());
  EXPECT_EQ(Contents(dir_.Join("a.dat")), "whole");
  EXPECT_EQ(Contents(dir_.Join("b.dat")), "to");
}

TEST_F(FaultInjectionEnvTest, TornBytesAreUnsyncedData) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.TearNextWrite(3);
  ASSERT_FALSE(f->WriteAt(0, "abcdef").ok());
  ASSERT_EQ(Contents(p), "abc");
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "");
}

// --- CrashAfter --------------------------------------------------------------

TEST_F(FaultInjectionEnvTest, CrashAfterFailsNthMutationAndEveryLaterOne) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);

  env_.CrashAfter(3);
  EXPECT_TRUE(f->WriteAt(0, "one").ok());  // 1
  EXPECT_TRUE(f->Sync().ok());            // 2
  EXPECT_FALSE(env_.crashed());
  EXPECT_EQ(f->WriteAt(3, "two").code(), Code::kIOError);  // 3: the crash
  EXPECT_TRUE(env_.crashed());
  EXPECT_EQ(f->WriteAt(3, "three").code(), Code::kIOError);
  EXPECT_EQ(f->Sync().code(), Code::kIOError);
  EXPECT_EQ(f->Truncate(0).code(), Code::kIOError);
  EXPECT_EQ(Contents(p), "one");
}

TEST_F(FaultInjectionEnvTest, CrashAfterOneFailsTheNextMutation) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.CrashAfter(1);
  EXPECT_FALSE(f->WriteAt(0, "x").ok());
  EXPECT_TRUE(env_.crashed());
  EXPECT_EQ(*f->Size(), 0u);
}

TEST_F(FaultInjectionEnvTest, CrashAfterZeroIsNotArmed) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.CrashAfter(0);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(f->WriteAt(0, "x").ok());
  EXPECT_FALSE(env_.crashed());
}

TEST_F(FaultInjectionEnvTest, CrashedEnvStillReads) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "before").ok());
  env_.CrashAfter(1);
  ASSERT_FALSE(f->WriteAt(6, " after").ok());
  ASSERT_TRUE(env_.crashed());

  std::string buf(6, '\0');
  ASSERT_EQ(*f->ReadAt(0, buf), 6u);
  EXPECT_EQ(buf, "before");
  EXPECT_EQ(*f->Size(), 6u);
  EXPECT_TRUE(env_.Exists(p));
  EXPECT_EQ(*env_.FileSize(p), 6u);
  EXPECT_EQ(*env_.ListDir(dir_.path()), std::vector<std::string>{"f"});
  Result<std::string> whole = ReadFileToString(&env_, p);
  ASSERT_TRUE(whole.ok()) << whole.status().ToString();
  EXPECT_EQ(*whole, "before");
  EXPECT_TRUE(env_.crashed());
}

TEST_F(FaultInjectionEnvTest, CrashStopsEveryKindOfMutation) {
  std::string existing = dir_.Join("existing");
  WriteBehindEnv(existing, "data");
  auto f = MustOpen(existing, OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);

  struct Op {
    const char* name;
    std::function<Status()> run;
  };
  std::vector<Op> ops = {
      {"WriteAt", [&] { return f->WriteAt(0, "XXXX"); }},
      {"Sync", [&] { return f->Sync(); }},
      {"Truncate", [&] { return f->Truncate(1); }},
      {"Preallocate", [&] { return f->Preallocate(1 << 20); }},
      {"Open kCreate", [&] { return env_.Open(dir_.Join("new1"), OpenMode::kCreate).status(); }},
      {"Open kCreateExclusive",
       [&] { return env_.Open(dir_.Join("new2"), OpenMode::kCreateExclusive).status(); }},
      {"Open kTruncate", [&] { return env_.Open(existing, OpenMode::kTruncate).status(); }},
      {"Rename", [&] { return env_.Rename(existing, dir_.Join("renamed")); }},
      {"Remove", [&] { return env_.Remove(existing); }},
      {"CreateDirs", [&] { return env_.CreateDirs(dir_.Join("newdir/sub")); }},
      {"SyncDir", [&] { return env_.SyncDir(dir_.path()); }},
  };
  for (const Op& op : ops) {
    SCOPED_TRACE(op.name);
    env_.Heal();
    env_.CrashAfter(1);
    Status s = op.run();
    EXPECT_EQ(s.code(), Code::kIOError);
    EXPECT_TRUE(env_.crashed());
    // A second call fails too: the env stays crashed.
    EXPECT_EQ(op.run().code(), Code::kIOError);
  }
  // Nothing reached the disk.
  EXPECT_EQ(Contents(existing), "data");
  std::vector<std::string> names = *Env::Default()->ListDir(dir_.path());
  EXPECT_EQ(names, std::vector<std::string>{"existing"});
}

TEST_F(FaultInjectionEnvTest, OpenWithoutCreateIsNotAMutation) {
  std::string p = dir_.Join("f");
  WriteBehindEnv(p, "x");
  env_.CrashAfter(1);
  EXPECT_TRUE(env_.Open(p, OpenMode::kRead).ok());
  EXPECT_TRUE(env_.Open(p, OpenMode::kReadWrite).ok());
  EXPECT_FALSE(env_.crashed());
  EXPECT_EQ(env_.mutations(), 0);
}

TEST_F(FaultInjectionEnvTest, HealEndsCrashAndClearsPendingFaults) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.CrashAfter(1);
  ASSERT_FALSE(f->WriteAt(0, "x").ok());
  ASSERT_TRUE(env_.crashed());

  env_.Heal();
  EXPECT_FALSE(env_.crashed());
  EXPECT_TRUE(f->WriteAt(0, "x").ok());

  env_.FailNextWrite();
  env_.FailNextSync();
  env_.TearNextWrite(1);
  env_.CrashAfter(2);
  env_.Heal();
  EXPECT_TRUE(f->WriteAt(0, "abc").ok());
  EXPECT_TRUE(f->Sync().ok());
  EXPECT_TRUE(f->WriteAt(3, "def").ok());
  EXPECT_FALSE(env_.crashed());
  EXPECT_EQ(Contents(p), "abcdef");
}

TEST_F(FaultInjectionEnvTest, CrashTakesPrecedenceOverPendingWriteFault) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.TearNextWrite(2);
  env_.CrashAfter(1);
  EXPECT_FALSE(f->WriteAt(0, "abcdef").ok());
  EXPECT_TRUE(env_.crashed());
  EXPECT_EQ(Contents(p), "");  // a crash writes nothing, not a torn prefix
}

// --- mutations() -------------------------------------------------------------

TEST_F(FaultInjectionEnvTest, MutationsCountsEveryMutatingCall) {
  EXPECT_EQ(env_.mutations(), 0);
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);  // 1
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());              // 2
  ASSERT_TRUE(f->Sync().ok());                         // 3
  ASSERT_TRUE(f->Truncate(2).ok());                    // 4
  ASSERT_TRUE(f->Preallocate(100).ok());               // 5
  ASSERT_TRUE(env_.CreateDirs(dir_.Join("d")).ok());   // 6
  ASSERT_TRUE(env_.SyncDir(dir_.path()).ok());         // 7
  ASSERT_TRUE(env_.Rename(p, dir_.Join("g")).ok());    // 8
  ASSERT_TRUE(env_.Remove(dir_.Join("g")).ok());       // 9
  EXPECT_EQ(env_.mutations(), 9);
}

TEST_F(FaultInjectionEnvTest, ReadsAreNotMutations) {
  std::string p = dir_.Join("f");
  WriteBehindEnv(p, "abc");
  auto f = MustOpen(p, OpenMode::kRead);
  ASSERT_NE(f, nullptr);
  std::string buf(3, '\0');
  ASSERT_TRUE(f->ReadAt(0, buf).ok());
  ASSERT_TRUE(f->Size().ok());
  EXPECT_TRUE(env_.Exists(p));
  ASSERT_TRUE(env_.FileSize(p).ok());
  ASSERT_TRUE(env_.ListDir(dir_.path()).ok());
  ASSERT_TRUE(ReadFileToString(&env_, p).ok());
  EXPECT_EQ(env_.mutations(), 0);
}

TEST_F(FaultInjectionEnvTest, FailedMutationsAreCounted) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);  // 1
  ASSERT_NE(f, nullptr);
  env_.FailNextWrite();
  ASSERT_FALSE(f->WriteAt(0, "x").ok());  // 2
  env_.CrashAfter(1);
  ASSERT_FALSE(f->Sync().ok());  // 3
  ASSERT_FALSE(f->Sync().ok());  // 4
  EXPECT_EQ(env_.mutations(), 4);
}

TEST_F(FaultInjectionEnvTest, ResetCountersZeroesMutationsOnly) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "x").ok());
  env_.FailNextWrite();
  env_.ResetCounters();
  EXPECT_EQ(env_.mutations(), 0);
  EXPECT_FALSE(f->WriteAt(0, "y").ok());  // the pending fault survived
  EXPECT_EQ(env_.mutations(), 1);
}

TEST_F(FaultInjectionEnvTest, HealKeepsMutationCount) {
  auto f = MustOpen(dir_.Join("f"), OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  env_.Heal();
  EXPECT_EQ(env_.mutations(), 1);
}

TEST_F(FaultInjectionEnvTest, MutationCountLetsATestCrashAtEveryStep) {
  // The pattern for crash tests: count the steps of an operation once, then
  // crash at each one and check what survives.
  auto op = [&](Env* env) { return WriteFileAtomic(env, dir_.Join("state"), "v2"); };
  ASSERT_TRUE(WriteFileAtomic(&env_, dir_.Join("state"), "v1").ok());
  env_.ResetCounters();
  ASSERT_TRUE(op(&env_).ok());
  const int steps = env_.mutations();
  EXPECT_EQ(steps, 5);  // create tmp, write, sync, rename, sync dir

  for (int n = 1; n <= steps; ++n) {
    SCOPED_TRACE(n);
    ASSERT_TRUE(WriteFileAtomic(Env::Default(), dir_.Join("state"), "v1").ok());
    env_.Heal();
    env_.CrashAfter(n);
    EXPECT_FALSE(op(&env_).ok());
    std::string now = Contents(dir_.Join("state"));
    EXPECT_TRUE(now == "v1" || now == "v2") << now;
    // The rename (step 4) is the commit point: crashing at it or before leaves v1.
    EXPECT_EQ(now, n <= 4 ? "v1" : "v2");
    (void)Env::Default()->Remove(dir_.Join("state.tmp"));
  }
}

// --- DropUnsyncedData --------------------------------------------------------

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataTruncatesToLastSyncedSize) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "synced").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(6, "-lost").ok());
  ASSERT_EQ(Contents(p), "synced-lost");
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "synced");
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataUsesLatestSync) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "a").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(1, "b").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(2, "c").ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "ab");
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataEmptiesFileNeverSynced) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "never synced").ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_TRUE(env_.Exists(p));
  EXPECT_EQ(*env_.FileSize(p), 0u);
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataKeepsFullySyncedFile) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "all synced").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "all synced");
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataAfterTruncateModeReopen) {
  std::string p = dir_.Join("f");
  {
    auto f = MustOpen(p, OpenMode::kCreate);
    ASSERT_NE(f, nullptr);
    ASSERT_TRUE(f->WriteAt(0, "old synced").ok());
    ASSERT_TRUE(f->Sync().ok());
  }
  auto f = MustOpen(p, OpenMode::kTruncate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "new").ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "");
}

TEST_F(FaultInjectionEnvTest, RenamedFileKeepsItsSyncedSize) {
  std::string from = dir_.Join("tmp");
  std::string to = dir_.Join("final");
  auto f = MustOpen(from, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "synced").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(6, "+unsynced").ok());
  f.reset();
  ASSERT_TRUE(env_.Rename(from, to).ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_FALSE(env_.Exists(from));
  EXPECT_EQ(Contents(to), "synced");
}

TEST_F(FaultInjectionEnvTest, RenameOverTrackedFileReplacesItsSyncedSize) {
  std::string a = dir_.Join("a");
  std::string b = dir_.Join("b");
  auto fb = MustOpen(b, OpenMode::kCreate);
  ASSERT_NE(fb, nullptr);
  ASSERT_TRUE(fb->WriteAt(0, "bbbbbbbbbb").ok());
  ASSERT_TRUE(fb->Sync().ok());  // b synced at 10 bytes
  auto fa = MustOpen(a, OpenMode::kCreate);
  ASSERT_NE(fa, nullptr);
  ASSERT_TRUE(fa->WriteAt(0, "aaa").ok());
  ASSERT_TRUE(fa->Sync().ok());
  ASSERT_TRUE(fa->WriteAt(3, "AAAAAAAAAA").ok());
  ASSERT_TRUE(env_.Rename(a, b).ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(b), "aaa");
}

TEST_F(FaultInjectionEnvTest, WriteFileAtomicSurvivesDropUnsyncedData) {
  std::string p = dir_.Join("state");
  ASSERT_TRUE(WriteFileAtomic(&env_, p, "durable state").ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "durable state");
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataSkipsRemovedFiles) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "x").ok());
  f.reset();
  ASSERT_TRUE(env_.Remove(p).ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_FALSE(env_.Exists(p));
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataLeavesFilesNotWrittenThroughEnv) {
  std::string p = dir_.Join("other");
  WriteBehindEnv(p, "written by someone else");
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "written by someone else");
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataKeepsContentThatPredatesEnv) {
  // A file written and synced before this env existed, then appended to
  // through it: a power cut loses the append, not the old content.
  std::string p = dir_.Join("volume.dat");
  WriteBehindEnv(p, "old needles|");
  auto f = MustOpen(p, OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(12, "new needle").ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "old needles|");
}

TEST_F(FaultInjectionEnvTest, DropUnsyncedDataWorksWhileCrashed) {
  std::string p = dir_.Join("f");
  auto f = MustOpen(p, OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  ASSERT_TRUE(f->WriteAt(0, "abc").ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->WriteAt(3, "def").ok());
  env_.CrashAfter(1);
  ASSERT_FALSE(f->Sync().ok());
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  EXPECT_EQ(Contents(p), "abc");
}

// --- FlipByte ----------------------------------------------------------------

TEST_F(FaultInjectionEnvTest, FlipByteChangesExactlyOneByte) {
  std::string p = dir_.Join("f");
  std::string original = "0123456789abcdef";
  WriteBehindEnv(p, original);
  ASSERT_TRUE(env_.FlipByte(p, 5).ok());
  std::string now = Contents(p);
  ASSERT_EQ(now.size(), original.size());
  int changed = 0;
  for (size_t i = 0; i < now.size(); ++i) {
    if (now[i] != original[i]) {
      ++changed;
      EXPECT_EQ(i, 5u);
    }
  }
  EXPECT_EQ(changed, 1);
}

TEST_F(FaultInjectionEnvTest, FlipByteTwiceRestoresByte) {
  std::string p = dir_.Join("f");
  WriteBehindEnv(p, "abc");
  ASSERT_TRUE(env_.FlipByte(p, 2).ok());
  ASSERT_NE(Contents(p), "abc");
  ASSERT_TRUE(env_.FlipByte(p, 2).ok());
  EXPECT_EQ(Contents(p), "abc");
}

TEST_F(FaultInjectionEnvTest, FlipBytePastEndFailsAndChangesNothing) {
  std::string p = dir_.Join("f");
  WriteBehindEnv(p, "abc");
  Status s = env_.FlipByte(p, 3);
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_EQ(Contents(p), "abc");
}

TEST_F(FaultInjectionEnvTest, FlipByteOfMissingFileIsNotFound) {
  EXPECT_EQ(env_.FlipByte(dir_.Join("missing"), 0).code(), Code::kNotFound);
}

TEST_F(FaultInjectionEnvTest, FlipByteIsNotAMutationAndWorksWhileCrashed) {
  std::string p = dir_.Join("f");
  WriteBehindEnv(p, "abc");
  env_.CrashAfter(1);
  ASSERT_FALSE(env_.SyncDir(dir_.path()).ok());
  const int before = env_.mutations();
  EXPECT_TRUE(env_.FlipByte(p, 0).ok());
  EXPECT_EQ(env_.mutations(), before);
  EXPECT_NE(Contents(p), "abc");
}

// --- Thread safety -----------------------------------------------------------

TEST_F(FaultInjectionEnvTest, ConcurrentWritersAreCountedExactly) {
  constexpr int kThreads = 4;
  constexpr int kWrites = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto f = env_.Open(dir_.Join("f" + std::to_string(t)), OpenMode::kCreate);
      ASSERT_TRUE(f.ok());
      for (int i = 0; i < kWrites; ++i) ASSERT_TRUE((*f)->WriteAt(static_cast<uint64_t>(i), "x").ok());
      ASSERT_TRUE((*f)->Sync().ok());
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(env_.mutations(), kThreads * (1 + kWrites + 1));
  ASSERT_TRUE(env_.DropUnsyncedData().ok());
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(Contents(dir_.Join("f" + std::to_string(t))), std::string(kWrites, 'x'));
}

}  // namespace
}  // namespace cfs::testing
