#include "datanode/block_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "common/env.h"
#include "datanode/block_group_test_util.h"
#include "datanode/scrub.h"
#include "testing/env_wrapper.h"

namespace cfs::datanode {
namespace {

using namespace std::chrono_literals;

class BlockGroupTest : public BlockGroupFixture {};

TEST_F(BlockGroupTest, AppendThenReadReturnsTheSameBytes) {
  auto bg = Create();
  for (uint64_t id = 1; id <= 50; ++id) Put(bg.get(), id, id * 37);
  ExpectContents(*bg);
  EXPECT_EQ(bg->Stats().needle_count, 50u);
}

TEST_F(BlockGroupTest, AppendReturnsAlignedLocationsInOrder) {
  auto bg = Create();
  auto a = Put(bg.get(), 1, 10);
  auto b = Put(bg.get(), 2, 1000);
  EXPECT_EQ(a.offset, kSuperBlockSize);
  EXPECT_EQ(a.offset % 8, 0u);
  EXPECT_EQ(b.offset, a.offset + a.record_bytes);
  EXPECT_EQ(b.offset % 8, 0u);
  EXPECT_EQ(a.record_bytes, NeedleRecordSize(a.size));
}

TEST_F(BlockGroupTest, FilesAreByteCompatibleAndScrubClean) {
  {
    auto bg = Create();
    for (uint64_t id = 1; id <= 20; ++id) Put(bg.get(), id, 100 + id);
    Del(bg.get(), 5);
    ASSERT_TRUE(bg->Close().ok());
  }
  auto report = ScrubDat(Env::Default(), DatPath(), IdxPath());
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << report->problems.front().message;
  EXPECT_EQ(report->needles, 20u);
  EXPECT_EQ(report->tombstones, 1u);
  EXPECT_EQ(report->idx_entries, 21u);
  EXPECT_EQ(report->idx_live, 19u);
}

TEST_F(BlockGroupTest, WrongCookieIsNotFoundWithTheSameMessageAsAMissingNeedle) {
  auto bg = Create();
  Put(bg.get(), 1, 100);
  std::string buf;
  auto wrong = bg->Read(NeedleId(1), Cookie(CookieFor(1).value() ^ 0x10), &buf);
  auto missing = bg->Read(NeedleId(2), CookieFor(2), &buf);
  ASSERT_TRUE(wrong.status().Is(Code::kNotFound));
  ASSERT_TRUE(missing.status().Is(Code::kNotFound));
  EXPECT_EQ(wrong.status().message().find("cookie"), std::string::npos);
  EXPECT_EQ(buf.find(Payload(1, 100)), std::string::npos) << "the caller's buffer must not expose a needle";
}

TEST_F(BlockGroupTest, DeleteNeedsTheRightCookieAndHidesTheNeedle) {
  auto bg = Create();
  Put(bg.get(), 1, 100);
  Put(bg.get(), 2, 100);
  EXPECT_TRUE(bg->Delete(NeedleId(1), Cookie(1)).status().Is(Code::kNotFound));
  ExpectContents(*bg);  // still there
  auto freed = bg->Delete(NeedleId(1), CookieFor(1));
  ASSERT_TRUE(freed.ok());
  live_.erase(1);
  deleted_.insert(1);
  ExpectContents(*bg);
  EXPECT_TRUE(bg->Delete(NeedleId(1), CookieFor(1)).status().Is(Code::kNotFound));
  EXPECT_EQ(bg->Stats().needle_count, 1u);
  EXPECT_EQ(bg->Stats().deleted_count, 1u);
}

TEST_F(BlockGroupTest, AppendOfAnExistingIdReplacesItAndCountsGarbage) {
  auto bg = Create();
  Put(bg.get(), 1, 500);
  EXPECT_EQ(bg->Stats().garbage_bytes, 0u);
  Put(bg.get(), 1, 300);
  ExpectContents(*bg);
  EXPECT_EQ(bg->Stats().needle_count, 1u);
  EXPECT_EQ(bg->Stats().garbage_bytes, NeedleRecordSize(NeedleBodySize(NeedleView{.data = Payload(1, 500)}).value()));
}

TEST_F(BlockGroupTest, EmptyNeedleIsRefused) {
  auto bg = Create();
  NeedleView n;
  n.id = NeedleId(1);
  EXPECT_TRUE(bg->Append(n).status().Is(Code::kInvalidArgument));
}

TEST_F(BlockGroupTest, OptionalFieldsRoundTrip) {
  auto bg = Create();
  NeedleView n;
  n.id = NeedleId(9);
  n.cookie = Cookie(99);
  n.data = "hello";
  n.flags = kFlagName | kFlagMime | kFlagPairs | kFlagLastModified;
  n.name = "greeting.txt";
  n.mime = "text/plain";
  n.pairs = R"({"a":"b"})";
  n.last_modified = 1'700'000'123;
  ASSERT_TRUE(bg->Append(n).ok());
  std::string buf;
  auto got = bg->Read(NeedleId(9), Cookie(99), &buf);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->data, "hello");
  EXPECT_EQ(got->name, "greeting.txt");
  EXPECT_EQ(got->mime, "text/plain");
  EXPECT_EQ(got->pairs, R"({"a":"b"})");
  EXPECT_EQ(got->last_modified, 1'700'000'123u);
}

TEST_F(BlockGroupTest, AppendTimestampsStrictlyRiseEvenWhenTheClockStands) {
  auto bg = Create();
  for (uint64_t id = 1; id <= 5; ++id) Put(bg.get(), id, 10);
  std::string buf;
  uint64_t prev = 0;
  for (uint64_t id = 1; id <= 5; ++id) {
    auto n = bg->Read(NeedleId(id), CookieFor(id), &buf);
    ASSERT_TRUE(n.ok());
    EXPECT_GT(n->append_at_ns, prev);
    prev = n->append_at_ns;
  }
  // And after a reopen, the next append is still later.
  ASSERT_TRUE(bg->Close().ok());
  bg = Open();
  Put(bg.get(), 6, 10);
  auto n = bg->Read(NeedleId(6), CookieFor(6), &buf);
  ASSERT_TRUE(n.ok());
  EXPECT_GT(n->append_at_ns, prev);
}

TEST_F(BlockGroupTest, BlockGroupTtlExpiresNeedlesAndTheGroup) {
  SuperBlock sb;
  sb.ttl = Ttl::Parse("1m").value();
  auto bg = Create(sb);
  Put(bg.get(), 1, 10);
  ExpectContents(*bg);
  EXPECT_FALSE(bg->Expired());
  clock_.Advance(59s);
  ExpectContents(*bg);
  clock_.Advance(2s);
  std::string buf;
  auto n = bg->Read(NeedleId(1), CookieFor(1), &buf);
  EXPECT_TRUE(n.status().Is(Code::kNotFound));
  EXPECT_NE(n.status().message().find("expired"), std::string::npos);
  EXPECT_TRUE(bg->Expired());
}

TEST_F(BlockGroupTest, NeedleTtlExpiresInAGroupWithout) {
  auto bg = Create();
  NeedleView n;
  n.id = NeedleId(1);
  n.cookie = Cookie(1);
  n.data = "x";
  n.flags = kFlagTtl;
  n.ttl = Ttl::Parse("2h").value();
  ASSERT_TRUE(bg->Append(n).ok());
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(1), Cookie(1), &buf).ok());
  clock_.Advance(2h);
  EXPECT_TRUE(bg->Read(NeedleId(1), Cookie(1), &buf).status().Is(Code::kNotFound));
  EXPECT_FALSE(bg->Expired()) << "the group has no TTL";
}

