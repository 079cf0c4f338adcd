#include "testing/linearizability.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <utility>

#include <absl/container/flat_hash_set.h>
#include <absl/hash/hash.h>
#include <fmt/format.h>

namespace cfs::testing {
namespace {

using Value = std::optional<std::string>;

std::string Show(const Value& v) {
  if (!v) return "absent";
  if (v->size() <= 24) return fmt::format("\"{}\"", *v);
  return fmt::format("\"{}...\"({} bytes)", v->substr(0, 16), v->size());
}

// Applies `op` to `state`; false when the op's recorded outcome cannot come
// from `state`. A pending op has no recorded outcome, so any is allowed.
bool ModelStep(const KvOperation& op, const Value& state, Value* next) {
  switch (op.kind) {
    case KvOpKind::kPut:
      *next = op.value;
      return true;
    case KvOpKind::kAppend:
      *next = state.value_or(std::string()) + op.value;
      return true;
    case KvOpKind::kCas: {
      const bool match = state == op.expected;
      if (!op.pending() && match != op.cas_ok) return false;
      *next = match ? Value(op.value) : state;
      return true;
    }
    case KvOpKind::kGet:
      *next = state;
      return op.pending() || state == op.output;
  }
  std::abort();
}

// What the search has already explored: Lowe's memo of (linearized set, state).
struct Config {
  std::vector<uint64_t> linearized;
  Value state;
  bool operator==(const Config&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Config& c) {
    return H::combine(std::move(h), c.linearized, c.state);
  }
};

// One key's sub-history as a doubly linked list of call and return events
// sorted by time (calls before returns at equal times: equal is concurrent).
// Node 0 is the head sentinel; -1 ends the list.
struct Node {
  int prev = -1;
  int next = -1;
  int op = -1;        // index into the key's ops
  bool call = false;
  int match = -1;     // a call's return node; -1 for a pending op
};

class KeySearch {
 public:
  KeySearch(const std::vector<KvOperation>& history, std::vector<size_t> ops, uint64_t budget)
      : history_(history), ops_(std::move(ops)), budget_(budget) {}

  enum class Verdict { kOk, kIllegal, kOutOfBudget };

  Verdict Run() {
    BuildList();
    int completed_left = 0;
    for (size_t i = 0; i < ops_.size(); ++i) completed_left += Op(i).pending() ? 0 : 1;

    struct Frame {
      int node;
      Value state;
    };
    std::vector<Frame> stack;
    absl::flat_hash_set<Config> seen;
    Config cur{std::vector<uint64_t>((ops_.size() + 63) / 64, 0), std::nullopt};
    int entry = nodes_[0].next;
    while (completed_left > 0) {
      if (entry == -1 || !nodes_[entry].call) {
        // A return (or the end): the op that returns here must have taken
        // effect before anything after it; backtrack.
        if (static_cast<int>(stack.size()) > best_depth_) Record(stack, entry);
        if (stack.empty()) return Verdict::kIllegal;
        Frame top = std::move(stack.back());
        stack.pop_back();
        const int op = nodes_[top.node].op;
        cur.linearized[op / 64] &= ~(uint64_t{1} << (op % 64));
        cur.state = std::move(top.state);
        Unlift(top.node);
        if (!Op(op).pending()) ++completed_left;
        entry = nodes_[top.node].next;
        continue;
      }
      if (++steps_ > budget_) return Verdict::kOutOfBudget;
      const int op = nodes_[entry].op;
      Value next;
      if (ModelStep(Op(op), cur.state, &next)) {
        Config probe{cur.linearized, next};
        probe.linearized[op / 64] |= uint64_t{1} << (op % 64);
        if (seen.insert(probe).second) {
          stack.push_back({entry, std::move(cur.state)});
          cur = std::move(probe);
          Lift(entry);
          if (!Op(op).pending()) --completed_left;
          entry = nodes_[0].next;
          continue;
        }
      }
      entry = nodes_[entry].next;
    }
    return Verdict::kOk;
  }

  uint64_t steps() const { return steps_; }
  const std::vector<size_t>& best_prefix() const { return best_prefix_; }
  const std::vector<size_t>& best_candidates() const { return best_candidates_; }
  std::optional<size_t> best_blocker() const { return best_blocker_; }

