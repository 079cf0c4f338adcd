#include "raft/progress.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace cfs::raft {
namespace {

[[noreturn]] void ProgressBug(std::string_view what) {
  std::string msg = fmt::format("raft progress: invariant broken: {}\n", what);
  std::fputs(msg.c_str(), stderr);
  std::abort();
}

}  // namespace

std::string_view ProgressStateName(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe:
      return "probe";
    case ProgressState::kReplicate:
      return "replicate";
    case ProgressState::kSnapshot:
      return "snapshot";
  }
  return "?";
}

Inflights::Inflights(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

void Inflights::Add(LogIndex last) {
  if (Full()) ProgressBug("Inflights::Add on a full window");
  if (count_ > 0) {
    const uint64_t newest = buffer_[(start_ + count_ - 1) % capacity_];
    if (last.value() <= newest) ProgressBug(fmt::format("inflight {} after {}", last, newest));
  }
  const size_t slot = (start_ + count_) % capacity_;
  if (slot >= buffer_.size()) {
    // Grow lazily: most peers never fill a large window. A slot past the
    // buffer's end means the ring has not wrapped, so growing moves nothing.
    buffer_.resize(std::min(capacity_, std::max<size_t>({buffer_.size() * 2, slot + 1, 4})));
  }
  buffer_[slot] = last.value();
  ++count_;
}

void Inflights::FreeLE(LogIndex index) {
  while (count_ > 0 && buffer_[start_] <= index.value()) {
    start_ = (start_ + 1) % capacity_;
    --count_;
  }
  if (count_ == 0) start_ = 0;
}

void Inflights::FreeFirstOne() {
  if (count_ == 0) return;
  start_ = (start_ + 1) % capacity_;
  if (--count_ == 0) start_ = 0;
}

void Inflights::Reset() {
  start_ = 0;
  count_ = 0;
}

void Progress::BecomeProbe() {
  // After a snapshot the peer holds at least its index: probe right after.
  if (state == ProgressState::kSnapshot) {
    next = LogIndex(std::max(match.value(), pending_snapshot.value()) + 1);
  } else {
    next = LogIndex(match.value() + 1);
  }
  state = ProgressState::kProbe;
  pending_snapshot = LogIndex(0);
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeReplicate() {
  state = ProgressState::kReplicate;
  next = LogIndex(match.value() + 1);
  pending_snapshot = LogIndex(0);
  probe_sent = false;
  inflights.Reset();
}

void Progress::BecomeSnapshot(LogIndex snapshot_index) {
  state = ProgressState::kSnapshot;
  pending_snapshot = snapshot_index;
  probe_sent = false;
  inflights.Reset();
}

bool Progress::MaybeUpdate(LogIndex index) {
  if (index <= match) return false;
  match = index;
  if (next.value() < index.value() + 1) next = LogIndex(index.value() + 1);
  probe_sent = false;
  return true;
}

bool Progress::MaybeDecrTo(LogIndex rejected, LogIndex match_hint) {
  if (state == ProgressState::kReplicate) {
    // Appends at or below match were accepted before: this answers an old one.
    if (rejected <= match) return false;
    // The pipeline broke (e.g. the peer lost entries it had not persisted):
    // resend from what is known to match.
    next = LogIndex(match.value() + 1);
    return true;
  }
  // In probe only the last append sent (previous index next - 1) counts.
  if (next.value() == 0 || rejected.value() != next.value() - 1) return false;
  const uint64_t candidate = std::min(rejected.value(), match_hint.value() + 1);
  next = LogIndex(std::max(candidate, match.value() + 1));
  probe_sent = false;
  return true;
}

bool Progress::IsPaused() const {
  switch (state) {
    case ProgressState::kProbe:
      return probe_sent;
    case ProgressState::kReplicate:
      return inflights.Full();
    case ProgressState::kSnapshot:
      return true;
  }
  return true;
}

std::string Progress::ToString() const {
  std::string s = fmt::format("{} match={} next={}", ProgressStateName(state), match, next);
  if (is_learner) s += " learner";
  if (state == ProgressState::kSnapshot) s += fmt::format(" pending_snapshot={}", pending_snapshot);
  if (probe_sent) s += " probe_sent";
  if (!recent_active) s += " inactive";
  if (inflights.count() > 0) s += fmt::format(" inflight={}", inflights.count());
  return s;
}

}  // namespace cfs::raft
