#include "raft/raft_log.h"

#include <gtest/gtest.h>

#include <vector>

namespace cfs::raft {
namespace {

proto::Entry E(uint64_t index, uint64_t term, std::string data = "") {
  proto::Entry e;
  e.set_index(index);
  e.set_term(term);
  e.set_data(std::move(data));
  return e;
}

// A log holding entries 1..terms.size() with the given terms, all persisted.
RaftLog LogWithTerms(const std::vector<uint64_t>& terms, uint64_t commit = 0) {
  RaftLog log(LogIndex(0), Term(0));
  std::vector<proto::Entry> entries;
  for (size_t i = 0; i < terms.size(); ++i) entries.push_back(E(i + 1, terms[i]));
  EXPECT_TRUE(log.Load(std::move(entries), LogIndex(commit), LogIndex(0)).ok());
  return log;
}

EntryList Entries(std::initializer_list<std::pair<uint64_t, uint64_t>> index_terms) {
  EntryList out;
  for (auto [i, t] : index_terms) *out.Add() = E(i, t);
  return out;
}

std::vector<uint64_t> Terms(const RaftLog& log) {
  std::vector<uint64_t> out;
  for (uint64_t i = log.first_index().value(); i <= log.last_index().value(); ++i) {
    out.push_back(log.At(LogIndex(i)).term());
  }
  return out;
}

TEST(RaftLogTest, EmptyLogStartsAfterCompactionPoint) {
  RaftLog log(LogIndex(10), Term(3));
  EXPECT_EQ(log.first_index(), LogIndex(11));
  EXPECT_EQ(log.last_index(), LogIndex(10));
  EXPECT_EQ(log.last_term(), Term(3));
  EXPECT_EQ(log.committed(), LogIndex(10));
  EXPECT_EQ(log.applied(), LogIndex(10));
  EXPECT_EQ(log.TermAt(LogIndex(10)), Term(3));
  EXPECT_EQ(log.TermAt(LogIndex(9)), std::nullopt);   // compacted
  EXPECT_EQ(log.TermAt(LogIndex(11)), std::nullopt);  // absent
}

TEST(RaftLogTest, LoadRejectsGapsDecreasingTermsAndBadIndexes) {
  {
    RaftLog log(LogIndex(0), Term(0));
    std::vector<proto::Entry> v{E(1, 1), E(3, 1)};
    EXPECT_TRUE(log.Load(std::move(v), LogIndex(0), LogIndex(0)).Is(Code::kInvalidArgument));
  }
  {
    RaftLog log(LogIndex(0), Term(0));
    std::vector<proto::Entry> v{E(1, 2), E(2, 1)};
    EXPECT_TRUE(log.Load(std::move(v), LogIndex(0), LogIndex(0)).Is(Code::kInvalidArgument));
  }
  {
    RaftLog log(LogIndex(0), Term(0));
    std::vector<proto::Entry> v{E(1, 1)};
    EXPECT_TRUE(log.Load(std::move(v), LogIndex(2), LogIndex(0)).Is(Code::kInvalidArgument));  // commit > last
  }
  {
    RaftLog log(LogIndex(5), Term(1));
    std::vector<proto::Entry> v{E(6, 1)};
    EXPECT_TRUE(log.Load(std::move(v), LogIndex(6), LogIndex(4)).Is(Code::kInvalidArgument));  // applied < prev
  }
}

TEST(RaftLogTest, AppendAssignsNextIndexAndNeverLowersTheTerm) {
  RaftLog log = LogWithTerms({1, 1});
  EXPECT_EQ(log.Append(E(0, 2, "x")), LogIndex(3));
  EXPECT_EQ(log.At(LogIndex(3)).data(), "x");
  EXPECT_EQ(log.last_term(), Term(2));
  EXPECT_DEATH(log.Append(E(0, 1)), "appending term 1 after term 2");
}

TEST(RaftLogTest, MatchTermChecksIndexAndTerm) {
  RaftLog log = LogWithTerms({1, 2, 2});
  EXPECT_TRUE(log.MatchTerm(LogIndex(0), Term(0)));
  EXPECT_TRUE(log.MatchTerm(LogIndex(2), Term(2)));
  EXPECT_FALSE(log.MatchTerm(LogIndex(2), Term(1)));
  EXPECT_FALSE(log.MatchTerm(LogIndex(4), Term(2)));
}

// §3.6.1: later last term wins; with equal last terms the longer log wins.
TEST(RaftLogTest, UpToDateComparesLastTermThenLength) {
  RaftLog log = LogWithTerms({1, 2, 2});
  EXPECT_TRUE(log.IsUpToDate(LogIndex(1), Term(3)));   // later term, shorter
  EXPECT_TRUE(log.IsUpToDate(LogIndex(3), Term(2)));   // same
  EXPECT_TRUE(log.IsUpToDate(LogIndex(4), Term(2)));   // longer
  EXPECT_FALSE(log.IsUpToDate(LogIndex(2), Term(2)));  // shorter
  EXPECT_FALSE(log.IsUpToDate(LogIndex(9), Term(1)));  // older term, longer
}

TEST(RaftLogTest, FindConflictReturnsFirstMismatchOrNewEntry) {
  RaftLog log = LogWithTerms({1, 2, 3});
  EXPECT_EQ(log.FindConflict(Entries({})), LogIndex(0));
  EXPECT_EQ(log.FindConflict(Entries({{1, 1}, {2, 2}, {3, 3}})), LogIndex(0));
  EXPECT_EQ(log.FindConflict(Entries({{2, 2}, {3, 3}, {4, 4}})), LogIndex(4));  // new
  EXPECT_EQ(log.FindConflict(Entries({{2, 2}, {3, 4}, {4, 4}})), LogIndex(3));  // conflict
  EXPECT_EQ(log.FindConflict(Entries({{1, 4}})), LogIndex(1));
}

TEST(RaftLogTest, MaybeAppendFailsWhenPreviousEntryDoesNotMatch) {
  RaftLog log = LogWithTerms({1, 2, 3});
  EXPECT_EQ(log.MaybeAppend(LogIndex(3), Term(2), LogIndex(3), Entries({{4, 4}})), std::nullopt);
  EXPECT_EQ(log.MaybeAppend(LogIndex(4), Term(3), LogIndex(3), Entries({{5, 4}})), std::nullopt);
  EXPECT_EQ(Terms(log), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(log.committed(), LogIndex(0));
}

// §3.5: a conflicting entry and everything after it are replaced.
TEST(RaftLogTest, MaybeAppendTruncatesConflictingSuffix) {
  RaftLog log = LogWithTerms({1, 2, 2, 2});
  EXPECT_EQ(log.MaybeAppend(LogIndex(2), Term(2), LogIndex(0), Entries({{3, 3}})), LogIndex(3));
  EXPECT_EQ(Terms(log), (std::vector<uint64_t>{1, 2, 3}));
  // The persisted mark moved back: index 3 must be persisted again.
  EXPECT_EQ(log.stable(), LogIndex(2));
  EXPECT_TRUE(log.HasUnstable());
}

// Entries already present (a duplicated or reordered append) are kept: a
// shorter append must not cut off later entries (§3.5).
TEST(RaftLogTest, MaybeAppendKeepsEntriesItAlreadyHas) {
  RaftLog log = LogWithTerms({1, 1, 1, 1});
  EXPECT_EQ(log.MaybeAppend(LogIndex(1), Term(1), LogIndex(0), Entries({{2, 1}})), LogIndex(2));
  EXPECT_EQ(log.last_index(), LogIndex(4));
  EXPECT_FALSE(log.HasUnstable());
}

// Figure 3.1 rule 5: commit = min(leaderCommit, index of last new entry).
TEST(RaftLogTest, MaybeAppendCommitsUpToLastNewEntryOnly) {
  RaftLog log = LogWithTerms({1, 1, 1, 1, 1});
  EXPECT_EQ(log.MaybeAppend(LogIndex(1), Term(1), LogIndex(5), Entries({{2, 1}})), LogIndex(2));
  EXPECT_EQ(log.committed(), LogIndex(2));
  EXPECT_EQ(log.MaybeAppend(LogIndex(2), Term(1), LogIndex(4), Entries({{3, 1}, {4, 1}, {5, 1}})), LogIndex(5));
  EXPECT_EQ(log.committed(), LogIndex(4));
}

TEST(RaftLogTest, TruncatingCommittedEntryAborts) {
  RaftLog log = LogWithTerms({1, 1, 1}, /*commit=*/3);
  EXPECT_DEATH(log.MaybeAppend(LogIndex(1), Term(1), LogIndex(3), Entries({{2, 2}})), "committed");
}

TEST(RaftLogTest, FindConflictByTermSkipsWholeTerms) {
  RaftLog log = LogWithTerms({1, 1, 2, 2, 2, 4, 4});
  EXPECT_EQ(log.FindConflictByTerm(LogIndex(7), Term(3)), std::make_pair(LogIndex(5), Term(2)));
  EXPECT_EQ(log.FindConflictByTerm(LogIndex(7), Term(4)), std::make_pair(LogIndex(7), Term(4)));
  EXPECT_EQ(log.FindConflictByTerm(LogIndex(4), Term(9)), std::make_pair(LogIndex(4), Term(2)));
  EXPECT_EQ(log.FindConflictByTerm(LogIndex(7), Term(1)), std::make_pair(LogIndex(2), Term(1)));
  EXPECT_EQ(log.FindConflictByTerm(LogIndex(7), Term(0)), std::make_pair(LogIndex(0), Term(0)));
  EXPECT_EQ(log.FindConflictByTerm(LogIndex(99), Term(2)), std::make_pair(LogIndex(5), Term(2)));
}

TEST(RaftLogTest, SliceStopsAtByteLimitButReturnsAtLeastOneEntry) {
  RaftLog log(LogIndex(0), Term(0));
  std::vector<proto::Entry> v;
  for (uint64_t i = 1; i <= 10; ++i) v.push_back(E(i, 1, std::string(100, 'x')));
  const uint64_t one = v[0].ByteSizeLong();
  ASSERT_TRUE(log.Load(std::move(v), LogIndex(0), LogIndex(0)).ok());
  std::vector<proto::Entry> out;
  log.Slice(LogIndex(1), LogIndex(11), 3 * one, &out);
  EXPECT_EQ(out.size(), 3u);
  out.clear();
  log.Slice(LogIndex(4), LogIndex(11), 1, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index(), 4u);
  out.clear();
  log.Slice(LogIndex(5), LogIndex(5), 1000, &out);
  EXPECT_TRUE(out.empty());
}

TEST(RaftLogTest, UnstableEntriesAreHandedOutOnceAndStableOnlyIfStillPresent) {
  RaftLog log = LogWithTerms({1});
  log.Append(E(0, 1));
  log.Append(E(0, 1));
  std::vector<proto::Entry> out;
  log.TakeUnstable(&out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_FALSE(log.HasUnstable());
  // Entry 3 was replaced before the host reported it persisted.
  log.MaybeAppend(LogIndex(2), Term(1), LogIndex(0), Entries({{3, 2}}));
  log.StableTo(LogIndex(3), Term(1));
  EXPECT_EQ(log.stable(), LogIndex(1));  // only entry 1 (loaded) is known persisted
  EXPECT_TRUE(log.HasUnstable());
  out.clear();
  log.TakeUnstable(&out);
  // Entry 2 went out in the first Ready (persisted with it); only the
  // replacement of entry 3 is new.
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index(), 3u);
  EXPECT_EQ(out[0].term(), 2u);
  log.StableTo(LogIndex(3), Term(2));
  EXPECT_EQ(log.stable(), LogIndex(3));
}

TEST(RaftLogTest, CommittedEntriesAreHandedOutOnceInOrder) {
  RaftLog log = LogWithTerms({1, 1, 1, 1});
  log.CommitTo(LogIndex(3));
  std::vector<proto::Entry> out;
  log.TakeCommitted(UINT64_MAX, &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_FALSE(log.HasNextCommitted());
  log.AppliedTo(LogIndex(3));
  log.CommitTo(LogIndex(4));
  out.clear();
  log.TakeCommitted(UINT64_MAX, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].index(), 4u);
  EXPECT_DEATH(log.CommitTo(LogIndex(5)), "beyond last index");
}

TEST(RaftLogTest, CompactDropsEntriesThroughIndexAndKeepsItsTerm) {
  RaftLog log = LogWithTerms({1, 1, 2, 2, 3}, /*commit=*/5);
  std::vector<proto::Entry> out;
  log.TakeCommitted(UINT64_MAX, &out);
  log.AppliedTo(LogIndex(5));
  log.CompactTo(LogIndex(3));
  EXPECT_EQ(log.first_index(), LogIndex(4));
  EXPECT_EQ(log.TermAt(LogIndex(3)), Term(2));
  EXPECT_EQ(log.TermAt(LogIndex(2)), std::nullopt);
  EXPECT_EQ(Terms(log), (std::vector<uint64_t>{2, 3}));
  EXPECT_DEATH(log.At(LogIndex(3)), "outside");
}

TEST(RaftLogTest, CompactBeyondAppliedAborts) {
  RaftLog log = LogWithTerms({1, 1, 1}, /*commit=*/3);
  EXPECT_DEATH(log.CompactTo(LogIndex(2)), "beyond applied");
}

TEST(RaftLogTest, RestoreSnapshotResetsTheLog) {
  RaftLog log = LogWithTerms({1, 1, 1}, /*commit=*/1);
  log.RestoreSnapshot(LogIndex(10), Term(4));
  EXPECT_EQ(log.first_index(), LogIndex(11));
  EXPECT_EQ(log.last_index(), LogIndex(10));
  EXPECT_EQ(log.last_term(), Term(4));
  EXPECT_EQ(log.committed(), LogIndex(10));
  EXPECT_FALSE(log.HasNextCommitted());  // the snapshot is applied through Ready.snapshot
  EXPECT_FALSE(log.HasUnstable());
}

TEST(RaftLogTest, UnappliedConfChangeIsFoundBetweenAppliedAndCommitted) {
  RaftLog log(LogIndex(0), Term(0));
  std::vector<proto::Entry> v{E(1, 1), E(2, 1), E(3, 1)};
  v[1].set_type(proto::ENTRY_CONF_CHANGE);
  ASSERT_TRUE(log.Load(std::move(v), LogIndex(1), LogIndex(1)).ok());
  EXPECT_FALSE(log.HasUnappliedConfChange());  // entry 2 is not committed
  log.CommitTo(LogIndex(3));
  EXPECT_TRUE(log.HasUnappliedConfChange());
  std::vector<proto::Entry> out;
  log.TakeCommitted(UINT64_MAX, &out);
  log.AppliedTo(LogIndex(3));
  EXPECT_FALSE(log.HasUnappliedConfChange());
}

}  // namespace
}  // namespace cfs::raft