 private:
  const KvOperation& Op(int i) const { return history_[ops_[i]]; }

  void BuildList() {
    struct Event {
      int64_t time;
      bool ret;
      int op;
    };
    std::vector<Event> events;
    for (size_t i = 0; i < ops_.size(); ++i) {
      events.push_back({Op(i).invoke, false, static_cast<int>(i)});
      if (!Op(i).pending()) events.push_back({Op(i).response, true, static_cast<int>(i)});
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
      return std::tie(a.time, a.ret, a.op) < std::tie(b.time, b.ret, b.op);
    });
    nodes_.assign(events.size() + 1, Node{});
    std::vector<int> call_node(ops_.size(), -1);
    for (size_t i = 0; i < events.size(); ++i) {
      const int n = static_cast<int>(i) + 1;
      nodes_[n].prev = n - 1;
      nodes_[n - 1].next = n;
      nodes_[n].op = events[i].op;
      nodes_[n].call = !events[i].ret;
      if (events[i].ret) {
        nodes_[call_node[events[i].op]].match = n;
      } else {
        call_node[events[i].op] = n;
      }
    }
  }

  void Unlink(int n) {
    nodes_[nodes_[n].prev].next = nodes_[n].next;
    if (nodes_[n].next != -1) nodes_[nodes_[n].next].prev = nodes_[n].prev;
  }
  void Relink(int n) {
    nodes_[nodes_[n].prev].next = n;
    if (nodes_[n].next != -1) nodes_[nodes_[n].next].prev = n;
  }
  // Removes a call and its return; Unlift undoes exactly that (dancing links).
  void Lift(int call) {
    Unlink(call);
    if (nodes_[call].match != -1) Unlink(nodes_[call].match);
  }
  void Unlift(int call) {
    if (nodes_[call].match != -1) Relink(nodes_[call].match);
    Relink(call);
  }

  template <typename Stack>
  void Record(const Stack& stack, int stuck_at) {
    best_depth_ = static_cast<int>(stack.size());
    best_prefix_.clear();
    for (const auto& f : stack) best_prefix_.push_back(ops_[nodes_[f.node].op]);
    best_candidates_.clear();
    for (int n = nodes_[0].next; n != stuck_at && n != -1; n = nodes_[n].next) {
      if (nodes_[n].call) best_candidates_.push_back(ops_[nodes_[n].op]);
    }
    best_blocker_ = stuck_at == -1 ? std::nullopt : std::optional<size_t>(ops_[nodes_[stuck_at].op]);
  }

  const std::vector<KvOperation>& history_;
  const std::vector<size_t> ops_;
  const uint64_t budget_;
  std::vector<Node> nodes_;
  uint64_t steps_ = 0;
  int best_depth_ = -1;
  std::vector<size_t> best_prefix_;
  std::vector<size_t> best_candidates_;
  std::optional<size_t> best_blocker_;
};

std::string DescribeFailure(const std::vector<KvOperation>& history, const CheckResult& r,
                            std::optional<size_t> blocker) {
  constexpr size_t kMaxListed = 40;
  std::string s = fmt::format("key \"{}\": not linearizable ({} operations on the key)\n", r.key, r.operations.size());
  const size_t shown = std::min<size_t>(r.longest_prefix.size(), 8);
  s += fmt::format("  longest linearizable prefix: {} operations{}\n", r.longest_prefix.size(),
                   shown < r.longest_prefix.size() ? fmt::format(", the last {}:", shown) : ":");
  for (size_t i = r.longest_prefix.size() - shown; i < r.longest_prefix.size(); ++i) {
    s += fmt::format("    #{} {}\n", r.longest_prefix[i], DescribeOperation(history[r.longest_prefix[i]]));
  }
  if (blocker) {
    s += fmt::format("  then #{} {} must take effect before it returns, but no order of these can come next:\n",
                     *blocker, DescribeOperation(history[*blocker]));
  } else {
    s += "  then no order of these can come next:\n";
  }
  for (size_t i : r.stuck_candidates) s += fmt::format("    #{} {}\n", i, DescribeOperation(history[i]));
  if (r.operations.size() <= kMaxListed) {
    s += "  operations on the key:\n";
    for (size_t i : r.operations) s += fmt::format("    #{} {}\n", i, DescribeOperation(history[i]));
  }
  return s;
}

// A pending Put or Append whose value no completed Get of the key returned
// (not even inside an appended value) can always be linearized last, after
// every other operation: nothing observes it there. And any linearization
// that places it earlier stays legal with it moved last, since no read sees
// the state it makes before a later Put replaces it. So the search may leave
// it out, which keeps timed-out writes from multiplying the states. Cas
// breaks the argument (a failed Cas may need such a write before it), so a
// key with a Cas keeps all its operations.
void PruneUnobservedPendingWrites(const std::vector<KvOperation>& history, std::vector<size_t>* ops) {
  std::vector<const std::string*> outputs;
  for (size_t i : *ops) {
    const KvOperation& op = history[i];
    if (op.kind == KvOpKind::kCas) return;
    if (op.kind == KvOpKind::kGet && !op.pending() && op.output) outputs.push_back(&*op.output);
  }
  auto observed = [&](const std::string& v) {
    return std::any_of(outputs.begin(), outputs.end(),
                       [&](const std::string* out) { return out->find(v) != std::string::npos; });
  };
  std::erase_if(*ops, [&](size_t i) {
    const KvOperation& op = history[i];
    return op.pending() && (op.kind == KvOpKind::kPut || op.kind == KvOpKind::kAppend) && !observed(op.value);
  });
}

}  // namespace

