#include "datanode/superblock.h"

#include <gtest/gtest.h>

#include <string>

namespace cfs::datanode {
namespace {

std::string Bytes(std::initializer_list<uint8_t> b) { return std::string(b.begin(), b.end()); }

TEST(SuperBlockTest, EncodesTheEightByteLayout) {
  SuperBlock sb;
  sb.placement = ReplicaPlacement{1, 2, 3};
  sb.ttl = Ttl{5, TtlUnit::kDay};
  sb.compaction_revision = 0x0102;
  EXPECT_EQ(sb.Encode(), Bytes({3, 123, 5, 3, 0x01, 0x02, 0, 0}));
  EXPECT_EQ(sb.BlockSize(), kSuperBlockSize);
}

TEST(SuperBlockTest, PlacementByteIsXTimes100PlusYTimes10PlusZ) {
  for (uint8_t x = 0; x <= 2; ++x) {
    for (uint8_t y = 0; y <= 9; ++y) {
      for (uint8_t z = 0; z <= 9; ++z) {
        if (x * 100 + y * 10 + z > 255) continue;
        SuperBlock sb;
        sb.placement = ReplicaPlacement{x, y, z};
        std::string raw = sb.Encode();
        ASSERT_EQ(static_cast<uint8_t>(raw[1]), x * 100 + y * 10 + z);
        auto got = SuperBlock::Decode(raw);
        ASSERT_TRUE(got.ok()) << got.status().ToString();
        EXPECT_EQ(got->placement, sb.placement);
      }
    }
  }
}

TEST(SuperBlockTest, RoundTrips) {
  SuperBlock sb;
  sb.placement = ReplicaPlacement{0, 1, 0};
  sb.ttl = Ttl{200, TtlUnit::kYear};
  sb.compaction_revision = 0xFFFE;
  auto got = SuperBlock::Decode(sb.Encode());
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->version, kNeedleVersion3);
  EXPECT_EQ(got->placement, sb.placement);
  EXPECT_EQ(got->ttl, sb.ttl);
  EXPECT_EQ(got->compaction_revision, 0xFFFE);
  EXPECT_TRUE(got->extra.empty());
  EXPECT_EQ(got->BlockSize(), 8u);
}

TEST(SuperBlockTest, CompactionRevisionIsBigEndianU16) {
  auto got = SuperBlock::Decode(Bytes({3, 0, 0, 0, 0xAB, 0xCD, 0, 0}));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->compaction_revision, 0xABCD);
}

TEST(SuperBlockTest, DecodesSeaweedFsEmptyVolumeSuperBlock) {
  // empty_volume.dat from the SeaweedFS test suite: v3, replication 002.
  auto got = SuperBlock::Decode(Bytes({0x03, 0x02, 0, 0, 0, 0, 0, 0}));
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->placement, (ReplicaPlacement{0, 0, 2}));
  EXPECT_EQ(got->placement.ToString(), "002");
  EXPECT_TRUE(got->ttl.empty());
  EXPECT_EQ(got->compaction_revision, 0);
}

TEST(SuperBlockTest, TtlBytesAreCountThenUnit) {
  for (uint8_t unit = 1; unit <= 6; ++unit) {
    auto got = SuperBlock::Decode(Bytes({3, 0, 9, unit, 0, 0, 0, 0}));
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->ttl, (Ttl{9, static_cast<TtlUnit>(unit)}));
    EXPECT_EQ(got->Encode(), Bytes({3, 0, 9, unit, 0, 0, 0, 0}));
  }
  // A unit of 0 means no ttl, whatever the count.
  auto none = SuperBlock::Decode(Bytes({3, 0, 9, 0, 0, 0, 0, 0}));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->ttl.empty());
}

TEST(SuperBlockTest, VersionTwoIsNotSupported) {
  auto got = SuperBlock::Decode(Bytes({2, 0, 0, 0, 0, 0, 0, 0}));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotSupported);
  EXPECT_NE(got.status().message().find("version 2"), std::string::npos) << got.status().message();
}

TEST(SuperBlockTest, VersionsOtherThanThreeAreNotSupported) {
  for (uint8_t v : {0, 1, 4, 255}) {
    auto got = SuperBlock::Decode(Bytes({v, 0, 0, 0, 0, 0, 0, 0}));
    ASSERT_FALSE(got.ok()) << int{v};
    EXPECT_EQ(got.status().code(), Code::kNotSupported) << int{v};
  }
}

TEST(SuperBlockTest, ShortInputIsCorruption) {
  const std::string good = SuperBlock{}.Encode();
  for (size_t len = 0; len < kSuperBlockSize; ++len) {
    auto got = SuperBlock::Decode(good.substr(0, len));
    ASSERT_FALSE(got.ok()) << len;
    EXPECT_EQ(got.status().code(), Code::kCorruption) << len;
  }
}

TEST(SuperBlockTest, BadTtlUnitByteIsCorruption) {
  for (uint8_t unit : {7, 8, 0x80, 0xFF}) {
    auto got = SuperBlock::Decode(Bytes({3, 0, 1, unit, 0, 0, 0, 0}));
    ASSERT_FALSE(got.ok()) << int{unit};
    EXPECT_EQ(got.status().code(), Code::kCorruption) << int{unit};
  }
}

TEST(SuperBlockTest, ExtraBytesAreKeptAndMoveTheFirstNeedle) {
  SuperBlock sb;
  sb.extra = "12345678";
  std::string raw = sb.Encode();
  ASSERT_EQ(raw.size(), 16u);
  EXPECT_EQ(raw.substr(6, 2), Bytes({0, 8}));
  uint16_t extra_size = 0;
  auto got = SuperBlock::Decode(raw, &extra_size);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(extra_size, 8);
  EXPECT_EQ(got->extra, "12345678");
  EXPECT_EQ(got->BlockSize(), 16u);
}

TEST(SuperBlockTest, DecodeOfTheFirstEightBytesReportsTheExtraSize) {
  SuperBlock sb;
  sb.extra = std::string(16, 'e');
  std::string raw = sb.Encode();
  uint16_t extra_size = 0;
  auto got = SuperBlock::Decode(std::string_view(raw).substr(0, kSuperBlockSize), &extra_size);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(extra_size, 16);
  EXPECT_TRUE(got->extra.empty());  // the caller reads the rest and decodes again
}

TEST(SuperBlockTest, ExtraSizeThatWouldMisalignNeedlesIsRefused) {
  auto got = SuperBlock::Decode(Bytes({3, 0, 0, 0, 0, 0, 0, 5}));
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), Code::kNotSupported);
}

}  // namespace
}  // namespace cfs::datanode
