#include "testing/linearizability.h"

#include <algorithm>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cfs::testing {
namespace {

constexpr int64_t kPending = KvOperation::kPending;

KvOperation Put(int client, std::string key, std::string value, int64_t invoke, int64_t response) {
  KvOperation op;
  op.client = client;
  op.kind = KvOpKind::kPut;
  op.key = std::move(key);
  op.value = std::move(value);
  op.invoke = invoke;
  op.response = response;
  return op;
}

KvOperation Append(int client, std::string key, std::string value, int64_t invoke, int64_t response) {
  KvOperation op = Put(client, std::move(key), std::move(value), invoke, response);
  op.kind = KvOpKind::kAppend;
  return op;
}

KvOperation Get(int client, std::string key, std::optional<std::string> output, int64_t invoke, int64_t response) {
  KvOperation op;
  op.client = client;
  op.kind = KvOpKind::kGet;
  op.key = std::move(key);
  op.output = std::move(output);
  op.invoke = invoke;
  op.response = response;
  return op;
}

KvOperation Cas(int client, std::string key, std::optional<std::string> expected, std::string value, bool ok,
                int64_t invoke, int64_t response) {
  KvOperation op = Put(client, std::move(key), std::move(value), invoke, response);
  op.kind = KvOpKind::kCas;
  op.expected = std::move(expected);
  op.cas_ok = ok;
  return op;
}

bool Linearizable(const std::vector<KvOperation>& h) {
  CheckResult r = CheckLinearizability(h);
  EXPECT_NE(r.outcome, CheckResult::Outcome::kUnknown) << r.description;
  return r.ok();
}

// --- Accepted ----------------------------------------------------------------

TEST(LinearizabilityTest, EmptyHistoryIsLinearizable) { EXPECT_TRUE(Linearizable({})); }

TEST(LinearizabilityTest, SequentialPutsAndGetsAreLinearizable) {
  EXPECT_TRUE(Linearizable({
      Get(1, "x", std::nullopt, 0, 1),
      Put(1, "x", "1", 2, 3),
      Get(2, "x", "1", 4, 5),
      Put(2, "x", "2", 6, 7),
      Get(1, "x", "2", 8, 9),
  }));
}

TEST(LinearizabilityTest, ConcurrentWritesMayTakeEffectInEitherOrder) {
  std::vector<KvOperation> h = {Put(1, "x", "1", 0, 10), Put(2, "x", "2", 0, 10)};
  h.push_back(Get(3, "x", "1", 11, 12));
  EXPECT_TRUE(Linearizable(h));
  h.back() = Get(3, "x", "2", 11, 12);
  EXPECT_TRUE(Linearizable(h));
}

TEST(LinearizabilityTest, ReadConcurrentWithWriteMaySeeOldOrNewValue) {
  EXPECT_TRUE(Linearizable({
      Put(1, "x", "1", 0, 10),
      Get(2, "x", std::nullopt, 1, 2),
      Get(2, "x", "1", 3, 4),
  }));
}

TEST(LinearizabilityTest, EqualTimesCountAsConcurrent) {
  EXPECT_TRUE(Linearizable({Put(1, "x", "1", 0, 5), Get(2, "x", std::nullopt, 5, 6)}));
}

TEST(LinearizabilityTest, KeysAreIndependentRegisters) {
  CheckResult r = CheckLinearizability({
      Put(1, "x", "1", 0, 1),
      Get(2, "y", std::nullopt, 2, 3),
      Put(1, "y", "1", 4, 5),
      Get(2, "x", "1", 6, 7),
  });
  EXPECT_TRUE(r.ok()) << r.description;
  EXPECT_EQ(r.keys_checked, 2u);
}

TEST(LinearizabilityTest, ConcurrentAppendsComposeInSomeOrder) {
  std::vector<KvOperation> h = {Append(1, "x", "a", 0, 10), Append(2, "x", "b", 0, 10), Get(3, "x", "ba", 11, 12)};
  EXPECT_TRUE(Linearizable(h));
  h.back() = Get(3, "x", "ab", 11, 12);
  EXPECT_TRUE(Linearizable(h));
  h.back() = Get(3, "x", "abb", 11, 12);
  EXPECT_FALSE(Linearizable(h));
}

TEST(LinearizabilityTest, OneOfTwoConcurrentCasFromAbsentSucceeds) {
  EXPECT_TRUE(Linearizable({
      Cas(1, "x", std::nullopt, "1", true, 0, 10),
      Cas(2, "x", std::nullopt, "2", false, 0, 10),
      Get(3, "x", "1", 11, 12),
  }));
  EXPECT_FALSE(Linearizable({
      Cas(1, "x", std::nullopt, "1", true, 0, 10),
      Cas(2, "x", std::nullopt, "2", true, 0, 10),
  }));
}

// --- Rejected ----------------------------------------------------------------

TEST(LinearizabilityTest, StaleReadAfterCompletedWriteIsRejected) {
  std::vector<KvOperation> h = {
      Put(1, "x", "1", 0, 1),
      Put(1, "x", "2", 2, 3),
      Get(2, "x", "1", 4, 5),
  };
  CheckResult r = CheckLinearizability(h);
  ASSERT_EQ(r.outcome, CheckResult::Outcome::kNotLinearizable);
  EXPECT_EQ(r.key, "x");
  EXPECT_EQ(r.operations, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(r.longest_prefix, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(r.stuck_candidates, (std::vector<size_t>{2}));
  // The description names the key and the operations that cannot be ordered.
  EXPECT_NE(r.description.find("key \"x\""), std::string::npos) << r.description;
  EXPECT_NE(r.description.find("c2 Get(x) -> \"1\" [4, 5]"), std::string::npos) << r.description;
  EXPECT_NE(r.description.find("c1 Put(x, \"2\") [2, 3]"), std::string::npos) << r.description;
}

TEST(LinearizabilityTest, ReadOfValueNeverWrittenIsRejected) {
  EXPECT_FALSE(Linearizable({Put(1, "x", "1", 0, 1), Get(2, "x", "7", 0, 5)}));
}

TEST(LinearizabilityTest, ReadOfAbsentAfterCompletedWriteIsRejected) {
  EXPECT_FALSE(Linearizable({Put(1, "x", "1", 0, 1), Get(2, "x", std::nullopt, 2, 3)}));
}

TEST(LinearizabilityTest, NewThenOldReadDuringOneWriteIsRejected) {
  // Once a read saw the new value, a later read may not see the old one,
  // even while the write is still in flight.
  EXPECT_FALSE(Linearizable({
      Put(1, "x", "1", 0, 10),
      Get(2, "x", "1", 1, 2),
      Get(3, "x", std::nullopt, 3, 4),
  }));
}

TEST(LinearizabilityTest, TwoReadersSeeingWritesInOppositeOrdersIsRejected) {
  std::vector<KvOperation> h = {
      Put(1, "x", "1", 0, 100),
      Put(2, "x", "2", 0, 100),
      Get(3, "x", "1", 10, 11),
      Get(3, "x", "2", 20, 21),
      Get(4, "x", "2", 10, 11),
      Get(4, "x", "1", 20, 21),
  };
  EXPECT_FALSE(Linearizable(h));
  // Either reader alone is fine.
  EXPECT_TRUE(Linearizable({h[0], h[1], h[2], h[3]}));
  EXPECT_TRUE(Linearizable({h[0], h[1], h[4], h[5]}));
}

TEST(LinearizabilityTest, ViolationOnOneKeyIsReportedUnderThatKey) {
  CheckResult r = CheckLinearizability({
      Put(1, "a", "1", 0, 1),
      Get(1, "a", "1", 2, 3),
      Put(1, "b", "1", 0, 1),
      Get(2, "b", std::nullopt, 2, 3),
      Put(1, "c", "1", 0, 1),
  });
  ASSERT_EQ(r.outcome, CheckResult::Outcome::kNotLinearizable);
  EXPECT_EQ(r.key, "b");
  EXPECT_EQ(r.operations, (std::vector<size_t>{2, 3}));
}

// --- Pending operations -------------------------------------------------------

TEST(LinearizabilityTest, PendingWriteMayTakeEffectLongAfterItsInvoke) {
  EXPECT_TRUE(Linearizable({
      Put(1, "x", "1", 0, kPending),
      Get(2, "x", std::nullopt, 5, 6),
      Get(2, "x", "1", 100, 101),
  }));
}

TEST(LinearizabilityTest, PendingWriteMayNeverTakeEffect) {
  EXPECT_TRUE(Linearizable({
      Put(1, "x", "1", 0, kPending),
      Get(2, "x", std::nullopt, 100, 101),
  }));
}

TEST(LinearizabilityTest, PendingWriteCannotTakeEffectBeforeItsInvoke) {
  EXPECT_FALSE(Linearizable({
      Get(2, "x", "1", 0, 1),
      Put(1, "x", "1", 5, kPending),
  }));
}

TEST(LinearizabilityTest, PendingWriteTakesEffectAtMostOnce) {
  EXPECT_FALSE(Linearizable({
      Put(1, "x", "1", 0, 1),
      Put(2, "x", "2", 2, kPending),
      Put(1, "x", "3", 3, 4),
      Get(3, "x", "2", 5, 6),
      Get(3, "x", "3", 7, 8),
  }));
}

TEST(LinearizabilityTest, PendingReadConstrainsNothing) {
  EXPECT_TRUE(Linearizable({
      Put(1, "x", "1", 0, 1),
      Get(2, "x", std::nullopt, 2, kPending),
  }));
}

TEST(LinearizabilityTest, PendingCasMayOrMayNotApply) {
  std::vector<KvOperation> h = {
      Put(1, "x", "1", 0, 1),
      Cas(2, "x", "1", "2", false, 2, kPending),  // outcome unknown: cas_ok ignored
      Get(3, "x", "2", 10, 11),
  };
  EXPECT_TRUE(Linearizable(h));
  h.back() = Get(3, "x", "1", 10, 11);
  EXPECT_TRUE(Linearizable(h));
}

TEST(LinearizabilityTest, ManyUnreadPendingWritesDoNotBlowUpTheSearch) {
  // Timed-out writes that took effect but were overwritten before any read:
  // each may go anywhere after its invoke; the search must not try them all.
  std::vector<KvOperation> h;
  int64_t t = 0;
  for (int i = 0; i < 40; ++i) {
    h.push_back(Put(1, "x", "p" + std::to_string(i) + ";", t, kPending));
    h.push_back(Put(2, "x", "v" + std::to_string(i) + ";", t + 1, t + 3));
    h.push_back(Get(3, "x", "v" + std::to_string(i) + ";", t + 4, t + 5));
    t += 10;
  }
  CheckOptions options;
  options.max_steps = 100'000;
  CheckResult r = CheckLinearizability(h, options);
  EXPECT_TRUE(r.ok()) << r.description;
  EXPECT_LT(r.steps, 1'000u);
}

TEST(LinearizabilityTest, PendingWriteSeenInsideAnAppendedValueIsKept) {
  // The pending Put is observed as the prefix of a later read: it must take
  // effect before the Append, and a read of the Append alone is then stale.
  std::vector<KvOperation> h = {
      Put(1, "x", "w;", 0, kPending),
      Append(2, "x", "a;", 5, 6),
      Get(3, "x", "w;a;", 7, 8),
  };
  EXPECT_TRUE(Linearizable(h));
  h.push_back(Get(3, "x", "a;", 9, 10));
  EXPECT_FALSE(Linearizable(h));
}

TEST(LinearizabilityTest, PendingWriteMayExplainAFailedCas) {
  // Without the pending Put the Cas would have succeeded: with Cas on the
  // key nothing is left out of the search.
  EXPECT_TRUE(Linearizable({
      Put(1, "x", "a", 0, 1),
      Put(2, "x", "w", 2, kPending),
      Cas(3, "x", "a", "b", false, 5, 6),
  }));
  EXPECT_FALSE(Linearizable({
      Put(1, "x", "a", 0, 1),
      Cas(3, "x", "a", "b", false, 5, 6),
  }));
}

// --- Bounded work ------------------------------------------------------------

TEST(LinearizabilityTest, SearchPastItsBoundAnswersUnknown) {
  // 60 concurrent writes then a read of a value none wrote: proving that
  // takes exploring every subset, far more than the bound allows.
  std::vector<KvOperation> h;
  for (int i = 0; i < 60; ++i) h.push_back(Put(i, "x", std::to_string(i), 0, 100));
  h.push_back(Get(99, "x", "none", 101, 102));
  CheckOptions options;
  options.max_steps = 10'000;
  CheckResult r = CheckLinearizability(h, options);
  EXPECT_EQ(r.outcome, CheckResult::Outcome::kUnknown);
  EXPECT_LE(r.steps, options.max_steps + 1);
  EXPECT_NE(r.description.find("unknown"), std::string::npos);
}

// --- Generated histories -----------------------------------------------------

std::string UniqueValue(int client, int i) { return std::to_string(client) + "." + std::to_string(i) + ";"; }

// Builds a history that is linearizable by construction: each op takes effect
// on a real register at a point inside its interval. Some ops are left pending
// (their effect may or may not have happened).
std::vector<KvOperation> GenerateLinearizable(uint64_t seed, int clients, int ops_per_client, int keys) {
  std::mt19937_64 rng(seed);
  struct Planned {
    KvOperation op;
    int64_t point;       // when it takes effect
    bool applies = true;  // a pending write may never apply
  };
  std::vector<Planned> planned;
  for (int c = 0; c < clients; ++c) {
    int64_t t = static_cast<int64_t>(rng() % 5);
    for (int i = 0; i < ops_per_client; ++i) {
      KvOperation op;
      op.client = c;
      op.key = "k" + std::to_string(rng() % keys);
      const int kind = static_cast<int>(rng() % 4);
      op.kind = kind == 1 ? KvOpKind::kAppend : kind == 2 ? KvOpKind::kPut : KvOpKind::kGet;
      op.value = UniqueValue(c, i);
      op.invoke = t;
      const int64_t len = 1 + static_cast<int64_t>(rng() % 20);
      op.response = t + len;
      const int64_t point = t + static_cast<int64_t>(rng() % (len + 1));
      Planned p{op, point};
      if (rng() % 30 == 0) {  // the caller gave up: pending from now on
        p.op.response = kPending;
        p.applies = rng() % 2 == 0;
        planned.push_back(p);
        break;
      }
      planned.push_back(p);
      t = op.response + 1 + static_cast<int64_t>(rng() % 3);
    }
  }
  std::vector<size_t> order(planned.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return planned[a].point < planned[b].point; });
  std::map<std::string, std::string> reg;
  for (size_t i : order) {
    KvOperation& op = planned[i].op;
    if (!planned[i].applies) continue;
    switch (op.kind) {
      case KvOpKind::kPut:
        reg[op.key] = op.value;
        break;
      case KvOpKind::kAppend:
        reg[op.key] += op.value;
        break;
      case KvOpKind::kGet: {
        auto it = reg.find(op.key);
        op.output = it == reg.end() ? std::nullopt : std::optional<std::string>(it->second);
        break;
      }
      case KvOpKind::kCas:
        break;
    }
  }
  std::vector<KvOperation> h;
  for (const Planned& p : planned) h.push_back(p.op);
  return h;
}

TEST(LinearizabilityTest, GeneratedLinearizableHistoriesAreAccepted) {
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::vector<KvOperation> h = GenerateLinearizable(seed, 5, 40, 3);
    CheckResult r = CheckLinearizability(h);
    ASSERT_TRUE(r.ok()) << "seed " << seed << ": " << r.description;
  }
}

TEST(LinearizabilityTest, GeneratedHistoryWithOneCorruptedReadIsRejected) {
  int rejected = 0;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    std::vector<KvOperation> h = GenerateLinearizable(seed, 5, 40, 3);
    auto it = std::find_if(h.begin(), h.end(),
                           [](const KvOperation& op) { return op.kind == KvOpKind::kGet && !op.pending(); });
    if (it == h.end()) continue;
    it->output = "never-written";
    CheckResult r = CheckLinearizability(h);
    ASSERT_EQ(r.outcome, CheckResult::Outcome::kNotLinearizable) << "seed " << seed;
    EXPECT_EQ(r.key, it->key);
    ++rejected;
  }
  EXPECT_GT(rejected, 150);
}

}  // namespace
}  // namespace cfs::testing
