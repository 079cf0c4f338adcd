#include "metanode/extents.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <tuple>

#include "proto/extents_digest.h"

namespace cfs::metanode {
namespace {

Extent E(uint64_t offset, uint32_t length, uint64_t needle, uint32_t needle_offset = 0) {
  Extent e;
  e.file_offset = offset;
  e.length = length;
  e.block_group = 1;
  e.needle_id = needle;
  e.cookie = 9;
  e.needle_offset = needle_offset;
  e.needle_size = needle_offset + length;
  return e;
}

// (offset, length, needle, needle_offset) of each extent.
std::vector<std::tuple<uint64_t, uint32_t, uint64_t, uint32_t>> Shape(const std::vector<Extent>& es) {
  std::vector<std::tuple<uint64_t, uint32_t, uint64_t, uint32_t>> out;
  for (const Extent& e : es) out.emplace_back(e.file_offset, e.length, e.needle_id, e.needle_offset);
  return out;
}

std::vector<uint64_t> Needles(const std::vector<Extent>& es) {
  std::vector<uint64_t> out;
  for (const Extent& e : es) out.push_back(e.needle_id);
  return out;
}

TEST(ExtentsTest, AppendsInOrderKeepEveryExtent) {
  std::vector<Extent> es;
  std::vector<Extent> dropped;
  OverlayExtent(&es, E(0, 100, 1), &dropped);
  OverlayExtent(&es, E(100, 100, 2), &dropped);
  OverlayExtent(&es, E(300, 50, 3), &dropped);  // a hole at [200, 300)
  EXPECT_EQ(Shape(es), (decltype(Shape(es)){{0, 100, 1, 0}, {100, 100, 2, 0}, {300, 50, 3, 0}}));
  EXPECT_TRUE(dropped.empty());
}

TEST(ExtentsTest, WriteInTheMiddleSplitsTheExtentAndKeepsItsNeedle) {
  std::vector<Extent> es{E(0, 100, 1)};
  std::vector<Extent> dropped;
  OverlayExtent(&es, E(40, 20, 2), &dropped);
  EXPECT_EQ(Shape(es), (decltype(Shape(es)){{0, 40, 1, 0}, {40, 20, 2, 0}, {60, 40, 1, 60}}));
  EXPECT_TRUE(dropped.empty()) << "needle 1 is still referenced by both pieces";
}

TEST(ExtentsTest, CoveringWriteDropsEveryHiddenNeedleOnce) {
  std::vector<Extent> es{E(0, 100, 1), E(100, 100, 2), E(200, 100, 3)};
  std::vector<Extent> dropped;
  OverlayExtent(&es, E(50, 200, 4), &dropped);
  EXPECT_EQ(Shape(es), (decltype(Shape(es)){{0, 50, 1, 0}, {50, 200, 4, 0}, {250, 50, 3, 50}}));
  EXPECT_EQ(Needles(dropped), std::vector<uint64_t>{2});
}

TEST(ExtentsTest, RewritingTheSameRangeDoesNotGrowTheList) {
  std::vector<Extent> es;
  std::vector<Extent> dropped;
  for (uint64_t n = 1; n <= 100; ++n) OverlayExtent(&es, E(0, 4096, n), &dropped);
  ASSERT_EQ(es.size(), 1u);
  EXPECT_EQ(es[0].needle_id, 100u);
  EXPECT_EQ(dropped.size(), 99u);
}

TEST(ExtentsTest, ExactOverwriteAndEdgesTouchingDoNotCut) {
  std::vector<Extent> es{E(0, 100, 1), E(100, 100, 2)};
  std::vector<Extent> dropped;
  OverlayExtent(&es, E(100, 100, 3), &dropped);
  EXPECT_EQ(Shape(es), (decltype(Shape(es)){{0, 100, 1, 0}, {100, 100, 3, 0}}));
  EXPECT_EQ(Needles(dropped), std::vector<uint64_t>{2});
}

TEST(ExtentsTest, TruncateCutsInsideAnExtentAndDropsWhatIsPast) {
  std::vector<Extent> es{E(0, 100, 1), E(100, 100, 2), E(300, 100, 3)};
  std::vector<Extent> dropped;
  TruncateExtents(&es, 150, &dropped);
  EXPECT_EQ(Shape(es), (decltype(Shape(es)){{0, 100, 1, 0}, {100, 50, 2, 0}}));
  EXPECT_EQ(Needles(dropped), std::vector<uint64_t>{3});
  TruncateExtents(&es, 0, &dropped);
  EXPECT_TRUE(es.empty());
  EXPECT_EQ(Needles(dropped), (std::vector<uint64_t>{3, 1, 2}));
}

TEST(ExtentsTest, TruncateAtAnExtentBoundaryKeepsItWhole) {
  std::vector<Extent> es{E(0, 100, 1), E(100, 100, 2)};
  std::vector<Extent> dropped;
  TruncateExtents(&es, 100, &dropped);
  EXPECT_EQ(Shape(es), (decltype(Shape(es)){{0, 100, 1, 0}}));
  EXPECT_EQ(Needles(dropped), std::vector<uint64_t>{2});
  TruncateExtents(&es, 500, &dropped);  // growing is not this function's business
  EXPECT_EQ(es.size(), 1u);
}

TEST(ExtentsTest, AllNeedlesListsEachNeedleOnce) {
  std::vector<Extent> es{E(0, 40, 1), E(40, 20, 2), E(60, 40, 1, 60)};
  std::vector<Extent> out;
  AllNeedles(es, &out);
  EXPECT_EQ(Needles(out), (std::vector<uint64_t>{1, 2}));
}

TEST(ExtentsTest, ValidateRefusesBadExtents) {
  EXPECT_TRUE(ValidateExtent(E(0, 10, 1)).ok());
  EXPECT_TRUE(ValidateExtent(E(0, 0, 1)).Is(Code::kInvalidArgument));
  Extent past = E(0, 10, 1);
  past.needle_size = 5;
  EXPECT_TRUE(ValidateExtent(past).Is(Code::kInvalidArgument));
  EXPECT_TRUE(ValidateExtent(E(kMaxFileSize - 5, 10, 1)).Is(Code::kTooLarge));
  EXPECT_TRUE(ValidateExtent(E(0, 10, 0)).Is(Code::kInvalidArgument));
}

// A client digests GetExtents' answer, the metanode its own list: the two
// must agree, and any change of a field must change them.
TEST(ExtentsTest, DigestIsTheSameOnTheProtoFormAndChangesWithTheList) {
  std::vector<Extent> es{E(0, 10, 1), E(10, 5, 2, 3), E(40, 7, 9)};
  google::protobuf::RepeatedPtrField<proto::Extent> wire;
  for (const Extent& e : es) ExtentToProto(e, wire.Add());
  EXPECT_EQ(DigestOf(es), proto::DigestOf(wire));
  const uint64_t before = DigestOf(es);
  es[1].needle_offset = 4;
  EXPECT_NE(DigestOf(es), before);
  es.pop_back();
  EXPECT_NE(DigestOf(es), before);
}

// `es` is sorted and disjoint and shows, byte by byte, the needle `model`
// says at the needle offset `model_off` says; each of needles 1..needles
// is either visible or in `dropped_ids`.
void ExpectMatchesModel(const std::vector<Extent>& es, const std::vector<uint64_t>& model,
                        const std::vector<uint64_t>& model_off, const std::set<uint64_t>& dropped_ids,
                        uint64_t needles) {
  std::vector<uint64_t> seen(model.size(), 0), seen_off(model.size(), 0);
  uint64_t last_end = 0;
  for (const Extent& e : es) {
    ASSERT_GE(e.file_offset, last_end) << "overlapping or unsorted";
    last_end = e.end();
    for (uint64_t i = e.file_offset; i < e.end(); ++i) {
      seen[i] = e.needle_id;
      seen_off[i] = e.needle_offset + (i - e.file_offset);
    }
  }
  EXPECT_EQ(seen, model);
  EXPECT_EQ(seen_off, model_off);
  for (uint64_t n = 1; n <= needles; ++n) {
    const bool visible = std::count(model.begin(), model.end(), n) > 0;
    EXPECT_NE(visible, dropped_ids.contains(n)) << "needle " << n;
  }
}

// Random overlays against a byte map of which needle shows at each offset.
TEST(ExtentsTest, RandomOverlaysMatchAByteModel) {
  std::mt19937 rng(7);
  std::vector<Extent> es;
  std::vector<uint64_t> model(2000, 0);  // needle id at each byte, 0 = hole
  std::vector<uint64_t> model_off(2000, 0);
  std::set<uint64_t> dropped_ids;
  for (uint64_t n = 1; n <= 500; ++n) {
    const uint64_t off = rng() % 1900;
    const uint32_t len = 1 + rng() % 100;
    std::vector<Extent> dropped;
    OverlayExtent(&es, E(off, len, n), &dropped);
    for (uint64_t i = off; i < off + len; ++i) {
      model[i] = n;
      model_off[i] = i - off;
    }
    for (const Extent& d : dropped) {
      EXPECT_TRUE(dropped_ids.insert(d.needle_id).second) << "needle dropped twice";
      EXPECT_EQ(std::count(model.begin(), model.end(), d.needle_id), 0) << "dropped while visible";
    }
  }
  ExpectMatchesModel(es, model, model_off, dropped_ids, 500);
}

// Batches as a client sends them: several pieces packed in one needle (at
// increasing needle offsets), overlapping each other and what was there.
TEST(ExtentsTest, RandomBatchesOfPackedPiecesMatchAByteModel) {
  std::mt19937 rng(11);
  std::vector<Extent> es;
  constexpr uint64_t kSize = 5000;
  std::vector<uint64_t> model(kSize, 0), model_off(kSize, 0);
  std::set<uint64_t> dropped_ids;
  uint64_t needles = 0;
  for (int round = 0; round < 300; ++round) {
    const uint64_t needle = ++needles;
    std::vector<Extent> batch;
    uint32_t packed = 0;
    const int pieces = 1 + static_cast<int>(rng() % 40);
    for (int k = 0; k < pieces; ++k) {
      const uint64_t off = rng() % (kSize - 200);
      const uint32_t len = 1 + rng() % 150;
      Extent e = E(off, len, needle, packed);
      packed += len;
      batch.push_back(e);
      for (uint64_t i = off; i < off + len; ++i) {
        model[i] = needle;
        model_off[i] = e.needle_offset + (i - off);
      }
    }
    for (Extent& e : batch) e.needle_size = packed;
    std::vector<Extent> dropped;
    OverlayExtents(&es, batch, &dropped);
    for (const Extent& d : dropped) {
      EXPECT_TRUE(dropped_ids.insert(d.needle_id).second) << "needle dropped twice";
      EXPECT_EQ(std::count(model.begin(), model.end(), d.needle_id), 0) << "dropped while visible";
    }
  }
  ExpectMatchesModel(es, model, model_off, dropped_ids, needles);
}

}  // namespace
}  // namespace cfs::metanode
