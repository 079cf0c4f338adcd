#include "common/ttl.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace cfs {
namespace {

using std::chrono::seconds;

Ttl MustParse(std::string_view s) {
  Result<Ttl> r = Ttl::Parse(s);
  EXPECT_TRUE(r.ok()) << s << ": " << r.status().ToString();
  return r.ok() ? *r : Ttl{};
}

TEST(TtlTest, ParsesEachUnit) {
  EXPECT_EQ(MustParse("3m"), (Ttl{3, TtlUnit::kMinute}));
  EXPECT_EQ(MustParse("4h"), (Ttl{4, TtlUnit::kHour}));
  EXPECT_EQ(MustParse("5d"), (Ttl{5, TtlUnit::kDay}));
  EXPECT_EQ(MustParse("1w"), (Ttl{1, TtlUnit::kWeek}));
  EXPECT_EQ(MustParse("2M"), (Ttl{2, TtlUnit::kMonth}));
  EXPECT_EQ(MustParse("1y"), (Ttl{1, TtlUnit::kYear}));
}

TEST(TtlTest, BareNumberMeansMinutes) {
  EXPECT_EQ(MustParse("15"), (Ttl{15, TtlUnit::kMinute}));
  EXPECT_EQ(MustParse("1"), (Ttl{1, TtlUnit::kMinute}));
  EXPECT_EQ(MustParse("255"), (Ttl{255, TtlUnit::kMinute}));
}

TEST(TtlTest, EmptyStringIsNoTtl) {
  Ttl t = MustParse("");
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t, Ttl{});
  EXPECT_EQ(t.Duration(), seconds(0));
}

TEST(TtlTest, ZeroCountIsNoTtl) {
  EXPECT_EQ(MustParse("0"), Ttl{});
  EXPECT_EQ(MustParse("0d"), Ttl{});
  EXPECT_EQ(MustParse("0y"), Ttl{});
  EXPECT_TRUE(MustParse("0").empty());
}

TEST(TtlTest, MonthAndMinuteAreCaseSensitive) {
  EXPECT_EQ(MustParse("2m").unit, TtlUnit::kMinute);
  EXPECT_EQ(MustParse("2M").unit, TtlUnit::kMonth);
}

TEST(TtlTest, MaximumCountIs255) {
  EXPECT_EQ(MustParse("255d"), (Ttl{255, TtlUnit::kDay}));
  Result<Ttl> r = Ttl::Parse("256d");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("256"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(Ttl::Parse("256").ok());
  EXPECT_FALSE(Ttl::Parse("99999999999999999999m").ok());
}

TEST(TtlTest, RejectsUnknownUnit) {
  for (std::string_view s : {"5x", "5s", "5D", "5H", "5Y", "5W"}) {
    Result<Ttl> r = Ttl::Parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
    EXPECT_NE(r.status().message().find(std::string(s)), std::string::npos) << r.status().ToString();
  }
}

TEST(TtlTest, RejectsUnitWithoutCount) {
  for (std::string_view s : {"m", "h", "d", "w", "M", "y"}) {
    Result<Ttl> r = Ttl::Parse(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << s;
  }
}

TEST(TtlTest, RejectsMalformedNumbers) {
  for (std::string_view s : {"-1m", "+1m", " 1m", "1 m", "1.5d", "1dd", "d1", "0x10", "1e2"}) {
    EXPECT_FALSE(Ttl::Parse(s).ok()) << s;
  }
}

TEST(TtlTest, FromBytesDecodesEveryKnownUnit) {
  for (uint8_t unit = 1; unit <= 6; ++unit) {
    Result<Ttl> t = Ttl::FromBytes(9, unit);
    ASSERT_TRUE(t.ok()) << int{unit};
    EXPECT_EQ(t->count, 9);
    EXPECT_EQ(static_cast<uint8_t>(t->unit), unit);
  }
}

TEST(TtlTest, FromBytesWithZeroCountOrUnitIsNoTtl) {
  Result<Ttl> a = Ttl::FromBytes(0, 3);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, Ttl{});
  Result<Ttl> b = Ttl::FromBytes(5, 0);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, Ttl{});
}

