// The write-ahead log: round trips, Raft's recovery rules, torn tails and
// damage, crashes at every mutating call, sticky failures, rolling and GC.
#include "raft/wal.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/env.h"
#include "common/logging.h"
#include "raft/wal_format.h"
#include "testing/env_wrapper.h"
#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"

namespace cfs::raft {
namespace {

using cfs::testing::FaultInjectionEnv;
using cfs::testing::TempDir;

#define ASSERT_OK(expr)                                         \
  do {                                                          \
    ::cfs::Status assert_ok_ = ::cfs::internal::AsStatus(expr); \
    ASSERT_TRUE(assert_ok_.ok()) << assert_ok_.ToString();      \
  } while (0)

// The real file system without fsyncs: durability is modelled by the
// FaultInjectionEnv above it (DropUnsyncedData), and a real fdatasync per
// step would make the crash loops slow.
class NoSyncEnv final : public cfs::testing::EnvWrapper {
 public:
  Status SyncDir(const std::string&) override { return Status::OK(); }

 private:
  class NoSyncFile final : public cfs::testing::FileWrapper {
   public:
    using FileWrapper::FileWrapper;
    Status Sync() override { return Status::OK(); }
  };
  std::unique_ptr<File> WrapFile(std::unique_ptr<File> f) override { return std::make_unique<NoSyncFile>(std::move(f)); }
};

// Silences the torn-tail warnings of loops that tear on purpose.
class QuietLogs {
 public:
  QuietLogs() : level_(spdlog::get_level()) { spdlog::set_level(spdlog::level::err); }
  ~QuietLogs() { spdlog::set_level(level_); }

 private:
  spdlog::level::level_enum level_;
};

proto::Entry MakeEntry(uint64_t index, uint64_t term) {
  proto::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(fmt::format("data {}/{}", index, term));
  return e;
}

std::vector<proto::Entry> Entries(uint64_t first, uint64_t last, uint64_t term) {
  std::vector<proto::Entry> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(MakeEntry(i, term));
  return out;
}

proto::HardState MakeHardState(uint64_t term, uint64_t vote, uint64_t commit) {
  proto::HardState hs;
  hs.set_term(term);
  hs.set_vote(vote);
  hs.set_commit(commit);
  return hs;
}

proto::SnapshotMeta MakeMeta(uint64_t index, uint64_t term) {
  proto::SnapshotMeta meta;
  meta.set_index(index);
  meta.set_term(term);
  meta.mutable_conf_state()->add_voters(1);
  return meta;
}

// One line per group: hard state, mark and entries as index:term, with the
// data checked on the way. Comparing these shows a readable diff.
std::string Describe(const std::map<GroupId, WalGroupState>& groups) {
  std::string out;
  for (const auto& [group, state] : groups) {
    const auto& hs = state.hard_state;
    out += fmt::format("g{} hs({},{},{}) mark {}/{} [", group, hs.term(), hs.vote(), hs.commit(), state.snapshot.index(),
                       state.snapshot.term());
    for (const auto& e : state.entries) {
      out += fmt::format(" {}:{}", e.index(), e.term());
      if (e.data() != fmt::format("data {}/{}", e.index(), e.term())) out += "(bad data)";
    }
    out += " ]\n";
  }
  return out;
}

// What the log must recover, by the rules of wal.h, kept beside a Wal.
struct ModelGroup {
  proto::HardState hard_state;
  uint64_t mark = 0, mark_term = 0;
  std::map<uint64_t, uint64_t> entries;  // index -> term
};

struct Model {
  std::map<uint64_t, ModelGroup> groups;

  void Append(uint64_t g, uint64_t first, uint64_t last, uint64_t term) {
    ModelGroup& m = groups[g];
    m.entries.erase(m.entries.lower_bound(first), m.entries.end());
    for (uint64_t i = std::max(first, m.mark + 1); i <= last; ++i) m.entries[i] = term;
  }
  void HardState(uint64_t g, proto::HardState hs) { groups[g].hard_state = hs; }
  void Mark(uint64_t g, uint64_t index, uint64_t term) {
    ModelGroup& m = groups[g];
    m.mark = index;
    m.mark_term = term;
    m.entries.erase(m.entries.begin(), m.entries.upper_bound(index));
  }
  void Remove(uint64_t g) { groups.erase(g); }
  uint64_t Last(uint64_t g) const {
    auto it = groups.find(g);
    if (it == groups.end()) return 0;
    return it->second.entries.empty() ? it->second.mark : it->second.entries.rbegin()->first;
  }

  std::string Describe() const {
    std::string out;
    for (const auto& [g, m] : groups) {
      out += fmt::format("g{} hs({},{},{}) mark {}/{} [", g, m.hard_state.term(), m.hard_state.vote(),
                         m.hard_state.commit(), m.mark, m.mark_term);
      for (const auto& [i, t] : m.entries) out += fmt::format(" {}:{}", i, t);
      out += " ]\n";
    }
    return out;
  }
};

// Drives a Wal and a Model in step: `synced` is what the last OK Sync made
// durable, `buffered` includes what is waiting for the next Sync.
struct Driver {
  Wal* wal;
  Model synced, buffered;