TEST_F(BlockGroupTest, FarFutureLastModifiedDoesNotOverflowTheTtlCheck) {
  // Found by idx_fuzz: the 40-bit last-modified overflowed when counted in
  // nanoseconds (undefined behaviour, caught by UBSan in make test-asan).
  auto bg = Create();
  NeedleView n;
  n.id = NeedleId(1);
  n.cookie = Cookie(1);
  n.data = "x";
  n.flags = kFlagTtl | kFlagLastModified;
  n.ttl = Ttl::Parse("1y").value();
  n.last_modified = (uint64_t{1} << 40) - 1;  // year ~36812
  ASSERT_TRUE(bg->Append(n).ok());
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(1), Cookie(1), &buf).ok()) << "not expired";
}

TEST_F(BlockGroupTest, SizeLimitRefusesTheAppendAndTurnsReadOnly) {
  uint32_t body = NeedleBodySize(NeedleView{.data = Payload(1, 100)}).value();
  size_limit_ = kSuperBlockSize + 3 * NeedleRecordSize(body);
  auto bg = Create();
  for (uint64_t id = 1; id <= 3; ++id) Put(bg.get(), id, 100);
  std::string data = Payload(4, 100);
  auto r = bg->Append(NeedleView{.cookie = Cookie(1), .id = NeedleId(4), .data = data});
  ASSERT_TRUE(r.status().Is(Code::kNoSpace)) << r.status().ToString();
  EXPECT_NE(r.status().message().find("block group 7"), std::string::npos);
  auto st = bg->Stats();
  EXPECT_TRUE(st.read_only);
  EXPECT_NE(st.read_only_reason.find("full"), std::string::npos);
  ExpectContents(*bg);
}