TEST(TtlTest, FromBytesWithUnknownUnitIsCorruption) {
  for (int unit : {7, 8, 100, 255}) {
    Result<Ttl> t = Ttl::FromBytes(1, static_cast<uint8_t>(unit));
    ASSERT_FALSE(t.ok()) << unit;
    EXPECT_EQ(t.status().code(), Code::kCorruption) << unit;
    EXPECT_NE(t.status().message().find(std::to_string(unit)), std::string::npos) << t.status().ToString();
  }
  // Even with a zero count the unit byte is checked.
  EXPECT_EQ(Ttl::FromBytes(0, 7).status().code(), Code::kCorruption);
}

TEST(TtlTest, DurationOfEachUnit) {
  EXPECT_EQ(MustParse("3m").Duration(), seconds(3 * 60));
  EXPECT_EQ(MustParse("4h").Duration(), seconds(4 * 3600));
  EXPECT_EQ(MustParse("5d").Duration(), seconds(5 * 86400));
  EXPECT_EQ(MustParse("1w").Duration(), seconds(7 * 86400));
  EXPECT_EQ(MustParse("15").Duration(), std::chrono::minutes(15));
}

TEST(TtlTest, MonthIsThirtyDaysAndYearIs365Days) {
  EXPECT_EQ(MustParse("1M").Duration(), seconds(30 * 86400));
  EXPECT_EQ(MustParse("2M").Duration(), seconds(60 * 86400));
  EXPECT_EQ(MustParse("1y").Duration(), seconds(365 * 86400));
  EXPECT_EQ(MustParse("255y").Duration(), seconds(int64_t{255} * 365 * 86400));
}

TEST(TtlTest, DurationOfNoTtlIsZero) {
  EXPECT_EQ(Ttl{}.Duration(), seconds(0));
  EXPECT_EQ((Ttl{7, TtlUnit::kNone}).Duration(), seconds(0));
}

TEST(TtlTest, ToStringUsesCountAndUnitLetter) {
  EXPECT_EQ((Ttl{3, TtlUnit::kMinute}).ToString(), "3m");
  EXPECT_EQ((Ttl{4, TtlUnit::kHour}).ToString(), "4h");
  EXPECT_EQ((Ttl{5, TtlUnit::kDay}).ToString(), "5d");
  EXPECT_EQ((Ttl{1, TtlUnit::kWeek}).ToString(), "1w");
  EXPECT_EQ((Ttl{2, TtlUnit::kMonth}).ToString(), "2M");
  EXPECT_EQ((Ttl{1, TtlUnit::kYear}).ToString(), "1y");
  EXPECT_EQ(MustParse("15").ToString(), "15m");
}

TEST(TtlTest, ToStringOfNoTtlIsEmpty) {
  EXPECT_EQ(Ttl{}.ToString(), "");
  EXPECT_EQ((Ttl{0, TtlUnit::kDay}).ToString(), "");
  EXPECT_EQ((Ttl{3, TtlUnit::kNone}).ToString(), "");
}

TEST(TtlTest, ParseOfToStringRoundTrips) {
  for (std::string_view s : {"3m", "4h", "5d", "1w", "2M", "1y", "255d", "1m", ""}) {
    Ttl t = MustParse(s);
    EXPECT_EQ(t.ToString(), s);
    EXPECT_EQ(MustParse(t.ToString()), t) << s;
  }
}

TEST(TtlTest, BytesRoundTripForEveryUnit) {
  for (uint8_t unit = 0; unit <= 6; ++unit) {
    for (int count : {0, 1, 17, 255}) {
      Result<Ttl> t = Ttl::FromBytes(static_cast<uint8_t>(count), unit);
      ASSERT_TRUE(t.ok());
      Result<Ttl> back = Ttl::FromBytes(t->count, static_cast<uint8_t>(t->unit));
      ASSERT_TRUE(back.ok());
      EXPECT_EQ(*back, *t);
      EXPECT_EQ(MustParse(t->ToString()), *t) << t->ToString();
    }
  }
}

TEST(TtlTest, EmptyWhenCountOrUnitIsZero) {
  EXPECT_TRUE(Ttl{}.empty());
  EXPECT_TRUE((Ttl{0, TtlUnit::kHour}).empty());
  EXPECT_TRUE((Ttl{3, TtlUnit::kNone}).empty());
  EXPECT_FALSE((Ttl{3, TtlUnit::kHour}).empty());
}

}  // namespace
}  // namespace cfs