  Status Append(uint64_t g, uint64_t first, uint64_t last, uint64_t term) {
    Status s = wal->AppendEntries(GroupId(g), Entries(first, last, term));
    if (s.ok()) buffered.Append(g, first, last, term);
    return s;
  }
  Status HardState(uint64_t g, uint64_t term, uint64_t vote, uint64_t commit) {
    Status s = wal->SaveHardState(GroupId(g), MakeHardState(term, vote, commit));
    if (s.ok()) buffered.HardState(g, MakeHardState(term, vote, commit));
    return s;
  }
  Status Mark(uint64_t g, uint64_t index, uint64_t term) {
    Status s = wal->MarkSnapshot(GroupId(g), MakeMeta(index, term));
    if (s.ok()) buffered.Mark(g, index, term);
    return s;
  }
  Status Remove(uint64_t g) {
    Status s = wal->RemoveGroup(GroupId(g));
    if (s.ok()) buffered.Remove(g);
    return s;
  }
  Status Sync() {
    Status s = wal->Sync();
    if (s.ok()) synced = buffered;
    return s;
  }
};

class WalTest : public ::testing::Test {
 protected:
  std::string WalDir() const { return dir_.Join("wal"); }
  std::string SegmentPath(const std::string& name) const { return WalDir() + "/" + name; }
  Result<std::unique_ptr<Wal>> Open(WalOptions options = {}) { return Wal::Open(&env_, WalDir(), options); }
  std::unique_ptr<Wal> MustOpen(WalOptions options = {}) {
    auto wal = Open(options);
    EXPECT_TRUE(wal.ok()) << wal.status().ToString();
    return wal.ok() ? std::move(*wal) : nullptr;
  }
  std::string Recovered(WalOptions options = {}) {
    auto wal = MustOpen(options);
    return wal ? Describe(wal->recovered()) : "(open failed)";
  }
  // The segment file names, oldest first.
  std::vector<std::string> Segments() {
    std::vector<std::string> out;
    auto names = env_.ListDir(WalDir());
    for (const auto& name : names.value()) {
      if (name.ends_with(".wal")) out.push_back(name);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  uint64_t Size(const std::string& name) { return env_.FileSize(SegmentPath(name)).value(); }
  void AppendRaw(const std::string& name, std::string_view bytes) {
    auto f = env_.Open(SegmentPath(name), OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_OK((*f)->WriteAt((*f)->Size().value(), bytes));
  }

  TempDir dir_;
  NoSyncEnv no_sync_;
  FaultInjectionEnv env_{&no_sync_};
};

TEST_F(WalTest, EmptyDirectoryOpensWithNoGroupsAndOneSegment) {
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  EXPECT_TRUE(wal->recovered().empty());
  EXPECT_EQ(wal->segment_count(), 1u);
  EXPECT_EQ(Segments(), std::vector<std::string>{"0000000000000001.wal"});
  ASSERT_OK(wal->Sync());  // nothing buffered: nothing to do
}

TEST_F(WalTest, ManyGroupsRoundTripAcrossReopens) {
  Model model;
  {
    auto wal = MustOpen();
    Driver d{wal.get()};
    for (uint64_t g = 0; g < 40; ++g) {
      ASSERT_OK(d.Append(g, 1, 5 + g % 7, 1 + g % 3));
      ASSERT_OK(d.HardState(g, 1 + g % 3, g % 5, 2));
      if (g % 4 == 0) ASSERT_OK(d.Mark(g, 3, 1 + g % 3));
    }
    ASSERT_OK(d.Sync());
    model = d.synced;
  }
  EXPECT_EQ(Recovered(), model.Describe());
  {
    // Appending after a reopen continues the same groups.
    auto wal = MustOpen();
    Driver d{wal.get(), model, model};
    for (uint64_t g = 0; g < 40; g += 3) ASSERT_OK(d.Append(g, model.Last(g) + 1, model.Last(g) + 2, 4));
    ASSERT_OK(d.HardState(7, 4, 1, 9));
    ASSERT_OK(d.Sync());
    model = d.synced;
  }
  EXPECT_EQ(Recovered(), model.Describe());
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  auto taken = wal->TakeRecovered();
  EXPECT_EQ(Describe(taken), model.Describe());
  EXPECT_TRUE(wal->recovered().empty());
}

TEST_F(WalTest, OverwritingAppendTruncatesTheSuffix) {
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 10, 1)));
    ASSERT_OK(wal->Sync());
    // A new leader of term 2 overwrote the uncommitted suffix from 6 (§3.5).
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(6, 7, 2)));
    ASSERT_OK(wal->Sync());
  }
  EXPECT_EQ(Recovered(), "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 3:1 4:1 5:1 6:2 7:2 ]\n");
  {
    auto wal = MustOpen();
    // The log now ends at 7: 9 would leave a gap, 8 continues it.
    EXPECT_TRUE(wal->AppendEntries(GroupId(1), Entries(9, 9, 2)).Is(Code::kInvalidArgument));
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(8, 8, 2)));
    // And an overwrite of everything from the first entry.
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(1, 3, 1)));
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(1, 2, 3)));
    ASSERT_OK(wal->Sync());
  }
  EXPECT_EQ(Recovered(),
            "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 3:1 4:1 5:1 6:2 7:2 8:2 ]\n"
            "g2 hs(0,0,0) mark 0/0 [ 1:3 2:3 ]\n");
}

TEST_F(WalTest, AppendRejectsRunsThatAreNotContiguous) {
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  EXPECT_TRUE(wal->AppendEntries(GroupId(1), Entries(2, 3, 1)).Is(Code::kInvalidArgument));  // the log is empty
  EXPECT_TRUE(wal->AppendEntries(GroupId(1), {MakeEntry(0, 1)}).Is(Code::kInvalidArgument));
  EXPECT_TRUE(wal->AppendEntries(GroupId(1), {MakeEntry(1, 1), MakeEntry(3, 1)}).Is(Code::kInvalidArgument));
  EXPECT_TRUE(wal->AppendEntries(GroupId(1), {MakeEntry(2, 1), MakeEntry(1, 1)}).Is(Code::kInvalidArgument));
  ASSERT_OK(wal->AppendEntries(GroupId(1), {}));
  ASSERT_OK(wal->Sync());
  wal.reset();
  EXPECT_EQ(Recovered(), "");  // nothing rejected was written
}

TEST_F(WalTest, SnapshotMarkDropsEntriesThroughIt) {
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 10, 1)));
    ASSERT_OK(wal->MarkSnapshot(GroupId(1), MakeMeta(6, 1)));
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(1, 4, 1)));
    // A snapshot from the leader past the end of the log: the log restarts
    // after it, and the next entry is 16.
    ASSERT_OK(wal->MarkSnapshot(GroupId(2), MakeMeta(15, 2)));
    EXPECT_TRUE(wal->AppendEntries(GroupId(2), Entries(17, 17, 2)).Is(Code::kInvalidArgument));
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(16, 17, 2)));
    ASSERT_OK(wal->Sync());
  }
  EXPECT_EQ(Recovered(),
            "g1 hs(0,0,0) mark 6/1 [ 7:1 8:1 9:1 10:1 ]\n"
            "g2 hs(0,0,0) mark 15/2 [ 16:2 17:2 ]\n");
}

