#include "datanode/needle_map.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "datanode/needle.h"

namespace cfs::datanode {
namespace {

constexpr uint64_t kSegment = 1 << 15;  // NeedleMap's segment capacity

NeedleValue Live(uint32_t offset_units, uint32_t size) { return NeedleValue{offset_units, size}; }

// Checks the counters against a model: id -> size (nullopt: deleted).
void ExpectAccounting(const NeedleMap& map, const std::map<uint64_t, std::optional<uint32_t>>& model) {
  uint64_t live = 0, deleted = 0, bytes = 0;
  for (const auto& [id, size] : model) {
    if (size) {
      ++live;
      bytes += NeedleRecordSize(*size);
    } else {
      ++deleted;
    }
  }
  EXPECT_EQ(map.live_count(), live);
  EXPECT_EQ(map.deleted_count(), deleted);
  EXPECT_EQ(map.live_bytes(), bytes);
}

std::vector<std::pair<uint64_t, NeedleValue>> LiveEntries(const NeedleMap& map) {
  std::vector<std::pair<uint64_t, NeedleValue>> out;
  map.ForEachLive([&](NeedleId id, NeedleValue v) { out.emplace_back(id.value(), v); });
  return out;
}

TEST(NeedleMapTest, EmptyMapFindsNothing) {
  NeedleMap map;
  EXPECT_FALSE(map.Get(NeedleId(0)).has_value());
  EXPECT_FALSE(map.Get(NeedleId(1)).has_value());
  EXPECT_FALSE(map.Delete(NeedleId(1)).has_value());
  EXPECT_EQ(map.live_count(), 0u);
  EXPECT_EQ(map.deleted_count(), 0u);
  EXPECT_EQ(map.live_bytes(), 0u);
  EXPECT_TRUE(LiveEntries(map).empty());
}

TEST(NeedleMapTest, SetThenGet) {
  NeedleMap map;
  EXPECT_FALSE(map.Set(NeedleId(10), Live(1, 100)).has_value());
  auto got = map.Get(NeedleId(10));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->offset_units, 1u);
  EXPECT_EQ(got->size, 100u);
  EXPECT_FALSE(got->deleted());
  EXPECT_FALSE(map.Get(NeedleId(9)).has_value());
  EXPECT_FALSE(map.Get(NeedleId(11)).has_value());
  EXPECT_EQ(map.max_id(), NeedleId(10));
}

TEST(NeedleMapTest, NeedleIdZeroIsAnOrdinaryId) {
  NeedleMap map;
  map.Set(NeedleId(0), Live(1, 5));
  ASSERT_TRUE(map.Get(NeedleId(0)).has_value());
  EXPECT_EQ(map.Get(NeedleId(0))->size, 5u);
  EXPECT_EQ(map.live_count(), 1u);
  ASSERT_TRUE(map.Delete(NeedleId(0)).has_value());
  EXPECT_TRUE(map.Get(NeedleId(0))->deleted());
}

TEST(NeedleMapTest, SetOfALiveNeedleReplacesItAndReturnsTheOldValue) {
  NeedleMap map;
  map.Set(NeedleId(1), Live(1, 100));
  map.Set(NeedleId(2), Live(20, 200));
  auto old = map.Set(NeedleId(1), Live(50, 300));
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->offset_units, 1u);
  EXPECT_EQ(old->size, 100u);
  EXPECT_EQ(map.Get(NeedleId(1))->offset_units, 50u);
  EXPECT_EQ(map.Get(NeedleId(1))->size, 300u);
  EXPECT_EQ(map.live_count(), 2u);
  EXPECT_EQ(map.live_bytes(), NeedleRecordSize(300) + NeedleRecordSize(200));
}