std::string DescribeOperation(const KvOperation& op) {
  std::string call;
  switch (op.kind) {
    case KvOpKind::kPut:
      call = fmt::format("Put({}, {})", op.key, Show(op.value));
      break;
    case KvOpKind::kAppend:
      call = fmt::format("Append({}, {})", op.key, Show(op.value));
      break;
    case KvOpKind::kCas:
      call = fmt::format("Cas({}, {}, {})", op.key, Show(op.expected), Show(op.value));
      if (!op.pending()) call += op.cas_ok ? " -> ok" : " -> failed";
      break;
    case KvOpKind::kGet:
      call = fmt::format("Get({})", op.key);
      if (!op.pending()) call += " -> " + Show(op.output);
      break;
  }
  return fmt::format("c{} {} [{}, {}]", op.client, call, op.invoke,
                     op.pending() ? std::string("pending") : fmt::format("{}", op.response));
}

CheckResult CheckLinearizability(const std::vector<KvOperation>& history, const CheckOptions& options) {
  std::map<std::string, std::vector<size_t>> by_key;
  for (size_t i = 0; i < history.size(); ++i) {
    const KvOperation& op = history[i];
    if (op.response < op.invoke) {
      fmt::print(stderr, "CheckLinearizability: operation #{} returns before it is invoked: {}\n", i,
                 DescribeOperation(op));
      std::abort();
    }
    // A read that never returned constrains nothing.
    if (op.pending() && op.kind == KvOpKind::kGet) continue;
    by_key[op.key].push_back(i);
  }
  CheckResult result;
  for (auto& [key, ops] : by_key) {
    PruneUnobservedPendingWrites(history, &ops);
    std::stable_sort(ops.begin(), ops.end(),
                     [&](size_t a, size_t b) { return history[a].invoke < history[b].invoke; });
    KeySearch search(history, ops, options.max_steps - result.steps);
    const KeySearch::Verdict verdict = search.Run();
    result.steps += search.steps();
    ++result.keys_checked;
    if (verdict == KeySearch::Verdict::kOk) continue;
    result.key = key;
    result.operations = ops;
    if (verdict == KeySearch::Verdict::kOutOfBudget) {
      result.outcome = CheckResult::Outcome::kUnknown;
      result.description = fmt::format("unknown: the search passed its bound of {} steps on key \"{}\" ({} operations)",
                                       options.max_steps, key, ops.size());
      return result;
    }
    result.outcome = CheckResult::Outcome::kNotLinearizable;
    result.longest_prefix = search.best_prefix();
    result.stuck_candidates = search.best_candidates();
    result.description = DescribeFailure(history, result, search.best_blocker());
    return result;
  }
  return result;
}

}  // namespace cfs::testing