TEST_F(WalTest, EntriesAtOrBelowTheMarkAreDropped) {
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->MarkSnapshot(GroupId(1), MakeMeta(10, 3)));
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(8, 12, 3)));
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(1, 5, 1)));
    ASSERT_OK(wal->MarkSnapshot(GroupId(2), MakeMeta(5, 1)));
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(3, 4, 1)));  // wholly below the mark: changes nothing
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(6, 6, 1)));
    ASSERT_OK(wal->Sync());
  }
  EXPECT_EQ(Recovered(),
            "g1 hs(0,0,0) mark 10/3 [ 11:3 12:3 ]\n"
            "g2 hs(0,0,0) mark 5/1 [ 6:1 ]\n");
}

TEST_F(WalTest, MarkBelowTheCurrentMarkIsRejected) {
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  ASSERT_OK(wal->MarkSnapshot(GroupId(1), MakeMeta(10, 3)));
  EXPECT_TRUE(wal->MarkSnapshot(GroupId(1), MakeMeta(9, 3)).Is(Code::kInvalidArgument));
  ASSERT_OK(wal->MarkSnapshot(GroupId(1), MakeMeta(10, 3)));  // the same mark again is fine
}

TEST_F(WalTest, LatestHardStateWins) {
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->SaveHardState(GroupId(1), MakeHardState(1, 2, 0)));
    ASSERT_OK(wal->SaveHardState(GroupId(1), MakeHardState(2, 3, 4)));
    ASSERT_OK(wal->Sync());
    ASSERT_OK(wal->SaveHardState(GroupId(1), MakeHardState(3, 0, 4)));
    ASSERT_OK(wal->SaveHardState(GroupId(2), MakeHardState(7, 7, 7)));
    ASSERT_OK(wal->Sync());
  }
  EXPECT_EQ(Recovered(),
            "g1 hs(3,0,4) mark 0/0 [ ]\n"
            "g2 hs(7,7,7) mark 0/0 [ ]\n");
}

TEST_F(WalTest, RemoveGroupForgetsItAndTheIdCanStartOver) {
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 5, 1)));
    ASSERT_OK(wal->SaveHardState(GroupId(1), MakeHardState(1, 1, 3)));
    ASSERT_OK(wal->AppendEntries(GroupId(2), Entries(1, 2, 1)));
    ASSERT_OK(wal->Sync());
    ASSERT_OK(wal->RemoveGroup(GroupId(1)));
    ASSERT_OK(wal->RemoveGroup(GroupId(9)));  // unknown: harmless
    ASSERT_OK(wal->Sync());
  }
  EXPECT_EQ(Recovered(), "g2 hs(0,0,0) mark 0/0 [ 1:1 2:1 ]\n");
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 1, 5)));  // a new incarnation starts at 1
    ASSERT_OK(wal->Sync());
  }
  EXPECT_EQ(Recovered(),
            "g1 hs(0,0,0) mark 0/0 [ 1:5 ]\n"
            "g2 hs(0,0,0) mark 0/0 [ 1:1 2:1 ]\n");
}

TEST_F(WalTest, BufferedRecordsAreNotDurableUntilSync) {
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 2, 1)));
    ASSERT_OK(wal->Sync());
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(3, 4, 1)));
    ASSERT_OK(wal->SaveHardState(GroupId(1), MakeHardState(1, 1, 1)));
  }  // closed without Sync: the buffered records were never written
  ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Recovered(), "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 ]\n");
}

TEST_F(WalTest, GroupCommitIsOneWriteAndOneSync) {
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  env_.ResetCounters();
  for (uint64_t g = 1; g <= 50; ++g) {
    ASSERT_OK(wal->AppendEntries(GroupId(g), Entries(1, 3, 1)));
    ASSERT_OK(wal->SaveHardState(GroupId(g), MakeHardState(1, g, 1)));
  }
  EXPECT_EQ(env_.mutations(), 0);  // buffering touches nothing
  ASSERT_OK(wal->Sync());
  EXPECT_EQ(env_.mutations(), 2);  // one WriteAt, one Sync
}

TEST_F(WalTest, EntryOverTheRecordBoundIsRejected) {
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  proto::Entry big = MakeEntry(1, 1);
  big.set_data(std::string(kWalMaxPayloadBytes, 'x'));
  EXPECT_TRUE(wal->AppendEntries(GroupId(1), {big}).Is(Code::kTooLarge));
}

// A batch of two records torn at every byte: what was whole survives, the
// torn rest is cut away, and the log takes appends cleanly afterwards.
TEST_F(WalTest, TornTailAtEveryByteIsTruncatedAndEverythingBeforeSurvives) {
  // The frame sizes of the torn batch, to know which records were whole.
  proto::WalRecord first;
  first.set_type(proto::WAL_ENTRIES);
  first.set_group(1);
  for (auto& e : Entries(3, 4, 2)) *first.add_entries() = e;
  proto::WalRecord second;
  second.set_type(proto::WAL_HARD_STATE);
  second.set_group(2);
  *second.mutable_hard_state() = MakeHardState(2, 2, 2);
  const size_t first_bytes = kWalFrameHeaderBytes + first.ByteSizeLong();
  const size_t batch_bytes = first_bytes + kWalFrameHeaderBytes + second.ByteSizeLong();

  QuietLogs quiet;
  const std::string base = "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 ]\ng2 hs(1,1,1) mark 0/0 [ ]\n";
  const std::string with_first = "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 3:2 4:2 ]\ng2 hs(1,1,1) mark 0/0 [ ]\n";
  for (size_t keep = 0; keep < batch_bytes; ++keep) {
    SCOPED_TRACE(fmt::format("torn after {} of {} bytes", keep, batch_bytes));
    TempDir dir;
    NoSyncEnv base_env;
    FaultInjectionEnv env(&base_env);
    std::string wal_dir = dir.Join("wal");
    uint64_t synced_size;
    {
      auto wal = Wal::Open(&env, wal_dir);
      ASSERT_TRUE(wal.ok());
      ASSERT_OK((*wal)->AppendEntries(GroupId(1), Entries(1, 2, 1)));
      ASSERT_OK((*wal)->SaveHardState(GroupId(2), MakeHardState(1, 1, 1)));
      ASSERT_OK((*wal)->Sync());
      synced_size = env.FileSize(wal_dir + "/0000000000000001.wal").value();
      ASSERT_OK((*wal)->AppendEntries(GroupId(1), Entries(3, 4, 2)));
      ASSERT_OK((*wal)->SaveHardState(GroupId(2), MakeHardState(2, 2, 2)));
      env.TearNextWrite(keep);
      Status s = (*wal)->Sync();
      ASSERT_TRUE(s.Is(Code::kIOError)) << s.ToString();
    }
    // The torn bytes stay on disk, as when the page cache reached it in part.
    ASSERT_EQ(env.FileSize(wal_dir + "/0000000000000001.wal").value(), synced_size + keep);
    {
      auto wal = Wal::Open(&env, wal_dir);
      ASSERT_TRUE(wal.ok()) << wal.status().ToString();
      bool whole_first = keep >= first_bytes;
      EXPECT_EQ(Describe((*wal)->recovered()), whole_first ? with_first : base);
      EXPECT_EQ(env.FileSize(wal_dir + "/0000000000000001.wal").value(),
                synced_size + (whole_first ? first_bytes : 0));
      ASSERT_OK((*wal)->SaveHardState(GroupId(3), MakeHardState(9, 9, 9)));
      ASSERT_OK((*wal)->Sync());
    }
    auto wal = Wal::Open(&env, wal_dir);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    EXPECT_EQ(Describe((*wal)->recovered()),
              (keep >= first_bytes ? with_first : base) + "g3 hs(9,9,9) mark 0/0 [ ]\n");
  }
}

