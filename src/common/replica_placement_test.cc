#include "common/replica_placement.h"

#include <string>

#include <gtest/gtest.h>

namespace cfs {
namespace {

ReplicaPlacement MustParse(std::string_view s) {
  Result<ReplicaPlacement> r = ReplicaPlacement::Parse(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : ReplicaPlacement{};
}

TEST(ReplicaPlacementTest, ParsesEachDigitIntoItsField) {
  EXPECT_EQ(MustParse("000"), (ReplicaPlacement{0, 0, 0}));
  EXPECT_EQ(MustParse("001"), (ReplicaPlacement{0, 0, 1}));
  EXPECT_EQ(MustParse("010"), (ReplicaPlacement{0, 1, 0}));
  EXPECT_EQ(MustParse("100"), (ReplicaPlacement{1, 0, 0}));
  EXPECT_EQ(MustParse("123"), (ReplicaPlacement{1, 2, 3}));
}

TEST(ReplicaPlacementTest, ParsedFieldsHaveSeaweedFsMeaning) {
  ReplicaPlacement rp = MustParse("210");
  EXPECT_EQ(rp.diff_data_center, 2);
  EXPECT_EQ(rp.diff_rack, 1);
  EXPECT_EQ(rp.same_rack, 0);
}

TEST(ReplicaPlacementTest, EmptyStringMeansNoExtraCopies) {
  EXPECT_EQ(MustParse(""), (ReplicaPlacement{0, 0, 0}));
  EXPECT_EQ(MustParse("").CopyCount(), 1);
}

TEST(ReplicaPlacementTest, RejectsWrongLength) {
  for (std::string_view s : {"0", "01", "1234", "0000", "00000000"}) {
    Result<ReplicaPlacement> r = ReplicaPlacement::Parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
    EXPECT_NE(r.status().message().find(std::string(s)), std::string::npos) << r.status().ToString();
  }
}

TEST(ReplicaPlacementTest, RejectsNonDigits) {
  for (std::string_view s : {"0a1", "a00", "00a", " 01", "-01", "0.1", "01 "}) {
    Result<ReplicaPlacement> r = ReplicaPlacement::Parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
  }
}

TEST(ReplicaPlacementTest, RejectsPlacementWhoseByteWouldOverflow) {
  // The superblock holds x*100 + y*10 + z in one byte; "256" and "999" would
  // wrap to another placement.
  for (std::string_view s : {"256", "260", "300", "999"}) {
    Result<ReplicaPlacement> r = ReplicaPlacement::Parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
  }
  EXPECT_EQ(MustParse("255"), (ReplicaPlacement{2, 5, 5}));
}

TEST(ReplicaPlacementTest, ToByteIsDecimalXyz) {
  EXPECT_EQ(MustParse("000").ToByte(), 0);
  EXPECT_EQ(MustParse("002").ToByte(), 2);
  EXPECT_EQ(MustParse("010").ToByte(), 10);
  EXPECT_EQ(MustParse("110").ToByte(), 110);
  EXPECT_EQ(MustParse("200").ToByte(), 200);
  EXPECT_EQ(MustParse("255").ToByte(), 255);
}

TEST(ReplicaPlacementTest, FromByteDecodesDecimalDigits) {
  Result<ReplicaPlacement> two = ReplicaPlacement::FromByte(2);
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(*two, (ReplicaPlacement{0, 0, 2}));
  EXPECT_EQ(two->ToString(), "002");

  Result<ReplicaPlacement> r110 = ReplicaPlacement::FromByte(110);
  ASSERT_TRUE(r110.ok());
  EXPECT_EQ(*r110, (ReplicaPlacement{1, 1, 0}));
  EXPECT_EQ(r110->ToString(), "110");
}

TEST(ReplicaPlacementTest, EveryByteRoundTrips) {
  for (int b = 0; b <= 255; ++b) {
    Result<ReplicaPlacement> rp = ReplicaPlacement::FromByte(static_cast<uint8_t>(b));
    ASSERT_TRUE(rp.ok()) << b;
    EXPECT_EQ(rp->ToByte(), b);
    // And through the text form.
    EXPECT_EQ(MustParse(rp->ToString()), *rp) << b;
  }
}

TEST(ReplicaPlacementTest, StringRoundTripsThroughByte) {
  for (std::string_view s : {"000", "001", "002", "010", "011", "100", "110", "200", "222", "255"}) {
    ReplicaPlacement rp = MustParse(s);
    EXPECT_EQ(rp.ToString(), s);
    Result<ReplicaPlacement> back = ReplicaPlacement::FromByte(rp.ToByte());
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, rp) << s;
    EXPECT_EQ(back->ToString(), s);
  }
}

TEST(ReplicaPlacementTest, ToStringAlwaysHasThreeDigits) {
  EXPECT_EQ(ReplicaPlacement{}.ToString(), "000");
  EXPECT_EQ((ReplicaPlacement{0, 0, 1}).ToString(), "001");
}

TEST(ReplicaPlacementTest, CopyCountIncludesOriginal) {
  EXPECT_EQ(MustParse("000").CopyCount(), 1);
  EXPECT_EQ(MustParse("001").CopyCount(), 2);
  EXPECT_EQ(MustParse("010").CopyCount(), 2);
  EXPECT_EQ(MustParse("100").CopyCount(), 2);
  EXPECT_EQ(MustParse("110").CopyCount(), 3);
  EXPECT_EQ(MustParse("111").CopyCount(), 4);
  EXPECT_EQ(MustParse("200").CopyCount(), 3);
  EXPECT_EQ(MustParse("255").CopyCount(), 13);
}

TEST(ReplicaPlacementTest, EqualityComparesAllFields) {
  EXPECT_EQ(MustParse("012"), MustParse("012"));
  EXPECT_NE(MustParse("012"), MustParse("021"));
  EXPECT_NE(MustParse("100"), MustParse("010"));
}

}  // namespace
}  // namespace cfs
