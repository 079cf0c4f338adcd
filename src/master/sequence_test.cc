#include "master/sequence.h"

#include <gtest/gtest.h>

#include <limits>
#include <set>
#include <string>

#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"

namespace cfs::master {
namespace {

class SequencerTest : public ::testing::Test {
 protected:
  Sequencer MustOpen(uint64_t batch) {
    Result<Sequencer> s = Sequencer::Open(&env_, path_, batch);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  uint64_t MustNext(Sequencer& s, uint64_t count = 1) {
    Result<uint64_t> id = s.Next(count);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  uint64_t PersistedMark() {
    Result<std::string> text = ReadFileToString(Env::Default(), path_);
    EXPECT_TRUE(text.ok()) << text.status().ToString();
    Result<uint64_t> mark = DecodeSequenceMark(text.ok() ? *text : "", path_);
    EXPECT_TRUE(mark.ok()) << mark.status().ToString();
    return mark.ok() ? *mark : 0;
  }

  cfs::testing::TempDir dir_;
  cfs::testing::FaultInjectionEnv env_;
  std::string path_ = dir_.Join("needle.seq");
};

TEST_F(SequencerTest, NewSequenceStartsAtOneAndWritesNothingUntilUsed) {
  Sequencer s = MustOpen(10);
  EXPECT_EQ(s.peek(), 1u);
  EXPECT_FALSE(Env::Default()->Exists(path_));
  EXPECT_EQ(MustNext(s), 1u);
  EXPECT_EQ(MustNext(s), 2u);
  EXPECT_EQ(MustNext(s, 5), 3u);
  EXPECT_EQ(MustNext(s), 8u);
}

TEST_F(SequencerTest, PersistsOncePerBatch) {
  Sequencer s = MustOpen(10);
  env_.ResetCounters();
  EXPECT_EQ(MustNext(s), 1u);
  int after_first = env_.mutations();
  EXPECT_GT(after_first, 0);
  EXPECT_EQ(PersistedMark(), 11u);  // ids 1..10 reserved
  for (uint64_t want = 2; want <= 10; ++want) EXPECT_EQ(MustNext(s), want);
  EXPECT_EQ(env_.mutations(), after_first) << "ids inside the reserved batch cost no I/O";
  EXPECT_EQ(MustNext(s), 11u);  // crosses the mark
  EXPECT_GT(env_.mutations(), after_first);
  EXPECT_EQ(PersistedMark(), 21u);
}

TEST_F(SequencerTest, BatchBoundaryIsExact) {
  Sequencer s = MustOpen(10);
  EXPECT_EQ(MustNext(s, 10), 1u);  // exactly fills the first batch: 1..10
  EXPECT_EQ(s.reserved_mark(), 11u);
  EXPECT_EQ(s.peek(), 11u);
  EXPECT_EQ(MustNext(s, 1), 11u);
  EXPECT_EQ(s.reserved_mark(), 21u);
}

TEST_F(SequencerTest, RequestLargerThanBatchReservesItWhole) {
  Sequencer s = MustOpen(10);
  EXPECT_EQ(MustNext(s, 3), 1u);
  EXPECT_EQ(MustNext(s, 25), 4u);  // 4..28: beyond the mark 11
  EXPECT_EQ(s.reserved_mark(), 29u);
  EXPECT_EQ(PersistedMark(), 29u);
  EXPECT_EQ(MustNext(s), 29u);
  EXPECT_EQ(PersistedMark(), 39u);
}

TEST_F(SequencerTest, ReopenSkipsTheUnusedRestOfTheBatch) {
  {
    Sequencer s = MustOpen(10000);
    EXPECT_EQ(MustNext(s), 1u);
    EXPECT_EQ(MustNext(s, 99), 2u);
  }
  Sequencer s = MustOpen(10000);
  EXPECT_EQ(MustNext(s), 10001u);
}

TEST_F(SequencerTest, NoIdIsReusedAcrossManyRestarts) {
  std::set<uint64_t> seen;
  uint64_t last = 0;
  for (int run = 0; run < 20; ++run) {
    Sequencer s = MustOpen(7);
    for (int i = 0; i < run % 5 + (run % 3) * 7; ++i) {
      uint64_t count = static_cast<uint64_t>(i % 4 + 1);
      uint64_t first = MustNext(s, count);
      EXPECT_GT(first, last);
      for (uint64_t id = first; id < first + count; ++id) EXPECT_TRUE(seen.insert(id).second) << id;
      last = first + count - 1;
    }
  }
}

TEST_F(SequencerTest, FailedWriteHandsOutNothingAndLaterSucceeds) {
  Sequencer s = MustOpen(10);
  env_.FailNextWrite("needle.seq");
  Result<uint64_t> failed = s.Next(1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Code::kIOError);
  EXPECT_NE(failed.status().message().find(path_), std::string::npos) << failed.status().ToString();
  EXPECT_EQ(s.peek(), 1u);
  EXPECT_EQ(s.reserved_mark(), 1u);
  EXPECT_EQ(MustNext(s), 1u);  // the retry persists and hands out the same id: it never left
  EXPECT_EQ(PersistedMark(), 11u);
}

TEST_F(SequencerTest, FailedSyncAtBatchBoundaryHandsOutNothing) {
  Sequencer s = MustOpen(5);
  EXPECT_EQ(MustNext(s, 5), 1u);  // 1..5, mark 6
  env_.FailNextSync("needle.seq");
  Result<uint64_t> failed = s.Next(1);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(s.peek(), 6u);
  EXPECT_EQ(s.reserved_mark(), 6u);
  EXPECT_EQ(PersistedMark(), 6u) << "the old mark stays on disk";
  {
    Sequencer reopened = MustOpen(5);
    EXPECT_EQ(reopened.peek(), 6u);
  }
  EXPECT_EQ(MustNext(s), 6u);
}

TEST_F(SequencerTest, CrashDuringPersistNeverReusesAnId) {
  Sequencer s = MustOpen(4);
  EXPECT_EQ(MustNext(s, 4), 1u);  // mark 5
  env_.CrashAfter(1);
  EXPECT_FALSE(s.Next(1).ok());
  env_.Heal();
  Sequencer reopened = MustOpen(4);
  EXPECT_EQ(MustNext(reopened), 5u);
}

TEST_F(SequencerTest, AtLeastRaisesAndIsPersistedBeforeUse) {
  Sequencer s = MustOpen(10);
  EXPECT_EQ(MustNext(s), 1u);  // mark 11
  s.AtLeast(5);
  EXPECT_EQ(s.peek(), 6u);
  s.AtLeast(3);  // lower: no-op
  EXPECT_EQ(s.peek(), 6u);
  s.AtLeast(100);
  EXPECT_EQ(s.peek(), 101u);
  EXPECT_EQ(PersistedMark(), 11u) << "AtLeast alone writes nothing";
  EXPECT_EQ(MustNext(s), 101u);
  EXPECT_EQ(PersistedMark(), 111u);
  Sequencer reopened = MustOpen(10);
  EXPECT_EQ(reopened.peek(), 111u);
}

TEST_F(SequencerTest, AtLeastWithFailedPersistHandsOutNothing) {
  Sequencer s = MustOpen(10);
  s.AtLeast(50);
  env_.FailNextWrite();
  EXPECT_FALSE(s.Next(1).ok());
  EXPECT_EQ(MustNext(s), 51u);
}

TEST_F(SequencerTest, RejectsZeroBatchAndZeroCount) {
  Result<Sequencer> bad = Sequencer::Open(&env_, path_, 0);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  Sequencer s = MustOpen(3);
  Result<uint64_t> zero = s.Next(0);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), Code::kInvalidArgument);
}

TEST_F(SequencerTest, ExhaustionIsNoSpace) {
  Sequencer s = MustOpen(10);
  s.AtLeast(std::numeric_limits<uint64_t>::max() - 3);
  Result<uint64_t> too_many = s.Next(5);
  ASSERT_FALSE(too_many.ok());
  EXPECT_EQ(too_many.status().code(), Code::kNoSpace);
  s.AtLeast(std::numeric_limits<uint64_t>::max());
  EXPECT_FALSE(s.Next(1).ok());
}

TEST_F(SequencerTest, DamagedFileIsCorruptionNotAGuess) {
  {
    Sequencer s = MustOpen(10);
    EXPECT_EQ(MustNext(s), 1u);
  }
  ASSERT_TRUE(env_.FlipByte(path_, 0).ok());  // "11 ..." -> a different first digit
  Result<Sequencer> s = Sequencer::Open(&env_, path_, 10);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kCorruption);
  EXPECT_NE(s.status().message().find(path_), std::string::npos) << s.status().ToString();
}

TEST_F(SequencerTest, DigitChangedOnDiskFailsTheChecksum) {
  // "21" with the checksum of "11": a mark that parses but is not the one written.
  std::string good = EncodeSequenceMark(11);
  std::string bad = "2" + good.substr(1);
  ASSERT_TRUE(WriteFileAtomic(&env_, path_, bad).ok());
  Result<Sequencer> s = Sequencer::Open(&env_, path_, 10);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kCorruption);
  EXPECT_NE(s.status().message().find("checksum mismatch"), std::string::npos) << s.status().ToString();
}

TEST(SequenceMarkTest, EncodeDecodeRoundTripsAndRejectsGarbage) {
  for (uint64_t mark : {uint64_t{1}, uint64_t{10001}, std::numeric_limits<uint64_t>::max()}) {
    Result<uint64_t> back = DecodeSequenceMark(EncodeSequenceMark(mark), "f");
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, mark);
  }
  for (std::string_view bad : {"", "12", "12\n", "12 00000000\n", "x 00000000\n",
                               "99999999999999999999999 00000000\n"}) {
    Result<uint64_t> r = DecodeSequenceMark(bad, "f");
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), Code::kCorruption);
    }
  }
  Result<uint64_t> zero = DecodeSequenceMark(EncodeSequenceMark(0), "f");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.status().code(), Code::kCorruption);
}

}  // namespace
}  // namespace cfs::master