// Three records in the last segment; damage anywhere in the middle one is
// Corruption naming the segment and offset, never a silent truncation.
TEST_F(WalTest, DamageAnywhereInAMiddleRecordIsCorruption) {
  std::vector<uint64_t> ends;
  {
    auto wal = MustOpen();
    for (uint64_t i = 1; i <= 3; ++i) {
      ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(i, i, 1)));
      ASSERT_OK(wal->Sync());
      ends.push_back(Size("0000000000000001.wal"));
    }
  }
  const std::string path = SegmentPath("0000000000000001.wal");
  for (uint64_t offset = ends[0]; offset < ends[1]; ++offset) {
    SCOPED_TRACE(fmt::format("byte {} flipped", offset));
    ASSERT_OK(env_.FlipByte(path, offset));
    auto wal = Open();
    ASSERT_FALSE(wal.ok());
    EXPECT_TRUE(wal.status().Is(Code::kCorruption)) << wal.status().ToString();
    EXPECT_NE(wal.status().message().find(fmt::format("0000000000000001.wal: offset {}", ends[0])), std::string::npos)
        << wal.status().ToString();
    EXPECT_EQ(Size("0000000000000001.wal"), ends[2]);  // nothing was cut
    ASSERT_OK(env_.FlipByte(path, offset));  // and back
  }
  EXPECT_EQ(Recovered(), "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 3:1 ]\n");
}

// Damage in the final record of the last segment cannot be told from a torn
// write: it is cut away like one.
TEST_F(WalTest, DamageInTheFinalRecordIsTreatedAsATornTail) {
  uint64_t two_records;
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 2, 1)));
    ASSERT_OK(wal->Sync());
    two_records = Size("0000000000000001.wal");
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(3, 3, 1)));
    ASSERT_OK(wal->Sync());
  }
  ASSERT_OK(env_.FlipByte(SegmentPath("0000000000000001.wal"), Size("0000000000000001.wal") - 2));
  EXPECT_EQ(Recovered(), "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 ]\n");
  EXPECT_EQ(Size("0000000000000001.wal"), two_records);
}

TEST_F(WalTest, DamageInAnEarlierSegmentIsCorruptionEvenAtItsEnd) {
  WalOptions options;
  options.segment_bytes = 200;
  {
    auto wal = MustOpen(options);
    for (uint64_t i = 1; i <= 30; ++i) {
      ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(i, i, 1)));
      ASSERT_OK(wal->Sync());
    }
  }
  auto segments = Segments();
  ASSERT_GE(segments.size(), 3u);
  for (const std::string& name : {segments[0], segments[1]}) {
    SCOPED_TRACE(name);
    for (uint64_t offset : {Size(name) - 1, Size(name) / 2, uint64_t{0}}) {
      ASSERT_OK(env_.FlipByte(SegmentPath(name), offset));
      auto wal = Open(options);
      ASSERT_FALSE(wal.ok());
      EXPECT_TRUE(wal.status().Is(Code::kCorruption)) << wal.status().ToString();
      EXPECT_NE(wal.status().message().find(name), std::string::npos) << wal.status().ToString();
      ASSERT_OK(env_.FlipByte(SegmentPath(name), offset));
    }
  }
  // A segment cut short (not the last) is Corruption too.
  {
    auto f = env_.Open(SegmentPath(segments[1]), OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_OK((*f)->Truncate(Size(segments[1]) - 1));
  }
  auto wal = Open(options);
  EXPECT_TRUE(wal.status().Is(Code::kCorruption)) << wal.status().ToString();
}

TEST_F(WalTest, IntactFrameThatDoesNotParseIsCorruptionEvenAtTheTail) {
  { MustOpen(); }
  std::string frame;
  AppendWalFrame(&frame, WalFrameKind::kLog, "\xff\xff\xff not a proto");
  AppendRaw("0000000000000001.wal", frame);
  auto wal = Open();
  EXPECT_TRUE(wal.status().Is(Code::kCorruption)) << wal.status().ToString();
  EXPECT_NE(wal.status().message().find("offset 0"), std::string::npos) << wal.status().ToString();
}