TEST(NeedleMapTest, DeleteMarksTheEntryAndReturnsTheLiveValue) {
  NeedleMap map;
  map.Set(NeedleId(1), Live(1, 100));
  map.Set(NeedleId(2), Live(20, 200));
  auto old = map.Delete(NeedleId(1));
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->offset_units, 1u);
  EXPECT_EQ(old->size, 100u);
  auto got = map.Get(NeedleId(1));
  ASSERT_TRUE(got.has_value());  // deleted entries stay until Compact
  EXPECT_TRUE(got->deleted());
  EXPECT_EQ(got->size, kTombstoneSize);
  EXPECT_EQ(map.live_count(), 1u);
  EXPECT_EQ(map.deleted_count(), 1u);
  EXPECT_EQ(map.live_bytes(), NeedleRecordSize(200));
}

TEST(NeedleMapTest, DeleteOfAMissingIdChangesNothing) {
  NeedleMap map;
  map.Set(NeedleId(5), Live(1, 10));
  map.Set(NeedleId(9), Live(3, 10));
  for (uint64_t id : {0, 1, 6, 7, 8, 10, 1000}) {
    EXPECT_FALSE(map.Delete(NeedleId(id)).has_value()) << id;
    EXPECT_FALSE(map.Get(NeedleId(id)).has_value()) << id;
  }
  EXPECT_EQ(map.live_count(), 2u);
  EXPECT_EQ(map.deleted_count(), 0u);
  EXPECT_EQ(map.live_bytes(), 2 * NeedleRecordSize(10));
}

TEST(NeedleMapTest, DeleteOfAnAlreadyDeletedIdChangesNothing) {
  NeedleMap map;
  map.Set(NeedleId(5), Live(1, 10));
  ASSERT_TRUE(map.Delete(NeedleId(5)).has_value());
  EXPECT_FALSE(map.Delete(NeedleId(5)).has_value());
  EXPECT_EQ(map.live_count(), 0u);
  EXPECT_EQ(map.deleted_count(), 1u);
  EXPECT_EQ(map.live_bytes(), 0u);
}

TEST(NeedleMapTest, SetRevivesADeletedNeedle) {
  NeedleMap map;
  map.Set(NeedleId(5), Live(1, 10));
  map.Delete(NeedleId(5));
  auto old = map.Set(NeedleId(5), Live(9, 30));
  ASSERT_TRUE(old.has_value());
  EXPECT_TRUE(old->deleted());
  EXPECT_EQ(map.Get(NeedleId(5))->size, 30u);
  EXPECT_EQ(map.live_count(), 1u);
  EXPECT_EQ(map.deleted_count(), 0u);
  EXPECT_EQ(map.live_bytes(), NeedleRecordSize(30));
}

TEST(NeedleMapTest, SetOfADeletedValueCountsAsDeleted) {
  // .idx replay may set a tombstone directly.
  NeedleMap map;
  map.Set(NeedleId(5), NeedleValue{4, kTombstoneSize});
  EXPECT_TRUE(map.Get(NeedleId(5))->deleted());
  EXPECT_EQ(map.live_count(), 0u);
  EXPECT_EQ(map.deleted_count(), 1u);
  EXPECT_EQ(map.live_bytes(), 0u);
  EXPECT_TRUE(LiveEntries(map).empty());
}

TEST(NeedleMapTest, OutOfOrderIdsAreFoundReplacedAndDeleted) {
  NeedleMap map;
  map.Set(NeedleId(100), Live(1, 1));
  map.Set(NeedleId(200), Live(2, 2));
  map.Set(NeedleId(300), Live(3, 3));
  // Below the largest id and absent: the overflow.
  map.Set(NeedleId(150), Live(4, 4));
  map.Set(NeedleId(50), Live(5, 5));
  map.Set(NeedleId(250), Live(6, 6));
  EXPECT_EQ(map.max_id(), NeedleId(300));
  for (auto [id, size] : std::vector<std::pair<uint64_t, uint32_t>>{{50, 5}, {100, 1}, {150, 4}, {200, 2}, {250, 6}, {300, 3}}) {
    auto got = map.Get(NeedleId(id));
    ASSERT_TRUE(got.has_value()) << id;
    EXPECT_EQ(got->size, size) << id;
  }
  EXPECT_FALSE(map.Get(NeedleId(151)).has_value());
  EXPECT_FALSE(map.Get(NeedleId(49)).has_value());

  auto old = map.Set(NeedleId(150), Live(7, 40));
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->size, 4u);
  EXPECT_EQ(map.Get(NeedleId(150))->size, 40u);
  ASSERT_TRUE(map.Delete(NeedleId(50)).has_value());
  EXPECT_TRUE(map.Get(NeedleId(50))->deleted());
  EXPECT_FALSE(map.Delete(NeedleId(50)).has_value());
  EXPECT_EQ(map.live_count(), 5u);
  EXPECT_EQ(map.deleted_count(), 1u);
  EXPECT_EQ(map.live_bytes(), NeedleRecordSize(1) + NeedleRecordSize(2) + NeedleRecordSize(3) + NeedleRecordSize(40) +
                                  NeedleRecordSize(6));
}