TEST_F(BlockGroupTest, MaxSizeIs32GiB) { EXPECT_EQ(kMaxBlockGroupBytes, uint64_t{32} << 30); }

TEST_F(BlockGroupTest, ReadOnlyRefusesWritesWithAnErrorNamingTheGroup) {
  auto bg = Create();
  Put(bg.get(), 1, 10);
  bg->SetReadOnly("draining");
  std::string data = "x";
  auto r = bg->Append(NeedleView{.cookie = Cookie(1), .id = NeedleId(2), .data = data});
  ASSERT_TRUE(r.status().Is(Code::kReadOnly));
  EXPECT_NE(r.status().message().find("block group 7"), std::string::npos);
  EXPECT_NE(r.status().message().find("draining"), std::string::npos);
  EXPECT_TRUE(bg->Delete(NeedleId(1), CookieFor(1)).status().Is(Code::kReadOnly));
  ExpectContents(*bg);  // reads go on
  bg->ClearReadOnly();
  Put(bg.get(), 2, 10);
}

TEST_F(BlockGroupTest, CreateRefusesAnExistingGroup) {
  auto bg = Create();
  auto again = BlockGroup::Create(dir_.path(), "", BlockGroupId(7), SuperBlock{}, 0, Options());
  ASSERT_TRUE(again.status().Is(Code::kExists));
  EXPECT_EQ(again.status().message(), "block group 7 already exists");
}

TEST_F(BlockGroupTest, ReopenServesEverythingWritten) {
  {
    auto bg = Create();
    for (uint64_t id = 1; id <= 100; ++id) Put(bg.get(), id, id);
    for (uint64_t id = 1; id <= 100; id += 3) Del(bg.get(), id);
    ASSERT_TRUE(bg->Sync().ok());
  }
  auto bg = Open();
  ExpectContents(*bg);
  EXPECT_EQ(bg->Stats().needle_count, live_.size());
  EXPECT_FALSE(bg->Stats().read_only);
}

// An Env whose Sync can be held at a gate, counting the fsyncs that run.
class GatedSyncEnv final : public testing::EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  // While held, every Sync waits at the gate.
  void Hold() {
    std::lock_guard l(mu_);
    held_ = true;
  }
  void Release() {
    std::lock_guard l(mu_);
    held_ = false;
    cv_.notify_all();
  }
  void WaitInSync() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return in_sync_; });
  }
  int syncs() {
    std::lock_guard l(mu_);
    return syncs_;
  }

 private:
  class GatedFile final : public testing::FileWrapper {
   public:
    GatedFile(GatedSyncEnv* env, std::unique_ptr<File> f) : FileWrapper(std::move(f)), env_(env) {}
    Status Sync() override {
      {
        std::unique_lock l(env_->mu_);
        env_->syncs_++;
        env_->in_sync_ = true;
        env_->cv_.notify_all();
        env_->cv_.wait(l, [&] { return !env_->held_; });
        env_->in_sync_ = false;
      }
      return FileWrapper::Sync();
    }

   private:
    GatedSyncEnv* env_;
  };
  std::unique_ptr<File> WrapFile(std::unique_ptr<File> f) override { return std::make_unique<GatedFile>(this, std::move(f)); }

  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false, in_sync_ = false;
  int syncs_ = 0;
};