TEST_F(WalTest, RecordsThatBreakTheRulesAreCorruption) {
  auto frame_of = [](const proto::WalRecord& r, WalFrameKind kind = WalFrameKind::kLog) {
    std::string out;
    AppendWalFrame(&out, kind, r.SerializeAsString());
    return out;
  };
  proto::WalRecord gap;  // entries 5.. with nothing before and no mark
  gap.set_type(proto::WAL_ENTRIES);
  gap.set_group(4);
  *gap.add_entries() = MakeEntry(5, 1);
  proto::WalRecord unknown;
  unknown.set_type(static_cast<proto::WalRecordType>(42));
  proto::WalRecord empty_entries;
  empty_entries.set_type(proto::WAL_ENTRIES);
  proto::WalRecord jump;  // two entries 1 and 3
  jump.set_type(proto::WAL_ENTRIES);
  *jump.add_entries() = MakeEntry(1, 1);
  *jump.add_entries() = MakeEntry(3, 1);
  proto::WalRecord removal;
  removal.set_type(proto::WAL_REMOVE_GROUP);
  proto::WalRecord hard_state;
  hard_state.set_type(proto::WAL_HARD_STATE);
  struct Case {
    std::string name, bytes, message;
  };
  std::vector<Case> cases = {
      {"hole never closed by a mark", frame_of(gap), "entries 1 to 4 are missing"},
      {"unknown type", frame_of(unknown), "unknown record type 42"},
      {"empty entries", frame_of(empty_entries), "entries record is empty"},
      {"entries not contiguous", frame_of(jump), "entry 3 follows entry 1"},
      {"removal inside a checkpoint", frame_of(removal, WalFrameKind::kCheckpoint), "checkpoint holds"},
      {"checkpoint after the log", frame_of(hard_state) + frame_of(hard_state, WalFrameKind::kCheckpoint),
       "checkpoint frame after log frames"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    ASSERT_OK(env_.CreateDirs(dir.Join("wal")));
    auto f = env_.Open(dir.Join("wal/0000000000000001.wal"), OpenMode::kCreate);
    ASSERT_TRUE(f.ok());
    ASSERT_OK((*f)->WriteAt(0, c.bytes));
    auto wal = Wal::Open(&env_, dir.Join("wal"));
    ASSERT_FALSE(wal.ok());
    EXPECT_TRUE(wal.status().Is(Code::kCorruption)) << wal.status().ToString();
    EXPECT_NE(wal.status().message().find(c.message), std::string::npos) << wal.status().ToString();
  }
}

TEST_F(WalTest, MissingSegmentIsCorruption) {
  WalOptions options;
  options.segment_bytes = 100;
  {
    auto wal = MustOpen(options);
    for (uint64_t i = 1; i <= 10; ++i) {
      ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(i, i, 1)));
      ASSERT_OK(wal->Sync());
    }
  }
  auto segments = Segments();
  ASSERT_GE(segments.size(), 3u);
  ASSERT_OK(env_.Remove(SegmentPath(segments[1])));
  auto wal = Open(options);
  EXPECT_TRUE(wal.status().Is(Code::kCorruption)) << wal.status().ToString();
  EXPECT_NE(wal.status().message().find(segments[1] + " is missing"), std::string::npos) << wal.status().ToString();
}

TEST_F(WalTest, UnfinishedSegmentCreationIsDiscarded) {
  {
    auto wal = MustOpen();
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 1, 1)));
    ASSERT_OK(wal->Sync());
  }
  {
    auto f = env_.Open(SegmentPath("0000000000000002.wal.tmp"), OpenMode::kCreate);
    ASSERT_TRUE(f.ok());
    ASSERT_OK((*f)->WriteAt(0, "half a checkpoint"));
  }
  EXPECT_EQ(Recovered(), "g1 hs(0,0,0) mark 0/0 [ 1:1 ]\n");
  EXPECT_FALSE(env_.Exists(SegmentPath("0000000000000002.wal.tmp")));
  EXPECT_EQ(Segments(), std::vector<std::string>{"0000000000000001.wal"});
}

TEST_F(WalTest, FailedSyncIsStickyAndItsRecordsAreNotDurable) {
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 2, 1)));
  ASSERT_OK(wal->Sync());
  ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(3, 3, 1)));
  env_.FailNextSync();
  Status failed = wal->Sync();
  ASSERT_TRUE(failed.Is(Code::kIOError)) << failed.ToString();
  // Every later call reports the same error, even though the env is fine now.
  EXPECT_EQ(wal->Sync().ToString(), failed.ToString());
  EXPECT_EQ(wal->AppendEntries(GroupId(1), Entries(4, 4, 1)).ToString(), failed.ToString());
  EXPECT_EQ(wal->SaveHardState(GroupId(1), MakeHardState(1, 1, 1)).ToString(), failed.ToString());
  EXPECT_EQ(wal->MarkSnapshot(GroupId(1), MakeMeta(1, 1)).ToString(), failed.ToString());
  EXPECT_EQ(wal->RemoveGroup(GroupId(1)).ToString(), failed.ToString());
  EXPECT_EQ(wal->CollectGarbage().status().ToString(), failed.ToString());
  wal.reset();
  // A power cut now loses the write whose sync failed.
  ASSERT_OK(env_.DropUnsyncedData());
  EXPECT_EQ(Recovered(), "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 ]\n");
}

TEST_F(WalTest, FailedWriteIsSticky) {
  auto wal = MustOpen();
  ASSERT_NE(wal, nullptr);
  ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 1, 1)));
  env_.FailNextWrite();
  Status failed = wal->Sync();
  ASSERT_TRUE(failed.Is(Code::kIOError)) << failed.ToString();
  EXPECT_EQ(wal->Sync().ToString(), failed.ToString());
  EXPECT_EQ(wal->AppendEntries(GroupId(1), Entries(1, 1, 1)).ToString(), failed.ToString());
  wal.reset();
  EXPECT_EQ(Recovered(), "");
}

TEST_F(WalTest, FailedRollIsSticky) {
  WalOptions options;
  options.segment_bytes = 1;
  auto wal = MustOpen(options);
  ASSERT_NE(wal, nullptr);
  ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 1, 1)));
  ASSERT_OK(wal->Sync());
  ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(2, 2, 1)));
  env_.FailNextWrite(".tmp");  // the new segment's checkpoint
  Status failed = wal->Sync();
  ASSERT_TRUE(failed.Is(Code::kIOError)) << failed.ToString();
  EXPECT_EQ(wal->Sync().ToString(), failed.ToString());
  wal.reset();
  EXPECT_EQ(Recovered(options), "g1 hs(0,0,0) mark 0/0 [ 1:1 ]\n");
}