TEST(NeedleMapTest, IdsAcrossManySegmentsAreAllFound) {
  NeedleMap map;
  const uint64_t n = 3 * kSegment + 1234;  // four segments, the last partly full
  for (uint64_t i = 0; i < n; ++i) map.Set(NeedleId(i * 3 + 10), Live(static_cast<uint32_t>(i + 1), static_cast<uint32_t>(i % 1000 + 1)));
  EXPECT_EQ(map.live_count(), n);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id = i * 3 + 10;
    auto got = map.Get(NeedleId(id));
    ASSERT_TRUE(got.has_value()) << id;
    ASSERT_EQ(got->offset_units, i + 1) << id;
    ASSERT_FALSE(map.Get(NeedleId(id + 1)).has_value()) << id + 1;
    ASSERT_FALSE(map.Get(NeedleId(id + 2)).has_value()) << id + 2;
  }
  EXPECT_FALSE(map.Get(NeedleId(9)).has_value());
  EXPECT_FALSE(map.Get(NeedleId(0)).has_value());
  EXPECT_FALSE(map.Get(NeedleId(n * 3 + 10)).has_value());
  // Ids at the segment boundaries.
  for (uint64_t seg = 1; seg <= 3; ++seg) {
    for (uint64_t i : {seg * kSegment - 1, seg * kSegment}) {
      uint64_t id = i * 3 + 10;
      ASSERT_TRUE(map.Get(NeedleId(id)).has_value()) << id;
      ASSERT_TRUE(map.Delete(NeedleId(id)).has_value()) << id;
      EXPECT_TRUE(map.Get(NeedleId(id))->deleted()) << id;
    }
  }
  EXPECT_EQ(map.deleted_count(), 6u);
  EXPECT_EQ(map.live_count(), n - 6);
  // Gaps between segments take out-of-order ids.
  uint64_t gap = (2 * kSegment) * 3 + 10 - 1;
  EXPECT_FALSE(map.Set(NeedleId(gap), Live(7, 7)).has_value());
  EXPECT_EQ(map.Get(NeedleId(gap))->size, 7u);
}

TEST(NeedleMapTest, AccountingFollowsARandomHistory) {
  NeedleMap map;
  std::map<uint64_t, std::optional<uint32_t>> model;
  std::mt19937_64 rng(7);
  uint64_t next_id = 1;
  for (int step = 0; step < 20000; ++step) {
    int op = static_cast<int>(rng() % 10);
    if (op < 5 || model.empty()) {  // a new id, mostly rising
      uint64_t id = rng() % 8 == 0 && next_id > 10 ? rng() % next_id : next_id++;
      uint32_t size = static_cast<uint32_t>(rng() % 5000 + 1);
      auto old = map.Set(NeedleId(id), Live(static_cast<uint32_t>(step + 1), size));
      auto it = model.find(id);
      EXPECT_EQ(old.has_value(), it != model.end()) << id;
      model[id] = size;
    } else {
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % model.size()));
      uint64_t id = it->first;
      if (op < 8) {
        auto old = map.Delete(NeedleId(id));
        EXPECT_EQ(old.has_value(), it->second.has_value()) << id;
        if (old && it->second) {
          EXPECT_EQ(old->size, *it->second);
        }
        it->second.reset();
      } else {
        uint32_t size = static_cast<uint32_t>(rng() % 5000 + 1);
        map.Set(NeedleId(id), Live(1, size));
        it->second = size;
      }
    }
  }
  ExpectAccounting(map, model);
  for (const auto& [id, size] : model) {
    auto got = map.Get(NeedleId(id));
    ASSERT_TRUE(got.has_value()) << id;
    if (size) {
      EXPECT_EQ(got->size, *size) << id;
    } else {
      EXPECT_TRUE(got->deleted()) << id;
    }
  }
  // Compact keeps the live ones exactly.
  map.Compact();
  std::erase_if(model, [](const auto& kv) { return !kv.second.has_value(); });
  ExpectAccounting(map, model);
  auto live = LiveEntries(map);
  ASSERT_EQ(live.size(), model.size());
  auto it = model.begin();
  for (const auto& [id, v] : live) {
    EXPECT_EQ(id, it->first);
    EXPECT_EQ(v.size, *it->second);
    ++it;
  }
}

