#include "raft/raft_log.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace cfs::raft {
namespace {

[[noreturn]] void LogBug(std::string_view what) {
  std::string msg = fmt::format("raft log: invariant broken: {}\n", what);
  std::fputs(msg.c_str(), stderr);
  std::abort();
}

}  // namespace

RaftLog::RaftLog(LogIndex prev_index, Term prev_term)
    : prev_index_(prev_index.value()),
      prev_term_(prev_term.value()),
      committed_(prev_index.value()),
      applying_(prev_index.value()),
      applied_(prev_index.value()),
      stable_(prev_index.value()),
      handed_(prev_index.value()) {}

Status RaftLog::Load(std::vector<proto::Entry> entries, LogIndex commit, LogIndex applied) {
  if (!entries_.empty()) return Status::InvalidArgument("raft log: Load on a non-empty log");
  uint64_t expect = prev_index_ + 1;
  uint64_t term = prev_term_;
  for (const proto::Entry& e : entries) {
    if (e.index() != expect) {
      return Status::InvalidArgument(fmt::format("raft log: entry {} where {} was expected", e.index(), expect));
    }
    if (e.term() < term) {
      return Status::InvalidArgument(
          fmt::format("raft log: entry {} has term {} after term {}", e.index(), e.term(), term));
    }
    term = e.term();
    ++expect;
  }
  const uint64_t last = expect - 1;
  if (applied.value() < prev_index_ || applied > commit || commit.value() > last) {
    return Status::InvalidArgument(fmt::format("raft log: need {} <= applied {} <= commit {} <= last {}",
                                               prev_index_, applied, commit, last));
  }
  for (proto::Entry& e : entries) entries_.push_back(std::move(e));
  committed_ = commit.value();
  applying_ = applied.value();
  applied_ = applied.value();
  stable_ = last;
  handed_ = last;
  return Status::OK();
}

std::optional<Term> RaftLog::TermAt(LogIndex index) const {
  const uint64_t i = index.value();
  if (i == prev_index_) return Term(prev_term_);
  if (i < prev_index_ || i > last_index().value()) return std::nullopt;
  return Term(EntryAt(i).term());
}

bool RaftLog::MatchTerm(LogIndex index, Term term) const {
  std::optional<Term> t = TermAt(index);
  return t && *t == term;
}

bool RaftLog::IsUpToDate(LogIndex index, Term term) const {
  const Term last = last_term();
  return term > last || (term == last && index >= last_index());
}

const proto::Entry& RaftLog::At(LogIndex index) const {
  if (index < first_index() || index > last_index()) {
    LogBug(fmt::format("entry {} outside [{}, {}]", index, first_index(), last_index()));
  }
  return EntryAt(index.value());
}

LogIndex RaftLog::Append(proto::Entry entry) {
  const uint64_t index = last_index().value() + 1;
  if (entry.term() < last_term().value()) {
    LogBug(fmt::format("appending term {} after term {}", entry.term(), last_term()));
  }
  entry.set_index(index);
  entries_.push_back(std::move(entry));
  return LogIndex(index);
}

LogIndex RaftLog::FindConflict(const EntryList& entries) const {
  for (const proto::Entry& e : entries) {
    if (!MatchTerm(LogIndex(e.index()), Term(e.term()))) return LogIndex(e.index());
  }
  return LogIndex(0);
}

std::pair<LogIndex, Term> RaftLog::FindConflictByTerm(LogIndex index, Term term) const {
  uint64_t hi = std::min(index.value(), last_index().value());
  if (hi <= prev_index_) return {LogIndex(prev_index_), Term(prev_term_)};
  // Entries (prev_index_, hi]: find the last one with term <= `term`.
  auto begin = entries_.begin();
  auto end = begin + static_cast<std::ptrdiff_t>(hi - prev_index_);
  auto it = std::upper_bound(begin, end, term.value(),
                             [](uint64_t t, const proto::Entry& e) { return t < e.term(); });
  if (it == begin) return {LogIndex(prev_index_), Term(prev_term_)};
  --it;
  return {LogIndex(it->index()), Term(it->term())};
}

std::optional<LogIndex> RaftLog::MaybeAppend(LogIndex prev_index, Term prev_term, LogIndex leader_commit,
                                             const EntryList& entries) {
  if (!MatchTerm(prev_index, prev_term)) return std::nullopt;
  const uint64_t last_new = prev_index.value() + static_cast<uint64_t>(entries.size());
  const uint64_t conflict = FindConflict(entries).value();
  if (conflict != 0) {
    if (conflict <= committed_) {
      // Only reachable if the caller let through an append below the commit
      // index: the leader would be overwriting a committed entry.
      LogBug(fmt::format("entry {} conflicts with committed entry (commit {})", conflict, committed_));
    }
    if (conflict <= last_index().value()) TruncateFrom(conflict);
    const int from = static_cast<int>(conflict - prev_index.value() - 1);
    for (int k = from; k < entries.size(); ++k) {
      const proto::Entry& e = entries[k];
      if (e.term() < last_term().value()) {
        LogBug(fmt::format("appending entry {} of term {} after term {}", e.index(), e.term(), last_term()));
      }
      entries_.push_back(e);
    }
  }
  CommitTo(LogIndex(std::min(leader_commit.value(), last_new)));
  return LogIndex(last_new);
}