TEST_F(BlockGroupTest, GroupCommitCoversEveryAppendThatArrivedDuringTheLastSync) {
  GatedSyncEnv gated(&env_);
  BlockGroupOptions o = Options();
  o.env = &gated;
  auto bg = Create({}, o);
  ASSERT_NE(bg, nullptr);
  int base_syncs = gated.syncs();

  gated.Hold();
  Put(bg.get(), 1, 100);
  std::thread leader([&] { EXPECT_TRUE(bg->Sync().ok()); });
  gated.WaitInSync();  // the first fsync is running and held
  constexpr int kFollowers = 7;
  std::vector<std::thread> followers;
  std::atomic<int> appended{0};
  for (int i = 0; i < kFollowers; ++i) {
    followers.emplace_back([&, i] {
      std::string data = Payload(10 + i, 100);
      ASSERT_TRUE(bg->Append(NeedleView{.cookie = CookieFor(10 + i), .id = NeedleId(10 + i), .data = data}).ok());
      appended++;
      EXPECT_TRUE(bg->Sync().ok());
    });
  }
  while (appended < kFollowers) std::this_thread::sleep_for(1ms);
  gated.Release();
  leader.join();
  for (auto& t : followers) t.join();
  // One fsync for the leader's append, one for all seven that came meanwhile.
  EXPECT_EQ(gated.syncs() - base_syncs, 2);
  // Nothing new to make durable: no fsync at all.
  EXPECT_TRUE(bg->Sync().ok());
  EXPECT_EQ(gated.syncs() - base_syncs, 2);
}

// An Env recording the cache hints given for .dat files.
class CacheHintEnv final : public testing::EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  using Range = std::pair<uint64_t, uint64_t>;
  std::vector<Range> writebacks, drops;
  mutable std::vector<Range> will_needs;
  bool fail_drops = false;

 private:
  class HintFile final : public testing::FileWrapper {
   public:
    HintFile(CacheHintEnv* env, std::unique_ptr<File> f) : FileWrapper(std::move(f)), env_(env) {}
    Status StartWriteback(uint64_t offset, uint64_t length) override {
      if (path().ends_with(".dat")) env_->writebacks.emplace_back(offset, length);
      return FileWrapper::StartWriteback(offset, length);
    }
    Status DropCache(uint64_t offset, uint64_t length) override {
      if (env_->fail_drops) return Status::IOError("injected: sync_file_range failed");
      if (path().ends_with(".dat")) env_->drops.emplace_back(offset, length);
      return FileWrapper::DropCache(offset, length);
    }
    Status WillNeed(uint64_t offset, uint64_t length) const override {
      if (path().ends_with(".dat")) env_->will_needs.emplace_back(offset, length);
      return FileWrapper::WillNeed(offset, length);
    }

   private:
    CacheHintEnv* env_;
  };
  std::unique_ptr<File> WrapFile(std::unique_ptr<File> f) override { return std::make_unique<HintFile>(this, std::move(f)); }
};

TEST_F(BlockGroupTest, LargeRecordsLeaveThePageCacheOnceFarEnoughBehindSmallOnesStay) {
  CacheHintEnv hints(&env_);
  BlockGroupOptions o = Options();
  o.env = &hints;
  o.drop_behind_min_record = 256 << 10;
  auto bg = Create({}, o);
  ASSERT_NE(bg, nullptr);
  std::vector<CacheHintEnv::Range> large;
  constexpr size_t kLarge = 1 << 20;
  const size_t count = kDropBehindLagBytes / kLarge + 4;
  for (uint64_t id = 1; id <= count; ++id) {
    Put(bg.get(), 1000 + id, 4096);  // small: never a hint
    NeedleLocation loc = Put(bg.get(), id, kLarge);
    large.emplace_back(loc.offset, loc.record_bytes);
  }
  EXPECT_EQ(hints.writebacks, large);
  // Dropped: exactly the large records that kDropBehindLagBytes have been
  // appended behind, oldest first.
  const uint64_t end = large.back().first + large.back().second;
  std::vector<CacheHintEnv::Range> behind;
  for (const auto& r : large) {
    if (r.first + r.second + kDropBehindLagBytes <= end) behind.push_back(r);
  }
  ASSERT_GE(behind.size(), 3u);
  EXPECT_EQ(hints.drops, behind);
  ExpectContents(*bg);
}

