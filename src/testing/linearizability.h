// A linearizability checker for histories of a key-value store, after Wing &
// Gong (1993) with Lowe's improvements ("Testing for linearizability", 2017)
// as porcupine applies them: the search memoizes (set of linearized
// operations, model state) pairs it has already explored, and the history is
// split per key, since a map of independent registers is linearizable iff
// each key's sub-history is (linearizability is local, Herlihy & Wing §3.3;
// the P-compositionality of Horn & Kroening).
//
// A history is a list of operations with invoke and response times taken
// from one clock. Operation A precedes B iff A.response < B.invoke; equal
// times count as concurrent. An operation whose caller never learnt the
// outcome (timed out, crashed) is pending: it may take effect at any point
// after its invoke, or never.
//
// The model per key is a register that is absent until written:
//   Put(k, v)           value := v
//   Append(k, v)        value := value (or "" when absent) + v
//   Cas(k, e, v) -> ok  if value == e (nullopt: absent) then value := v, ok
//   Get(k) -> v         v == value (nullopt: absent)
//
// Pending writes whose value no completed read returned are left out of the
// search (they can always be linearized last; see linearizability.cc), unless
// the key has a Cas.
//
// Thread-safety: CheckLinearizability is a pure function.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace cfs::testing {

enum class KvOpKind : uint8_t { kPut, kAppend, kCas, kGet };

struct KvOperation {
  static constexpr int64_t kPending = std::numeric_limits<int64_t>::max();

  int client = 0;  // only for descriptions
  KvOpKind kind = KvOpKind::kGet;
  std::string key;
  std::string value;                    // Put/Append: the argument; Cas: new value
  std::optional<std::string> expected;  // Cas: the value it compares with
  // Outcome, meaningful only once completed: Get's value (nullopt: absent);
  // Cas's success.
  std::optional<std::string> output;
  bool cas_ok = false;
  int64_t invoke = 0;
  int64_t response = kPending;  // kPending: never completed

  bool pending() const { return response == kPending; }
};

// "c3 Put(k, v) [10, 14]", "c1 Get(k) -> absent [3, pending]".
std::string DescribeOperation(const KvOperation& op);

struct CheckOptions {
  // Bound on the search: steps (operations tried) over all keys. Past it the
  // answer is kUnknown rather than a hang.
  uint64_t max_steps = 20'000'000;
};

struct CheckResult {
  enum class Outcome : uint8_t { kOk, kNotLinearizable, kUnknown };
  Outcome outcome = Outcome::kOk;
  // kNotLinearizable: the key whose sub-history has no linearization; its
  // operations (indexes into the history, by invoke time); the longest
  // linearizable prefix the search found and the operations none of which
  // could come next. kUnknown: why.
  std::string key;
  std::vector<size_t> operations;
  std::vector<size_t> longest_prefix;
  std::vector<size_t> stuck_candidates;
  std::string description;  // human-readable, names the key and operations
  uint64_t steps = 0;       // search work done
  size_t keys_checked = 0;

  bool ok() const { return outcome == Outcome::kOk; }
};

// Checks `history` against the key-value model above (every key absent at
// the start). Operations with response < invoke are a caller bug and abort.
CheckResult CheckLinearizability(const std::vector<KvOperation>& history, const CheckOptions& options = {});

}  // namespace cfs::testing