TEST_F(WalTest, SegmentsRollPastSegmentBytesAndStartWithACheckpoint) {
  WalOptions options;
  options.segment_bytes = 300;
  Model model;
  {
    auto wal = MustOpen(options);
    Driver d{wal.get()};
    for (uint64_t i = 1; i <= 40; ++i) {
      uint64_t g = 1 + i % 3;
      ASSERT_OK(d.Append(g, d.buffered.Last(g) + 1, d.buffered.Last(g) + 1, 1));
      ASSERT_OK(d.HardState(g, 1, 0, i));
      ASSERT_OK(d.Sync());
    }
    EXPECT_EQ(wal->segment_count(), Segments().size());
    model = d.synced;
  }
  auto segments = Segments();
  ASSERT_GE(segments.size(), 4u);
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    // Each closed segment passed the bound by less than one batch.
    EXPECT_GE(Size(segments[i]), options.segment_bytes) << segments[i];
    EXPECT_LT(Size(segments[i]), options.segment_bytes + 200) << segments[i];
  }
  // Each segment but the first opens with a checkpoint of the three groups.
  std::string image = ReadFileToString(&env_, SegmentPath(segments.back())).value();
  int checkpoint_frames = 0;
  uint64_t valid_end = 0;
  ASSERT_OK(ScanWalSegment(
      image, true,
      [&](uint64_t, const WalFrame& frame) {
        if (frame.kind == WalFrameKind::kCheckpoint) ++checkpoint_frames;
        return Status::OK();
      },
      &valid_end));
  EXPECT_EQ(checkpoint_frames, 6);  // a hard state and a mark per group
  EXPECT_EQ(Recovered(options), model.Describe());
}

TEST_F(WalTest, CollectGarbageDeletesOnlySegmentsEveryGroupCompactedPast) {
  WalOptions options;
  options.segment_bytes = 400;
  auto wal = MustOpen(options);
  ASSERT_NE(wal, nullptr);
  Driver d{wal.get()};
  // Groups 1 and 2 write into every segment; group 3 only into the first.
  ASSERT_OK(d.Append(3, 1, 3, 1));
  ASSERT_OK(d.HardState(3, 1, 3, 3));
  for (uint64_t i = 1; i <= 60; ++i) {
    ASSERT_OK(d.Append(1, i, i, 1));
    ASSERT_OK(d.Append(2, i, i, 1));
    ASSERT_OK(d.HardState(1, 1, 1, i));
    ASSERT_OK(d.Sync());
  }
  const size_t before = wal->segment_count();
  ASSERT_GE(before, 5u);
  EXPECT_EQ(wal->CollectGarbage().value(), 0);

  // Group 1 compacts everything, group 2 nothing: every segment is still needed.
  ASSERT_OK(d.Mark(1, 60, 1));
  ASSERT_OK(d.Sync());
  EXPECT_EQ(wal->CollectGarbage().value(), 0);
  // A mark that is buffered but not synced does not count.
  ASSERT_OK(d.Mark(2, 30, 1));
  ASSERT_OK(d.Mark(3, 3, 1));
  EXPECT_EQ(wal->CollectGarbage().value(), 0);
  ASSERT_OK(d.Sync());
  // Group 2 through 30: the segments holding only entries <= 30 go, the
  // oldest first.
  int removed = wal->CollectGarbage().value();
  EXPECT_GT(removed, 0);
  EXPECT_LT(static_cast<size_t>(removed), before - 1);
  EXPECT_EQ(wal->segment_count(), Segments().size());
  EXPECT_NE(Segments().front(), "0000000000000001.wal");
  // Group 3's hard state and group 1's were in deleted segments: the
  // checkpoints kept them.
  const std::string expected = d.synced.Describe();
  EXPECT_EQ(Recovered(options), expected);

  // Group 2 compacts the rest: everything but the current segment goes.
  ASSERT_OK(d.Mark(2, 60, 1));
  ASSERT_OK(d.Sync());
  EXPECT_GT(wal->CollectGarbage().value(), 0);
  EXPECT_EQ(wal->segment_count(), 1u);
  EXPECT_EQ(Segments().size(), 1u);
  EXPECT_EQ(Recovered(options), d.synced.Describe());
}

TEST_F(WalTest, RemovedGroupHoldsNoSegmentBack) {
  WalOptions options;
  options.segment_bytes = 300;
  auto wal = MustOpen(options);
  ASSERT_NE(wal, nullptr);
  Driver d{wal.get()};
  for (uint64_t i = 1; i <= 30; ++i) {
    ASSERT_OK(d.Append(1, i, i, 1));
    ASSERT_OK(d.Append(2, i, i, 1));
    ASSERT_OK(d.Sync());
  }
  ASSERT_OK(d.Mark(1, 30, 1));
  ASSERT_OK(d.Sync());
  EXPECT_EQ(wal->CollectGarbage().value(), 0);
  ASSERT_OK(d.Remove(2));
  ASSERT_OK(d.Append(2, 1, 1, 7));  // the id comes back: its new entries are in the current segment
  ASSERT_OK(d.Sync());
  EXPECT_GT(wal->CollectGarbage().value(), 0);
  EXPECT_EQ(wal->segment_count(), 1u);
  EXPECT_EQ(Recovered(options), d.synced.Describe());
}

// The checkpoint at the head of the oldest kept segment can be older than
// the mark that let the segments before it go: recovery meets the group's
// entries after a hole, which that later mark closes.
TEST_F(WalTest, CollectionAheadOfTheOldestCheckpointRecovers) {
  WalOptions options;
  options.segment_bytes = 500;
  auto wal = MustOpen(options);
  ASSERT_NE(wal, nullptr);
  Driver d{wal.get()};
  ASSERT_OK(d.Append(1, 1, 30, 1));  // fills segment 1
  ASSERT_OK(d.Sync());
  ASSERT_OK(d.Append(1, 31, 32, 1));  // segment 2: checkpoint (mark 0), then 31..32
  ASSERT_OK(d.Sync());
  ASSERT_EQ(wal->segment_count(), 2u);
  ASSERT_OK(d.Mark(1, 30, 1));  // segment 2 too
  ASSERT_OK(d.Sync());
  EXPECT_EQ(wal->CollectGarbage().value(), 1);
  EXPECT_EQ(Recovered(options), "g1 hs(0,0,0) mark 30/1 [ 31:1 32:1 ]\n");
  EXPECT_EQ(Recovered(options), d.synced.Describe());
}