TEST_F(BlockGroupTest, DropBehindOffOrFailingChangesNothingButTheCache) {
  CacheHintEnv hints(&env_);
  BlockGroupOptions o = Options();
  o.env = &hints;
  o.drop_behind_min_record = 0;
  auto bg = Create({}, o);
  ASSERT_NE(bg, nullptr);
  for (uint64_t id = 1; id <= 20; ++id) Put(bg.get(), id, 1 << 20);
  EXPECT_TRUE(hints.writebacks.empty());
  EXPECT_TRUE(hints.drops.empty());
  ASSERT_TRUE(bg->Close().ok());

  // A failing drop turns drop-behind off for the group; appends go on.
  o.drop_behind_min_record = 1 << 20;
  hints.fail_drops = true;
  auto opened = BlockGroup::Open(dir_.path(), "", BlockGroupId(7), o);
  ASSERT_TRUE(opened.ok());
  bg = std::move(*opened);
  for (uint64_t id = 21; id <= 60; ++id) Put(bg.get(), id, 1 << 20);
  const size_t tried = hints.writebacks.size();
  EXPECT_LE(tried, kDropBehindLagBytes / (1 << 20) + 2) << "no hints after the failure";
  EXPECT_GT(tried, 0u);
  ASSERT_TRUE(bg->Sync().ok());
  ExpectContents(*bg);
}

TEST_F(BlockGroupTest, LargeReadsAskTheKernelForTheWholeRecordFirst) {
  CacheHintEnv hints(&env_);
  BlockGroupOptions o = Options();
  o.env = &hints;
  o.will_need_min_read = 64 << 10;
  auto bg = Create({}, o);
  ASSERT_NE(bg, nullptr);
  Put(bg.get(), 1, 4096);
  NeedleLocation large = Put(bg.get(), 2, 1 << 20);
  Put(bg.get(), 3, 1000);
  ExpectContents(*bg);  // reads every needle, checking its bytes
  // The large one alone, from its record's start to its end (the padding
  // after it is not read).
  ASSERT_EQ(hints.will_needs.size(), 1u);
  EXPECT_EQ(hints.will_needs[0].first, large.offset);
  EXPECT_EQ(hints.will_needs[0].second, NeedleReadSize(large.size));
  EXPECT_LE(large.record_bytes - hints.will_needs[0].second, kNeedleAlignment);
  ASSERT_TRUE(bg->Close().ok());

  // 0 turns the hint off.
  hints.will_needs.clear();
  o.will_need_min_read = 0;
  auto opened = BlockGroup::Open(dir_.path(), "", BlockGroupId(7), o);
  ASSERT_TRUE(opened.ok());
  ExpectContents(**opened);
  EXPECT_TRUE(hints.will_needs.empty());
}

TEST_F(BlockGroupTest, AGivenChecksumWritesTheSameRecord) {
  auto bg = Create();
  std::string data = Payload(1, 5000);
  NeedleView n{.cookie = CookieFor(1), .id = NeedleId(1), .data = data};
  auto a = bg->Append(n);
  ASSERT_TRUE(a.ok());
  n.id = NeedleId(2);
  auto b = bg->Append(n, NeedleChecksum(data));
  ASSERT_TRUE(b.ok());
  std::string ra(a->record_bytes, '\0'), rb(b->record_bytes, '\0');
  auto dat = Env::Default()->Open(DatPath(), OpenMode::kRead);
  ASSERT_TRUE(dat.ok());
  ASSERT_TRUE(ReadExact(**dat, a->offset, ra).ok());
  ASSERT_TRUE(ReadExact(**dat, b->offset, rb).ok());
  auto da = DecodeNeedle(ra), db = DecodeNeedle(rb);
  ASSERT_TRUE(da.ok() && db.ok());
  EXPECT_EQ(da->checksum, db->checksum);
  EXPECT_EQ(da->data, db->data);
  EXPECT_EQ(ra.size(), rb.size());
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(2), CookieFor(1), &buf).ok());
}

