// ReadOnly: a leader's bookkeeping for linearizable reads (§6.4) and its
// read lease (§6.4.1).
//
// A read (ReadIndex) records the commit index when it arrives and may be
// answered once the leader has confirmed it was still leader after that
// moment: a quorum of voters acknowledged a heartbeat sent later. Heartbeats
// are numbered in rounds (the number travels in the heartbeat's context and
// comes back in the answer), so one round confirms every read registered
// before it, and a read needs no per-request acknowledgement set: a voter's
// acknowledgement of round r also acknowledges every earlier round. Reads
// from different nodes may therefore use equal contexts.
//
// Rounds also date the lease: the round a quorum acknowledged was sent at a
// known time (Config::clock), and no voter of that quorum grants a vote for an election
// timeout after it heard that round (§4.2.3), so no other leader can exist
// until then.
//
// Invariants: requests are in increasing round order; rounds_ holds
// increasing rounds, none above last_round_.
//
// Thread-safety: none; owned by the Raft core.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.h"

namespace cfs::raft {

class ReadOnly {
 public:
  struct Request {
    uint64_t round;  // the first heartbeat round that can confirm it
    LogIndex index;  // the commit index when it arrived: the read index
    NodeId from;     // the requesting node (the leader itself for a local read)
    std::string context;
  };

  // Registers a read at `index`; it waits for the next round.
  void Add(LogIndex index, NodeId from, std::string context) {
    requests_.push_back(Request{last_round_ + 1, index, from, std::move(context)});
  }
  // A read waits for a round that has not been started.
  bool NeedsRound() const { return !requests_.empty() && requests_.back().round > last_round_; }

  // Starts a heartbeat round at leader time `at`; returns its number.
  uint64_t StartRound(int64_t at) {
    ++last_round_;
    rounds_.emplace_back(last_round_, at);
    // Rounds nobody acknowledges (e.g. while a quorum is unreachable) must
    // not pile up: an old one only dates a lease that has expired anyway.
    if (rounds_.size() > kMaxRounds) rounds_.pop_front();
    return last_round_;
  }
  uint64_t last_round() const { return last_round_; }

  // `from` answered the heartbeat of `round`. Rounds never started are
  // ignored (a malformed answer).
  void Ack(NodeId from, uint64_t round) {
    if (round == 0 || round > last_round_) return;
    uint64_t& acked = acks_[from];
    acked = std::max(acked, round);
  }

  // The newest round a quorum of `voters` acknowledged; `self`, the leader,
  // counts as acknowledging every round. 0 when none.
  uint64_t ConfirmedRound(const std::vector<NodeId>& voters, NodeId self) const {
    if (voters.empty()) return 0;
    std::vector<uint64_t>& acked = scratch_;  // no allocation per answer
    acked.clear();
    for (NodeId v : voters) {
      if (v == self) {
        acked.push_back(last_round_);
      } else {
        auto it = acks_.find(v);
        acked.push_back(it == acks_.end() ? 0 : it->second);
      }
    }
    const size_t quorum = voters.size() / 2 + 1;
    std::nth_element(acked.begin(), acked.begin() + static_cast<std::ptrdiff_t>(quorum - 1), acked.end(),
                     std::greater<>());
    return acked[quorum - 1];
  }

  // Moves the reads that round `confirmed` confirms into `out`, in order.
  void Release(uint64_t confirmed, std::vector<Request>* out) {
    while (!requests_.empty() && requests_.front().round <= confirmed) {
      out->push_back(std::move(requests_.front()));
      requests_.pop_front();
    }
    while (rounds_.size() > 1 && rounds_.front().first < confirmed) rounds_.pop_front();
  }

  // The time at which `round` was sent, if still remembered.
  std::optional<int64_t> RoundTime(uint64_t round) const {
    for (auto it = rounds_.rbegin(); it != rounds_.rend(); ++it) {
      if (it->first == round) return it->second;
      if (it->first < round) break;
    }
    return std::nullopt;
  }

  size_t pending() const { return requests_.size(); }

  // Leadership ended or began: forgets reads, rounds and acknowledgements.
  // Round numbers keep increasing so a late answer never matches a new round.
  void Reset() {
    requests_.clear();
    rounds_.clear();
    acks_.clear();
  }

 private:
  static constexpr size_t kMaxRounds = 1024;

  uint64_t last_round_ = 0;
  std::deque<Request> requests_;
  std::deque<std::pair<uint64_t, int64_t>> rounds_;  // (round, time sent)
  std::map<NodeId, uint64_t> acks_;                   // newest round each peer acknowledged
  mutable std::vector<uint64_t> scratch_;
};

}  // namespace cfs::raft