void RaftLog::TruncateFrom(uint64_t index) {
  if (index <= committed_) LogBug(fmt::format("truncating from {} at or below commit {}", index, committed_));
  if (index <= prev_index_) LogBug(fmt::format("truncating from {} below first index {}", index, prev_index_ + 1));
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index - prev_index_ - 1), entries_.end());
  stable_ = std::min(stable_, index - 1);
  handed_ = std::min(handed_, index - 1);
}

template <typename Out>
static void SliceInto(const std::deque<proto::Entry>& entries, uint64_t prev_index, uint64_t lo, uint64_t hi,
                      uint64_t max_bytes, Out add) {
  uint64_t bytes = 0;
  for (uint64_t i = lo; i < hi; ++i) {
    const proto::Entry& e = entries[i - prev_index - 1];
    bytes += e.ByteSizeLong();
    if (bytes > max_bytes && i > lo) break;
    add(e);
  }
}

void RaftLog::Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, EntryList* out) const {
  if (lo < first_index() || lo > hi || hi.value() > last_index().value() + 1) {
    LogBug(fmt::format("slice [{}, {}) outside [{}, {}]", lo, hi, first_index(), last_index().value() + 1));
  }
  SliceInto(entries_, prev_index_, lo.value(), hi.value(), max_bytes, [out](const proto::Entry& e) { *out->Add() = e; });
}

void RaftLog::Slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, std::vector<proto::Entry>* out) const {
  if (lo < first_index() || lo > hi || hi.value() > last_index().value() + 1) {
    LogBug(fmt::format("slice [{}, {}) outside [{}, {}]", lo, hi, first_index(), last_index().value() + 1));
  }
  SliceInto(entries_, prev_index_, lo.value(), hi.value(), max_bytes,
            [out](const proto::Entry& e) { out->push_back(e); });
}

void RaftLog::CommitTo(LogIndex index) {
  if (index.value() <= committed_) return;
  if (index > last_index()) LogBug(fmt::format("commit {} beyond last index {}", index, last_index()));
  committed_ = index.value();
}

void RaftLog::TakeCommitted(uint64_t max_bytes, std::vector<proto::Entry>* out) {
  if (!HasNextCommitted()) return;
  const size_t before = out->size();
  Slice(LogIndex(applying_ + 1), LogIndex(committed_ + 1), max_bytes, out);
  if (out->size() > before) applying_ = out->back().index();
}

void RaftLog::AppliedTo(LogIndex index) {
  if (index.value() > applying_) {
    LogBug(fmt::format("applied {} beyond the {} handed out", index, applying_));
  }
  applied_ = std::max(applied_, index.value());
}

void RaftLog::TakeUnstable(std::vector<proto::Entry>* out) {
  if (!HasUnstable()) return;
  const uint64_t last = last_index().value();
  // Everything not yet handed out, however large: the host must persist it
  // before it may send the messages that promise it.
  Slice(LogIndex(std::max(handed_, prev_index_) + 1), LogIndex(last + 1), UINT64_MAX, out);
  handed_ = last;
}

void RaftLog::StableTo(LogIndex index, Term term) {
  if (!MatchTerm(index, term)) return;
  // An index below the compaction point was persisted long ago.
  if (index.value() > stable_) stable_ = std::min(index.value(), handed_);
}

void RaftLog::RestoreSnapshot(LogIndex index, Term term) {
  if (index.value() <= committed_) {
    LogBug(fmt::format("restoring snapshot {} at or below commit {}", index, committed_));
  }
  entries_.clear();
  prev_index_ = index.value();
  prev_term_ = term.value();
  committed_ = prev_index_;
  applying_ = std::max(applying_, prev_index_);
  stable_ = prev_index_;
  handed_ = prev_index_;
}

void RaftLog::CompactTo(LogIndex index) {
  const uint64_t i = index.value();
  if (i <= prev_index_) return;
  if (i > applied_ || i > stable_ || i > last_index().value()) {
    LogBug(fmt::format("compacting through {} beyond applied {} / stable {} / last {}", i, applied_, stable_,
                       last_index()));
  }
  prev_term_ = EntryAt(i).term();
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(i - prev_index_));
  prev_index_ = i;
}

bool RaftLog::HasUnappliedConfChange() const {
  for (uint64_t i = std::max(applied_, prev_index_) + 1; i <= committed_; ++i) {
    if (EntryAt(i).type() == proto::ENTRY_CONF_CHANGE) return true;
  }
  return false;
}

}  // namespace cfs::raft