TEST_F(BlockGroupTest, FailedSyncFailsEveryWaiterAndEveryLaterSyncAndTurnsReadOnly) {
  auto bg = Create();
  Put(bg.get(), 1, 100);
  ASSERT_TRUE(bg->Sync().ok());
  Put(bg.get(), 2, 100);
  env_.FailNextSync(".dat");
  Status s = bg->Sync();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("fsync failed"), std::string::npos);
  // The page cache may have dropped the pages: a later fsync "succeeding"
  // proves nothing, so it must not be reported as durable.
  EXPECT_FALSE(bg->Sync().ok());
  std::string data = "x";
  EXPECT_TRUE(bg->Append(NeedleView{.cookie = Cookie(1), .id = NeedleId(4), .data = data}).status().Is(Code::kReadOnly));
  EXPECT_TRUE(bg->Stats().read_only);
  ExpectContents(*bg);  // reads go on
}

TEST_F(BlockGroupTest, FailedWriteLeavesNothingBehind) {
  auto bg = Create();
  Put(bg.get(), 1, 100);
  env_.FailNextWrite(".idx");
  std::string data = Payload(2, 100);
  auto r = bg->Append(NeedleView{.cookie = CookieFor(2), .id = NeedleId(2), .data = data});
  ASSERT_FALSE(r.ok());
  std::string buf;
  EXPECT_TRUE(bg->Read(NeedleId(2), CookieFor(2), &buf).status().Is(Code::kNotFound));
  env_.TearNextWrite(20, ".dat");
  EXPECT_FALSE(bg->Append(NeedleView{.cookie = CookieFor(2), .id = NeedleId(2), .data = data}).ok());
  Put(bg.get(), 3, 100);
  ExpectContents(*bg);
  ASSERT_TRUE(bg->Close().ok());
  auto report = ScrubDat(Env::Default(), DatPath(), IdxPath());
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean()) << report->problems.front().message;
  EXPECT_EQ(report->needles, 2u);
}

TEST_F(BlockGroupTest, ConcurrentWritersAndReadersSeeConsistentNeedles) {
  auto bg = Create();
  constexpr int kPerWriter = 500;
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> read_errors{0};
  auto writer = [&](uint64_t base) {
    for (uint64_t i = 0; i < kPerWriter; ++i) {
      uint64_t id = base + i;
      std::string data = Payload(id, 64 + id % 500);
      ASSERT_TRUE(bg->Append(NeedleView{.cookie = CookieFor(id), .id = NeedleId(id), .data = data}).ok());
    }
  };
  auto reader = [&] {
    std::string buf;
    while (!stop) {
      for (uint64_t id : {uint64_t{1}, uint64_t{100001}}) {
        auto n = bg->Read(NeedleId(id), CookieFor(id), &buf);
        if (n.ok() && n->data != Payload(id, 64 + id % 500)) read_errors++;
        if (!n.ok() && !n.status().Is(Code::kNotFound)) read_errors++;
      }
    }
  };
  std::thread r1(reader), r2(reader);
  std::thread w1(writer, 1), w2(writer, 100001);
  w1.join();
  w2.join();
  stop = true;
  r1.join();
  r2.join();
  EXPECT_EQ(read_errors, 0u);
  for (uint64_t base : {uint64_t{1}, uint64_t{100001}}) {
    for (uint64_t i = 0; i < kPerWriter; ++i) live_[base + i] = Payload(base + i, 64 + (base + i) % 500);
  }
  ExpectContents(*bg);
}

}  // namespace
}  // namespace cfs::datanode