// Found by wal_fuzz: damage inside the last segment's checkpoint was cut
// away like a torn tail, and once the older segments were collected the
// groups whose checkpoint frames were lost went with them.
TEST_F(WalTest, DamagedCheckpointOfTheLastSegmentIsWrittenAgainWhole) {
  WalOptions options;
  options.segment_bytes = 300;
  Model model;
  {
    auto wal = MustOpen(options);
    Driver d{wal.get()};
    ASSERT_OK(d.Append(1, 1, 20, 1));
    ASSERT_OK(d.HardState(2, 5, 2, 0));  // group 2 writes only here
    ASSERT_OK(d.Sync());
    ASSERT_OK(d.Append(1, 21, 21, 1));  // rolls: segment 2 opens with a checkpoint of both groups
    ASSERT_OK(d.Sync());
    ASSERT_EQ(wal->segment_count(), 2u);
    model = d.synced;
  }
  // Cut segment 2 inside its third checkpoint frame (group 2's hard state).
  const std::string name = "0000000000000002.wal";
  std::string image = ReadFileToString(&env_, SegmentPath(name)).value();
  std::vector<uint64_t> offsets;
  uint64_t end = 0;
  ASSERT_OK(ScanWalSegment(
      image, true,
      [&](uint64_t offset, const WalFrame&) {
        offsets.push_back(offset);
        return Status::OK();
      },
      &end));
  ASSERT_EQ(offsets.size(), 5u);  // four checkpoint frames and one log frame
  {
    auto f = env_.Open(SegmentPath(name), OpenMode::kReadWrite);
    ASSERT_TRUE(f.ok());
    ASSERT_OK((*f)->Truncate(offsets[2] + 3));
  }
  model.groups[1].entries.erase(21);  // the log frame after it went too
  {
    auto wal = MustOpen(options);
    ASSERT_NE(wal, nullptr);
    EXPECT_EQ(Describe(wal->recovered()), model.Describe());
    EXPECT_EQ(Size(name), offsets[4]);  // the whole checkpoint again
    Driver d{wal.get(), model, model};
    ASSERT_OK(d.Mark(1, 20, 1));
    ASSERT_OK(d.Sync());
    EXPECT_EQ(wal->CollectGarbage().value(), 1);
    model = d.synced;
  }
  EXPECT_EQ(Recovered(options), model.Describe());
  EXPECT_NE(model.Describe().find("g2 hs(5,2,0)"), std::string::npos);
}

// A checkpoint restates the segments before it; one that does not (frames
// dropped, changed or added, all with good checksums) is Corruption, since
// collection would otherwise make its mistake the log's truth. Found by
// wal_fuzz, which drops whole frames.
TEST_F(WalTest, CheckpointThatDisagreesWithTheSegmentsBeforeItIsCorruption) {
  WalOptions options;
  options.segment_bytes = 300;
  {
    auto wal = MustOpen(options);
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(1, 20, 1)));
    ASSERT_OK(wal->SaveHardState(GroupId(2), MakeHardState(5, 2, 0)));
    ASSERT_OK(wal->Sync());
    ASSERT_OK(wal->AppendEntries(GroupId(1), Entries(21, 21, 1)));
    ASSERT_OK(wal->Sync());
    ASSERT_EQ(wal->segment_count(), 2u);
  }
  const std::string path = SegmentPath("0000000000000002.wal");
  const std::string image = ReadFileToString(&env_, path).value();
  std::vector<std::pair<WalFrameKind, proto::WalRecord>> frames;
  uint64_t end = 0;
  ASSERT_OK(ScanWalSegment(
      image, true,
      [&](uint64_t, const WalFrame& frame) {
        proto::WalRecord r;
        EXPECT_TRUE(r.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size())));
        frames.emplace_back(frame.kind, r);
        return Status::OK();
      },
      &end));
  ASSERT_EQ(frames.size(), 5u);  // g1 hard state, g1 mark, g2 hard state, g2 mark, the entries
  ASSERT_EQ(frames[2].second.type(), proto::WAL_HARD_STATE);
  auto write = [&](const std::vector<std::pair<WalFrameKind, proto::WalRecord>>& fs) {
    std::string bytes;
    for (const auto& [kind, r] : fs) AppendWalFrame(&bytes, kind, r.SerializeAsString());
    auto f = env_.Open(path, OpenMode::kTruncate);
    ASSERT_TRUE(f.ok());
    ASSERT_OK((*f)->WriteAt(0, bytes));
  };
  auto dropped = frames;
  dropped.erase(dropped.begin() + 2);
  auto changed = frames;
  changed[2].second.mutable_hard_state()->set_term(6);
  auto added = frames;
  added.insert(added.begin() + 4, added[2]);
  added[4].second.set_group(3);
  for (const auto& [name, fs] : {std::pair{"dropped", dropped}, std::pair{"changed", changed}, std::pair{"added", added}}) {
    SCOPED_TRACE(name);
    write(fs);
    auto wal = Open(options);
    ASSERT_FALSE(wal.ok());
    EXPECT_TRUE(wal.status().Is(Code::kCorruption)) << wal.status().ToString();
    EXPECT_NE(wal.status().message().find("checkpoint disagrees"), std::string::npos) << wal.status().ToString();
  }
  write(frames);
  EXPECT_EQ(Recovered(options),
            "g1 hs(0,0,0) mark 0/0 [ 1:1 2:1 3:1 4:1 5:1 6:1 7:1 8:1 9:1 10:1 11:1 12:1 13:1 14:1 15:1 16:1 17:1 "
            "18:1 19:1 20:1 21:1 ]\n"
            "g2 hs(5,2,0) mark 0/0 [ ]\n");
}