TEST(NeedleMapTest, CompactDropsDeletedEntriesAndKeepsAllLiveOnes) {
  NeedleMap map;
  const uint64_t n = 2 * kSegment + 500;
  for (uint64_t id = 1; id <= n; ++id) map.Set(NeedleId(id * 2), Live(static_cast<uint32_t>(id), static_cast<uint32_t>(id % 97 + 1)));
  map.Set(NeedleId(3), Live(5, 5));  // overflow
  map.Set(NeedleId(7), Live(6, 6));  // overflow, deleted below
  map.Delete(NeedleId(7));
  for (uint64_t id = 1; id <= n; ++id) {
    if (id % 4 != 0) map.Delete(NeedleId(id * 2));
  }
  const uint64_t live_before = map.live_count();
  const uint64_t bytes_before = map.live_bytes();
  const size_t memory_before = map.MemoryBytes();
  auto live_list_before = LiveEntries(map);

  map.Compact();
  EXPECT_EQ(map.live_count(), live_before);
  EXPECT_EQ(map.live_bytes(), bytes_before);
  EXPECT_EQ(map.deleted_count(), 0u);
  EXPECT_LT(map.MemoryBytes(), memory_before);
  EXPECT_FALSE(map.Get(NeedleId(7)).has_value());
  EXPECT_FALSE(map.Get(NeedleId(2)).has_value());
  ASSERT_TRUE(map.Get(NeedleId(3)).has_value());
  EXPECT_EQ(map.Get(NeedleId(3))->offset_units, 5u);
  for (uint64_t id = 4; id <= n; id += 4) {
    auto got = map.Get(NeedleId(id * 2));
    ASSERT_TRUE(got.has_value()) << id * 2;
    EXPECT_EQ(got->offset_units, id);
  }
  // Same live set, now in id order throughout.
  auto live_list = LiveEntries(map);
  std::sort(live_list_before.begin(), live_list_before.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  ASSERT_EQ(live_list.size(), live_list_before.size());
  for (size_t i = 0; i < live_list.size(); ++i) {
    EXPECT_EQ(live_list[i].first, live_list_before[i].first);
    EXPECT_EQ(live_list[i].second.offset_units, live_list_before[i].second.offset_units);
    EXPECT_EQ(live_list[i].second.size, live_list_before[i].second.size);
  }
  // The map goes on working after a compaction.
  map.Set(NeedleId(n * 2 + 2), Live(1, 1));
  map.Set(NeedleId(5), Live(2, 2));
  EXPECT_TRUE(map.Get(NeedleId(n * 2 + 2)).has_value());
  EXPECT_TRUE(map.Get(NeedleId(5)).has_value());
  EXPECT_EQ(map.live_count(), live_before + 2);
}

TEST(NeedleMapTest, CompactOfAnAllDeletedMapLeavesItEmptyAndUsable) {
  NeedleMap map;
  for (uint64_t id = 1; id <= 100; ++id) map.Set(NeedleId(id), Live(1, 1));
  for (uint64_t id = 1; id <= 100; ++id) map.Delete(NeedleId(id));
  map.Compact();
  EXPECT_EQ(map.live_count(), 0u);
  EXPECT_EQ(map.deleted_count(), 0u);
  EXPECT_FALSE(map.Get(NeedleId(50)).has_value());
  map.Set(NeedleId(3), Live(1, 1));
  EXPECT_TRUE(map.Get(NeedleId(3)).has_value());
}

TEST(NeedleMapTest, ForEachLiveSkipsDeletedNeedles) {
  NeedleMap map;
  map.Set(NeedleId(10), Live(1, 1));
  map.Set(NeedleId(20), Live(2, 2));
  map.Set(NeedleId(30), Live(3, 3));
  map.Set(NeedleId(15), Live(4, 4));  // overflow
  map.Set(NeedleId(25), Live(5, 5));  // overflow
  map.Delete(NeedleId(20));
  map.Delete(NeedleId(25));
  auto live = LiveEntries(map);
  std::vector<uint64_t> ids;
  for (const auto& [id, v] : live) ids.push_back(id);
  // Segments first, then the overflow, each in id order.
  EXPECT_EQ(ids, (std::vector<uint64_t>{10, 30, 15}));
}

TEST(NeedleMapTest, MovedMapKeepsItsEntries) {
  NeedleMap a;
  a.Set(NeedleId(1), Live(1, 10));
  a.Set(NeedleId(0), Live(2, 20));  // below the largest id: the overflow
  NeedleMap b(std::move(a));
  EXPECT_EQ(b.live_count(), 2u);
  EXPECT_EQ(b.Get(NeedleId(0))->size, 20u);
  NeedleMap c;
  c = std::move(b);
  EXPECT_EQ(c.Get(NeedleId(1))->size, 10u);
  EXPECT_EQ(c.live_bytes(), NeedleRecordSize(10) + NeedleRecordSize(20));
}

size_t HeapInUse() {
  struct mallinfo2 mi = mallinfo2();
  // Large blocks (a segment is 512 KiB) are mmapped and counted in hblkhd,
  // not uordblks: both together are the heap in use.
  return mi.uordblks + mi.hblkhd;
}

TEST(NeedleMapTest, MillionRisingIdsCostAtMost20BytesEach) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "mallinfo2() measures glibc malloc, which AddressSanitizer replaces";
#endif
  constexpr uint64_t kNeedles = 1'000'000;
  const size_t heap_before = HeapInUse();
  size_t heap_after = 0;
  size_t memory_bytes = 0;
  {
    NeedleMap map;
    for (uint64_t i = 1; i <= kNeedles; ++i) {
      map.Set(NeedleId(i * 2), Live(static_cast<uint32_t>(i), static_cast<uint32_t>(i % 4096 + 1)));
    }
    heap_after = HeapInUse();
    memory_bytes = map.MemoryBytes();
    ASSERT_EQ(map.live_count(), kNeedles);
    ASSERT_TRUE(map.Get(NeedleId(kNeedles)).has_value());
    ASSERT_FALSE(map.Get(NeedleId(kNeedles + 1)).has_value());
  }
  const double reported = static_cast<double>(memory_bytes) / kNeedles;
  const double measured = static_cast<double>(heap_after - heap_before) / kNeedles;
  RecordProperty("memory_bytes_per_needle", std::to_string(reported));
  RecordProperty("heap_bytes_per_needle", std::to_string(measured));
  EXPECT_LE(memory_bytes, 20 * kNeedles) << reported << " bytes a needle by MemoryBytes()";
  EXPECT_GE(memory_bytes, 16 * kNeedles) << "MemoryBytes() under-reports: entries are 16 bytes";
  EXPECT_GT(heap_after, heap_before);
  EXPECT_LE(heap_after - heap_before, 20 * kNeedles) << measured << " bytes a needle by mallinfo2()";
  // What MemoryBytes() says is what the heap holds, within a few percent.
  EXPECT_NEAR(measured, reported, 1.0);
}

}  // namespace
}  // namespace cfs::datanode
