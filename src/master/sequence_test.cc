#include "master/sequence.h"

#include <gtest/gtest.h>

namespace cfs::master {
namespace {

TEST(IdRangeTest, EmptyRangeHandsOutNothing) {
  IdRange r;
  EXPECT_EQ(r.available(), 0u);
  EXPECT_TRUE(r.Take(1).status().Is(Code::kUnavailable));
  EXPECT_TRUE(r.Take(0).status().Is(Code::kInvalidArgument));
}

TEST(IdRangeTest, TakesConsecutiveIdsUntilTheEnd) {
  IdRange r;
  r.Add(1, 11);
  EXPECT_EQ(*r.Take(3), 1u);
  EXPECT_EQ(*r.Take(7), 4u);
  EXPECT_EQ(r.available(), 0u);
  EXPECT_TRUE(r.Take(1).status().Is(Code::kUnavailable));
}

TEST(IdRangeTest, TakeMoreThanLeftFailsAndKeepsTheRest) {
  IdRange r;
  r.Add(1, 5);
  EXPECT_TRUE(r.Take(5).status().Is(Code::kUnavailable));
  EXPECT_EQ(*r.Take(4), 1u);
}

TEST(IdRangeTest, ContinuingReservationKeepsLeftovers) {
  IdRange r;
  r.Add(1, 11);
  ASSERT_TRUE(r.Take(8).ok());
  r.Add(11, 21);
  EXPECT_EQ(r.available(), 12u);
  EXPECT_EQ(*r.Take(12), 9u);
}

TEST(IdRangeTest, DisjointReservationDropsLeftovers) {
  IdRange r;
  r.Add(1, 11);
  r.Add(50, 60);
  EXPECT_EQ(*r.Take(1), 50u);
}

TEST(IdRangeTest, OlderReservationNeverMovesIdsBack) {
  IdRange r;
  r.Add(50, 60);
  r.Add(1, 11);
  EXPECT_EQ(*r.Take(1), 50u);
}

TEST(IdRangeTest, SkipThroughPassesReportedIds) {
  IdRange r;
  r.Add(1, 101);
  r.SkipThrough(9);
  EXPECT_EQ(*r.Take(1), 10u);
  r.SkipThrough(5);  // already past
  EXPECT_EQ(*r.Take(1), 11u);
  r.SkipThrough(500);
  EXPECT_EQ(r.available(), 0u);
}

TEST(IdRangeTest, ClearForgetsTheRange) {
  IdRange r;
  r.Add(1, 101);
  r.Clear();
  EXPECT_EQ(r.available(), 0u);
}

}  // namespace
}  // namespace cfs::master