// The workload of the crash test: three groups with overwrites, marks, a
// removal and a rebirth, small segments, GC after every round. Stops at the
// first error and returns it.
Status CrashWorkload(Driver& d) {
  for (uint64_t round = 1; round <= 24; ++round) {
    for (uint64_t g = 1; g <= 3; ++g) {
      if (g == 3 && round >= 12 && round < 16) continue;  // removed for a while
      uint64_t last = d.buffered.Last(g);
      uint64_t term = 1 + round / 5;
      // Every fourth round a new leader overwrites the last entry.
      uint64_t first = round % 4 == 0 && last > d.buffered.groups[g].mark ? last : last + 1;
      CFS_RETURN_IF_ERROR(d.Append(g, first, last + 2, term));
      CFS_RETURN_IF_ERROR(d.HardState(g, term, g, last));
      if (round % 3 == 0) CFS_RETURN_IF_ERROR(d.Mark(g, last, term));
    }
    if (round == 11) CFS_RETURN_IF_ERROR(d.Remove(3));
    CFS_RETURN_IF_ERROR(d.Sync());
    auto removed = d.wal->CollectGarbage();
    CFS_RETURN_IF_ERROR(removed.status());
  }
  return Status::OK();
}

// A crash at every mutating call of the workload (writes, syncs, segment
// creation, renames, removals), then a power cut: the log recovers exactly
// what the last successful Sync made durable, or that plus the batch whose
// Sync was cut short, and takes appends afterwards.
TEST_F(WalTest, CrashAtEveryStepRecoversEverySyncedRecord) {
  WalOptions options;
  options.segment_bytes = 256;
  int total_mutations;
  std::string full;
  {
    TempDir dir;
    NoSyncEnv base;
    FaultInjectionEnv env(&base);
    auto wal = Wal::Open(&env, dir.Join("wal"), options);
    ASSERT_TRUE(wal.ok());
    env.ResetCounters();
    Driver d{wal->get()};
    ASSERT_OK(CrashWorkload(d));
    total_mutations = env.mutations();
    full = d.synced.Describe();
    wal->reset();
    auto reopened = Wal::Open(&env, dir.Join("wal"), options);
    ASSERT_TRUE(reopened.ok());
    ASSERT_EQ(Describe((*reopened)->recovered()), full);
  }
  ASSERT_GT(total_mutations, 60);
  QuietLogs quiet;
  for (int n = 1; n <= total_mutations; ++n) {
    SCOPED_TRACE(fmt::format("crash at mutation {} of {}", n, total_mutations));
    TempDir dir;
    NoSyncEnv base;
    FaultInjectionEnv env(&base);
    Model synced;
    std::optional<Model> in_flight;
    {
      auto wal = Wal::Open(&env, dir.Join("wal"), options);
      ASSERT_TRUE(wal.ok());
      env.CrashAfter(n);
      Driver d{wal->get()};
      Status s = CrashWorkload(d);
      ASSERT_FALSE(s.ok());
      ASSERT_TRUE(env.crashed());
      synced = d.synced;
      if (!(d.buffered.Describe() == d.synced.Describe())) in_flight = d.buffered;
    }
    ASSERT_OK(env.DropUnsyncedData());
    env.Heal();
    auto wal = Wal::Open(&env, dir.Join("wal"), options);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    std::string got = Describe((*wal)->recovered());
    if (got != synced.Describe()) {
      ASSERT_TRUE(in_flight.has_value()) << got << "\nwant\n" << synced.Describe();
      ASSERT_EQ(got, in_flight->Describe());
    }
    // Still a working log.
    ASSERT_OK((*wal)->SaveHardState(GroupId(9), MakeHardState(1, 1, 1)));
    ASSERT_OK((*wal)->Sync());
    ASSERT_OK((*wal)->CollectGarbage().status());
  }
}

// The frame codec on its own.
TEST(WalFormatTest, FrameRoundTripsAndEveryCheckFires) {
  std::string buf;
  AppendWalFrame(&buf, WalFrameKind::kLog, "payload");
  ASSERT_EQ(buf.size(), kWalFrameHeaderBytes + 7);
  auto frame = DecodeWalFrame(buf);
  ASSERT_TRUE(frame.ok()) << frame.status().ToString();
  EXPECT_EQ(frame->kind, WalFrameKind::kLog);
  EXPECT_EQ(frame->payload, "payload");
  EXPECT_EQ(frame->size, buf.size());

  EXPECT_NE(DecodeWalFrame(std::string_view(buf).substr(0, 8)).status().message().find("cut short"),
            std::string::npos);
  EXPECT_NE(DecodeWalFrame(std::string_view(buf).substr(0, buf.size() - 1)).status().message().find("past the end"),
            std::string::npos);
  std::string bad = buf;
  bad[0] = '\x7f';
  EXPECT_NE(DecodeWalFrame(bad).status().message().find("over the bound"), std::string::npos);
  bad = buf;
  bad[8] = 9;
  EXPECT_NE(DecodeWalFrame(bad).status().message().find("unknown frame kind 9"), std::string::npos);
  bad = buf;
  bad[12] ^= 1;
  EXPECT_NE(DecodeWalFrame(bad).status().message().find("checksum mismatch"), std::string::npos);
}

TEST(WalFormatTest, ScanTellsATornTailFromDamageInTheMiddle) {
  std::string image;
  AppendWalFrame(&image, WalFrameKind::kCheckpoint, "a");
  AppendWalFrame(&image, WalFrameKind::kLog, "bb");
  size_t two = image.size();
  AppendWalFrame(&image, WalFrameKind::kLog, "ccc");
  auto count = [](std::string_view img, bool last, uint64_t* end) {
    int n = 0;
    Status s = ScanWalSegment(
        img, last,
        [&](uint64_t, const WalFrame&) {
          ++n;
          return Status::OK();
        },
        end);
    return s.ok() ? n : -1;
  };
  uint64_t end = 0;
  EXPECT_EQ(count(image, true, &end), 3);
  EXPECT_EQ(end, image.size());
  // Torn third frame: truncated in the last segment, Corruption elsewhere.
  EXPECT_EQ(count(std::string_view(image).substr(0, image.size() - 1), true, &end), 2);
  EXPECT_EQ(end, two);
  EXPECT_EQ(count(std::string_view(image).substr(0, image.size() - 1), false, &end), -1);
  // Damage in the second frame with an intact third after it: Corruption.
  std::string damaged = image;
  damaged[two - 1] ^= 1;
  EXPECT_EQ(count(damaged, true, &end), -1);
}

}  // namespace
}  // namespace cfs::raft
