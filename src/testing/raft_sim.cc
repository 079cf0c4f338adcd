#include "testing/raft_sim.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <utility>
#include <variant>

#include <fmt/format.h>

#include "common/coding.h"
#include "proto/raft.pb.h"
#include "raft/raft.h"

namespace cfs::testing {

std::string_view SimFaultName(SimFault fault) {
  switch (fault) {
    case SimFault::kDrop: return "drop";
    case SimFault::kDelay: return "delay";
    case SimFault::kDuplicate: return "duplicate";
    case SimFault::kReorder: return "reorder";
    case SimFault::kPartition: return "partition";
    case SimFault::kAsymmetricPartition: return "asymmetric";
    case SimFault::kIsolateLeader: return "isolate-leader";
    case SimFault::kCrash: return "crash";
    case SimFault::kMembership: return "membership";
    case SimFault::kSnapshot: return "snapshot";
    case SimFault::kLeaderTransfer: return "transfer";
    case SimFault::kLeaseReads: return "lease-reads";
    case SimFault::kCount: break;
  }
  return "?";
}

void SimStats::Add(const SimStats& o) {
  runs += o.runs;
  ticks += o.ticks;
  messages_delivered += o.messages_delivered;
  messages_dropped += o.messages_dropped;
  messages_duplicated += o.messages_duplicated;
  partitions += o.partitions;
  crashes += o.crashes;
  crashes_mid_ready += o.crashes_mid_ready;
  unsynced_records_lost += o.unsynced_records_lost;
  restarts += o.restarts;
  elections += o.elections;
  leader_transfers += o.leader_transfers;
  conf_changes += o.conf_changes;
  compactions += o.compactions;
  snapshots_sent += o.snapshots_sent;
  snapshots_installed += o.snapshots_installed;
  writes_ok += o.writes_ok;
  reads_index_ok += o.reads_index_ok;
  reads_log_ok += o.reads_log_ok;
  ops_pending += o.ops_pending;
  ops_checked += o.ops_checked;
  checker_steps += o.checker_steps;
  for (size_t i = 0; i < faults.size(); ++i) faults[i] += o.faults[i];
}

std::string SimStats::ToString() const {
  std::string s = fmt::format(
      "runs {}, ticks {}\n"
      "messages: {} delivered, {} dropped, {} duplicated; link cuts {}\n"
      "crashes {} ({} inside a Ready), unsynced records lost {}, restarts {}\n"
      "elections {}, leader transfers {}, conf changes {}, compactions {}, snapshots sent {} / installed {}\n"
      "client ops: {} writes ok, {} ReadIndex reads ok, {} log reads ok, {} pending; {} ops checked "
      "({} checker steps)\n"
      "scenario kinds:",
      runs, ticks, messages_delivered, messages_dropped, messages_duplicated, partitions, crashes, crashes_mid_ready,
      unsynced_records_lost, restarts, elections, leader_transfers, conf_changes, compactions, snapshots_sent,
      snapshots_installed, writes_ok, reads_index_ok, reads_log_ok, ops_pending, ops_checked, checker_steps);
  for (size_t i = 0; i < faults.size(); ++i) {
    s += fmt::format(" {} {}", SimFaultName(static_cast<SimFault>(i)), faults[i]);
  }
  return s;
}

namespace {

constexpr int64_t kTickUnits = 10;        // sim time units per raft tick
constexpr uint64_t kClientBase = 1000;    // endpoint id of client c: kClientBase + c
constexpr int kCheckpointTicks = 100;     // log matching is checked this often
constexpr uint64_t kCheckerMaxSteps = 5'000'000;

// ---- Disk -------------------------------------------------------------------

// What a host persisted for its node: the Ready contract's three parts.
struct DiskState {
  proto::HardState hard_state;
  proto::SnapshotMeta snapshot;
  std::string snapshot_data;
  std::vector<proto::Entry> entries;  // entries[i].index() == snapshot.index() + 1 + i

  uint64_t LastIndex() const { return snapshot.index() + entries.size(); }
  const proto::Entry* At(uint64_t index) const {
    if (index <= snapshot.index() || index > LastIndex()) return nullptr;
    return &entries[index - snapshot.index() - 1];
  }
  // 0 when the index is neither in the log nor the snapshot's last.
  uint64_t TermAt(uint64_t index) const {
    if (index == snapshot.index()) return snapshot.term();
    const proto::Entry* e = At(index);
    return e ? e->term() : 0;
  }
};

struct DiskRecord {
  enum class Kind : uint8_t { kEntries, kHardState, kSnapshot } kind;
  std::vector<proto::Entry> entries;
  proto::HardState hard_state;
  proto::SnapshotMeta snapshot;
  std::string snapshot_data;
};

// Applies `r` to `d`. With `check`, returns what the write would break (an
// invariant of the core's Ready) instead of applying it; empty when fine.
std::string ApplyRecord(DiskState& d, const DiskRecord& r, bool check) {
  switch (r.kind) {
    case DiskRecord::Kind::kEntries: {
      const uint64_t first = r.entries.front().index();
      if (check) {
        if (first <= d.snapshot.index()) {
          return fmt::format("Ready.entries start at {}, at or below the snapshot at {}", first, d.snapshot.index());
        }
        if (first > d.LastIndex() + 1) {
          return fmt::format("Ready.entries start at {} but the log ends at {} (a gap)", first, d.LastIndex());
        }
        for (size_t i = 0; i < r.entries.size(); ++i) {
          if (r.entries[i].index() != first + i) return fmt::format("Ready.entries not contiguous at {}", first + i);
          if (i > 0 && r.entries[i].term() < r.entries[i - 1].term()) {
            return fmt::format("Ready.entries terms decrease at {}", first + i);
          }
        }
        if (first > d.snapshot.index() + 1 && d.TermAt(first - 1) > r.entries.front().term()) {
          return fmt::format("entry {} of term {} follows an entry of term {}", first, r.entries.front().term(),
                             d.TermAt(first - 1));
        }
        // A committed entry is never replaced by a different one (§3.5).
        for (uint64_t i = first; i <= std::min(d.LastIndex(), d.hard_state.commit()); ++i) {
          if (d.TermAt(i) != r.entries[i - first].term()) {
            return fmt::format("overwrites committed entry {} (term {}, commit {}) with one of term {}", i,
                               d.TermAt(i), d.hard_state.commit(), r.entries[i - first].term());
          }
        }
        return {};
      }
      d.entries.resize(first - d.snapshot.index() - 1);
      d.entries.insert(d.entries.end(), r.entries.begin(), r.entries.end());
      return {};
    }
    case DiskRecord::Kind::kHardState: {
      const proto::HardState& o = d.hard_state;
      const proto::HardState& n = r.hard_state;
      if (check) {
        if (n.term() < o.term()) return fmt::format("hard state term goes back from {} to {}", o.term(), n.term());
        if (n.term() == o.term() && o.vote() != 0 && n.vote() != o.vote()) {
          return fmt::format("vote in term {} changes from {} to {} (§3.4: one vote per term)", n.term(), o.vote(),
                             n.vote());
        }
        if (n.commit() < o.commit()) return fmt::format("commit goes back from {} to {}", o.commit(), n.commit());
        return {};
      }
      d.hard_state = n;
      return {};
    }
    case DiskRecord::Kind::kSnapshot: {
      if (check) {
        if (r.snapshot.index() < d.snapshot.index()) {
          return fmt::format("snapshot at {} older than the persisted one at {}", r.snapshot.index(),
                             d.snapshot.index());
        }
        return {};
      }
      // Entries after the snapshot survive only if the log agrees with it at
      // its last index (§5.x: "retain log entries following it").
      const uint64_t idx = r.snapshot.index();
      std::vector<proto::Entry> rest;
      if (d.TermAt(idx) == r.snapshot.term() && idx <= d.LastIndex()) {
        rest.assign(d.entries.begin() + static_cast<ptrdiff_t>(idx - d.snapshot.index()), d.entries.end());
      }
      d.entries = std::move(rest);
      d.snapshot = r.snapshot;
      d.snapshot_data = r.snapshot_data;
      return {};
    }
  }
  std::abort();
}

// ---- The key-value state machine ----------------------------------------

struct Command {
  int client = 0;
  uint64_t req = 0;
  KvOpKind kind = KvOpKind::kGet;
  std::string key;
  std::string value;
};

void PutString(std::string* out, std::string_view s) {
  PutVarint64(out, s.size());
  out->append(s);
}

std::optional<std::string> GetString(std::string_view* in) {
  std::optional<uint64_t> n = GetVarint64(in);
  if (!n || *n > in->size()) return std::nullopt;
  std::string s(in->substr(0, *n));
  in->remove_prefix(*n);
  return s;
}

std::string EncodeCommand(const Command& c) {
  std::string out;
  PutVarint64(&out, static_cast<uint64_t>(c.client));
  PutVarint64(&out, c.req);
  PutVarint64(&out, static_cast<uint64_t>(c.kind));
  PutString(&out, c.key);
  PutString(&out, c.value);
  return out;
}

std::optional<Command> DecodeCommand(std::string_view in) {
  Command c;
  auto client = GetVarint64(&in);
  auto req = GetVarint64(&in);
  auto kind = GetVarint64(&in);
  auto key = GetString(&in);
  auto value = GetString(&in);
  if (!client || !req || !kind || *kind > static_cast<uint64_t>(KvOpKind::kGet) || !key || !value || !in.empty()) {
    return std::nullopt;
  }
  c.client = static_cast<int>(*client);
  c.req = *req;
  c.kind = static_cast<KvOpKind>(*kind);
  c.key = std::move(*key);
  c.value = std::move(*value);
  return c;
}

// A map with per-client sessions (§6.3): a client's request applies at most
// once; a repeat of its latest request gets the recorded answer.
struct KvStore {
  struct Session {
    uint64_t req = 0;
    std::optional<std::string> result;
  };
  std::map<std::string, std::string> data;
  std::map<int, Session> sessions;

  struct Outcome {
    bool effective = false;  // first application
    bool answer = false;     // the proposer may be told `result`
    std::optional<std::string> result;
  };

  std::optional<std::string> Get(const std::string& key) const {
    auto it = data.find(key);
    return it == data.end() ? std::nullopt : std::optional<std::string>(it->second);
  }

  Outcome Apply(const Command& c) {
    Session& s = sessions[c.client];
    if (c.req <= s.req) return Outcome{false, c.req == s.req, s.req == c.req ? s.result : std::nullopt};
    std::optional<std::string> result;
    switch (c.kind) {
      case KvOpKind::kPut:
        data[c.key] = c.value;
        break;
      case KvOpKind::kAppend:
        data[c.key] += c.value;
        break;
      case KvOpKind::kGet:
        result = Get(c.key);
        break;
      case KvOpKind::kCas:
        break;
    }
    s = Session{c.req, result};
    return Outcome{true, true, std::move(result)};
  }

  std::string Serialize() const {
    std::string out;
    PutVarint64(&out, data.size());
    for (const auto& [k, v] : data) {
      PutString(&out, k);
      PutString(&out, v);
    }
    PutVarint64(&out, sessions.size());
    for (const auto& [c, s] : sessions) {
      PutVarint64(&out, static_cast<uint64_t>(c));
      PutVarint64(&out, s.req);
      PutVarint64(&out, s.result ? 1 : 0);
      PutString(&out, s.result.value_or(""));
    }
    return out;
  }

  static std::optional<KvStore> Parse(std::string_view in) {
    KvStore kv;
    auto n = GetVarint64(&in);
    if (!n) return std::nullopt;
    for (uint64_t i = 0; i < *n; ++i) {
      auto k = GetString(&in);
      auto v = GetString(&in);
      if (!k || !v) return std::nullopt;
      kv.data[*k] = *v;
    }
    auto m = GetVarint64(&in);
    if (!m) return std::nullopt;
    for (uint64_t i = 0; i < *m; ++i) {
      auto c = GetVarint64(&in);
      auto req = GetVarint64(&in);
      auto has = GetVarint64(&in);
      auto r = GetString(&in);
      if (!c || !req || !has || !r) return std::nullopt;
      kv.sessions[static_cast<int>(*c)] = Session{*req, *has ? std::optional<std::string>(*r) : std::nullopt};
    }
    if (!in.empty()) return std::nullopt;
    return kv;
  }
};

// ---- Network payloads --------------------------------------------------------

enum class ReplyStatus : uint8_t { kOk, kNotLeader, kRetry };

struct ClientRequest {
  int client = 0;
  uint64_t req = 0;
  uint32_t attempt = 0;
  KvOpKind kind = KvOpKind::kGet;
  bool via_log = false;
  std::string key;
  std::string value;
};

struct ClientReply {
  int client = 0;
  uint64_t req = 0;
  uint32_t attempt = 0;
  ReplyStatus status = ReplyStatus::kOk;
  std::optional<std::string> value;
  uint64_t leader_hint = 0;
  bool via_read_index = false;
};

// A call the host makes on its own core after the fact (transport news).
struct LocalReport {
  enum class Kind : uint8_t { kUnreachable, kSnapshotOk, kSnapshotFailed } kind;
  uint64_t node = 0;
};

struct Envelope {
  uint64_t from = 0;
  uint64_t to = 0;
  std::variant<proto::Message, ClientRequest, ClientReply, LocalReport> body;
  std::string snapshot_data;  // with MSG_SNAPSHOT: the state machine snapshot
};

// ---- Trace -------------------------------------------------------------------

struct TraceEvent {
  int64_t time = 0;
  char kind = 0;
  uint64_t a = 0, b = 0, c = 0, d = 0, e = 0, f = 0;
};

std::string FormatTrace(const TraceEvent& t) {
  auto msg = [&](const char* what) {
    return fmt::format("{} {}->{} {} term={} index={} log_term={} commit={} entries={} reject={}", what, t.a, t.b,
                       proto::MessageType_Name(static_cast<proto::MessageType>(t.c & 0xff)), t.d, t.e, t.f >> 32,
                       t.f & 0xffffffff, (t.c >> 16), (t.c >> 8) & 1);
  };
  std::string s = fmt::format("t={:>6} ", t.time);
  switch (t.kind) {
    case 'D': return s + msg("deliver");
    case 'X': return s + msg("drop");
    case 'R':
      return s + fmt::format("ready n{} term={} commit={} +entries={} msgs={} apply={} snap={}", t.a, t.b, t.c, t.d,
                             t.e >> 32, t.e & 0xffffffff, t.f);
    case 'L': return s + fmt::format("leader n{} term={} last={}", t.a, t.b, t.c);
    case 'C': return s + fmt::format("crash n{} point={} unsynced records lost={} kept={}", t.a, t.b, t.c, t.d);
    case 'S': return s + fmt::format("restart n{} term={} commit={} last={} snap={}", t.a, t.b, t.c, t.d, t.e);
    case 'N': {
      static const char* kNames[] = {"cut", "heal-cut", "heal-all"};
      return s + fmt::format("net {} {}->{}", kNames[std::min<uint64_t>(t.a, 2)], t.b, t.c);
    }
    case 'I':
      return s + fmt::format("client c{} req={} invoke kind={} to n{} via_log={}", t.a, t.b, t.c, t.d, t.e);
    case 'O': return s + fmt::format("client c{} req={} ok (attempt {}) from n{}", t.a, t.b, t.c, t.d);
    case 'T': return s + fmt::format("client c{} req={} timed out", t.a, t.b);
    case 'P':
      return s + fmt::format("conf change proposed by n{}: {} n{} -> {}", t.a,
                             proto::ConfChangeType_Name(static_cast<proto::ConfChangeType>(t.b)), t.c,
                             t.d ? "ok" : "refused");
    case 'K': return s + fmt::format("compact n{} through {} keep={}", t.a, t.b, t.c);
    case 'F': return s + fmt::format("transfer leadership n{} -> n{}: {}", t.a, t.b, t.c ? "ok" : "refused");
    case 'H': return s + "heal everything";
    case 'A': return s + fmt::format("apply n{} conf change at {}", t.a, t.b);
    default: return s + fmt::format("{} {} {} {} {}", t.kind, t.a, t.b, t.c, t.d);
  }
}

// ---- Scenario ----------------------------------------------------------------

struct Scenario {
  std::array<bool, static_cast<size_t>(SimFault::kCount)> on{};
  int voters = 3;
  int spares = 0;
  int clients = 3;
  int keys = 3;
  double drop = 0;
  double client_drop = 0;
  double dup = 0;
  double delay_prob = 0;
  int delay_max = 0;
  int jitter = 5;  // base delay in [1, jitter]
  double slow_sync = 0;
  int sync_max = 0;
  int election_ticks = 10;
  int heartbeat_ticks = 1;
  bool pre_vote = true;
  bool check_quorum = true;
  bool lease = false;
  int snapshot_interval = 0;
  int keep = 0;
  int log_reads_pct = 25;
  int follower_reads_pct = 25;
  bool Has(SimFault f) const { return on[static_cast<size_t>(f)]; }

  std::string Describe() const {
    std::string kinds;
    for (size_t i = 0; i < on.size(); ++i) {
      if (on[i]) kinds += fmt::format("{}{}", kinds.empty() ? "" : ",", SimFaultName(static_cast<SimFault>(i)));
    }
    return fmt::format(
        "[{}] voters={} spares={} clients={} keys={} drop={:.3f} dup={:.3f} delay={:.2f}/{} jitter={} "
        "slow_sync={:.2f}/{} election={} heartbeat={} pre_vote={} check_quorum={} lease={} snapshot_every={} keep={}",
        kinds.empty() ? "none" : kinds, voters, spares, clients, keys, drop, dup, delay_prob, delay_max, jitter,
        slow_sync, sync_max, election_ticks, heartbeat_ticks, pre_vote, check_quorum, lease, snapshot_interval, keep);
  }
};

}  // namespace

// ---- The simulation ----------------------------------------------------------

struct RaftSim::Impl {
  struct Event {
    int64_t time;
    uint64_t seq;
    std::function<void()> fn;
  };
  struct EventLater {
    bool operator()(const Event& a, const Event& b) const {
      return std::tie(a.time, a.seq) > std::tie(b.time, b.seq);
    }
  };

  struct Waiter {
    uint64_t term = 0;
    int client = 0;
    uint64_t req = 0;
    uint32_t attempt = 0;
  };
  struct PendingRead {
    int client = 0;
    uint64_t req = 0;
    uint32_t attempt = 0;
    std::string key;
  };

  struct Node {
    NodeId id;
    bool started = false;
    bool up = false;
    bool retired = false;  // removed from the group and shut down by its host
    uint64_t incarnation = 0;
    int64_t phase = 0;
    std::unique_ptr<raft::Raft> raft;
    proto::ConfState initial_conf;
    DiskState synced;
    DiskState current;  // synced + unsynced
    std::vector<DiskRecord> unsynced;
    int sync_latency = -1;  // -1: the scenario decides
    // Volatile host state, lost in a crash.
    KvStore kv;
    uint64_t kv_applied = 0;
    uint64_t applied_term = 0;
    proto::ConfState applied_conf;
    bool busy = false;  // a Ready is being fsynced
    std::deque<Envelope> inbox;
    int pending_ticks = 0;
    std::map<uint64_t, Waiter> waiters;                        // by log index
    std::map<std::string, PendingRead> reads_by_ctx;           // ReadIndex asked
    std::vector<std::pair<uint64_t, PendingRead>> ready_reads;  // ReadState got; wait for apply
    std::map<uint64_t, std::string> snapshot_in;               // MSG_SNAPSHOT data by index
    uint64_t read_seq = 0;
    std::optional<CrashPoint> crash_point;
  };

  struct Client {
    int id = 0;
    bool automatic = false;
    bool in_flight = false;
    bool follow_redirects = true;
    size_t op = 0;  // index in history_
    uint64_t next_req = 0;
    uint64_t req = 0;
    uint32_t attempt = 0;
    ClientRequest request;
    uint64_t target = 0;
    uint64_t generation = 0;  // invalidates timers of finished ops
  };

  struct OpMeta {
    uint64_t req = 0;
    bool via_log = false;
    bool rejected = false;  // definitely never executed
  };

  struct LeaderRecord {
    uint64_t node = 0;
    uint64_t snapshot_index = 0;
    uint64_t snapshot_term = 0;
    std::vector<uint64_t> terms;  // of entries snapshot_index+1..
  };
  struct CommitRecord {
    uint64_t entry_term = 0;   // 0: unknown
    uint64_t commit_term = 0;  // term of the leader that committed it
  };
  struct AppliedRecord {
    uint64_t term = 0;
    proto::EntryType type = proto::ENTRY_NORMAL;
    std::string data;
    uint64_t node = 0;
  };

  explicit Impl(const SimOptions& o) : options(o), rng(o.seed) {}

  // ---- Setup -----------------------------------------------------------------

  void ChooseScenario() {
    Scenario& s = sc;
    if (!options.random_faults) {
      s.voters = options.voters > 0 ? options.voters : 3;
      s.clients = options.clients;
      s.snapshot_interval = options.snapshot_interval;
      s.pre_vote = options.pre_vote;
      s.check_quorum = options.check_quorum;
      return;
    }
    auto pct = [&](int p) { return static_cast<int>(rng() % 100) < p; };
    auto uni = [&](double lo, double hi) { return lo + (hi - lo) * static_cast<double>(rng() % 10'000) / 10'000.0; };
    for (auto& f : s.on) f = pct(35);
    if (std::none_of(s.on.begin(), s.on.end(), [](bool b) { return b; })) {
      s.on[rng() % s.on.size()] = true;
    }
    if (options.fault_mask != 0) {
      for (size_t i = 0; i < s.on.size(); ++i) s.on[i] = (options.fault_mask >> i) & 1;
    }
    s.voters = options.voters > 0 ? options.voters : (pct(30) ? 5 : 3);
    s.spares = s.Has(SimFault::kMembership) ? 2 : 0;
    s.clients = options.clients > 0 ? options.clients : 2 + static_cast<int>(rng() % 3);
    s.keys = 1 + static_cast<int>(rng() % 4);
    if (s.Has(SimFault::kDrop)) {
      s.drop = uni(0.01, 0.2);
      s.client_drop = s.drop / 2;
    }
    if (s.Has(SimFault::kDuplicate)) s.dup = uni(0.02, 0.15);
    if (s.Has(SimFault::kDelay)) {
      s.delay_prob = uni(0.02, 0.2);
      s.delay_max = 30 + static_cast<int>(rng() % 300);
    }
    s.jitter = s.Has(SimFault::kReorder) ? 15 + static_cast<int>(rng() % 40) : 5;
    if (pct(40) || s.Has(SimFault::kCrash)) {
      s.slow_sync = uni(0.05, 0.4);
      s.sync_max = 2 + static_cast<int>(rng() % 12);
    }
    s.election_ticks = 8 + static_cast<int>(rng() % 8);
    s.heartbeat_ticks = 1 + static_cast<int>(rng() % 3);
    s.lease = s.Has(SimFault::kLeaseReads);
    s.pre_vote = !pct(20);
    s.check_quorum = s.lease || !pct(20);
    if (s.Has(SimFault::kSnapshot)) {
      s.snapshot_interval = 4 + static_cast<int>(rng() % 20);
    } else if (pct(30)) {
      s.snapshot_interval = 30 + static_cast<int>(rng() % 100);
    }
    if (options.snapshot_interval > 0) s.snapshot_interval = options.snapshot_interval;
    s.keep = static_cast<int>(rng() % 4);
    s.log_reads_pct = 10 + static_cast<int>(rng() % 30);
    s.follower_reads_pct = static_cast<int>(rng() % 40);
  }

  void Setup() {
    ChooseScenario();
    proto::ConfState founding;
    for (int i = 1; i <= sc.voters; ++i) founding.add_voters(static_cast<uint64_t>(i));
    for (int i = 1; i <= sc.voters + sc.spares; ++i) {
      Node& n = nodes[static_cast<uint64_t>(i)];
      n.id = NodeId(static_cast<uint64_t>(i));
      n.phase = static_cast<int64_t>(rng() % kTickUnits);
      // Joiners too are given the founders: the founding membership is in
      // no log entry, so a joiner that replays the log from index 1 (no
      // snapshot) would otherwise count only the members added later.
      n.initial_conf = founding;
    }
    for (int i = 1; i <= sc.voters; ++i) Start(nodes[static_cast<uint64_t>(i)]);
    for (int c = 0; c < sc.clients; ++c) {
      Client& cl = ClientAt(c);
      cl.automatic = options.auto_clients;
      if (cl.automatic) Schedule(now + 1 + static_cast<int64_t>(rng() % 30), [this, c] { NextOp(ClientAt(c)); });
    }
    ScheduleCheckpoint();
    if (options.random_faults) ScheduleNemesis(now + kTickUnits * (10 + static_cast<int64_t>(rng() % 30)));
    for (size_t i = 0; i < sc.on.size(); ++i) stats.faults[i] = sc.on[i] ? 1 : 0;
    stats.runs = 1;
  }

  Client& ClientAt(int c) {
    while (static_cast<int>(clients.size()) <= c) {
      clients.emplace_back();
      clients.back().id = static_cast<int>(clients.size()) - 1;
    }
    return clients[static_cast<size_t>(c)];
  }

  raft::Config MakeConfig(const Node& n) {
    raft::Config c;
    c.id = n.id;
    c.election_ticks = sc.election_ticks;
    c.heartbeat_ticks = sc.heartbeat_ticks;
    c.pre_vote = sc.pre_vote;
    c.check_quorum = sc.check_quorum;
    c.read_only = sc.lease ? raft::ReadOnlyMode::kLeaseBased : raft::ReadOnlyMode::kSafe;
    c.max_msg_bytes = rng() % 2 == 0 ? 256 : 1 << 20;  // small batches make more round trips
    c.max_inflight = 1 + static_cast<int>(rng() % 8);
    c.rng_seed = rng();
    return c;
  }

  // Opens (or reopens) the core from the node's disk.
  void Start(Node& n) {
    raft::InitialState st;
    st.hard_state = n.current.hard_state;
    st.snapshot = n.current.snapshot;
    st.entries = n.current.entries;
    st.initial_conf = n.initial_conf;
    st.applied = LogIndex(n.current.snapshot.index());
    Result<std::unique_ptr<raft::Raft>> r = raft::Raft::Open(MakeConfig(n), std::move(st));
    if (!r.ok()) {
      Fail(fmt::format("node {}: Raft::Open from its disk failed: {}", n.id, r.status().ToString()));
      return;
    }
    if (n.started) ++stats.restarts;
    n.started = true;
    n.up = true;
    ++n.incarnation;
    n.raft = std::move(r).value();
    n.kv = KvStore();
    if (n.current.snapshot.index() > 0) {
      std::optional<KvStore> kv = KvStore::Parse(n.current.snapshot_data);
      if (!kv) {
        Fail(fmt::format("node {}: snapshot on disk does not parse", n.id));
        return;
      }
      n.kv = std::move(*kv);
      n.applied_conf = n.current.snapshot.conf_state();
    } else {
      n.applied_conf = n.initial_conf;
    }
    n.kv_applied = n.current.snapshot.index();
    n.applied_term = n.current.snapshot.term();
    Trace('S', n.id.value(), n.current.hard_state.term(), n.current.hard_state.commit(), n.current.LastIndex(),
          n.current.snapshot.index());
    const uint64_t inc = n.incarnation;
    const uint64_t id = n.id.value();
    const int64_t first_tick = (now / kTickUnits + 1) * kTickUnits + n.phase;
    Schedule(first_tick, [this, id, inc] { OnTick(id, inc); });
    Pump(n);
  }

  // ---- Events ------------------------------------------------------------------

  void Schedule(int64_t time, std::function<void()> fn) {
    events.push_back(Event{std::max(time, now), next_seq++, std::move(fn)});
    std::push_heap(events.begin(), events.end(), EventLater());
  }

  void RunUntilTime(int64_t end) {
    while (!failed && !events.empty() && events.front().time <= end) {
      std::pop_heap(events.begin(), events.end(), EventLater());
      Event ev = std::move(events.back());
      events.pop_back();
      now = ev.time;
      ev.fn();
    }
    if (!failed) now = std::max(now, end);
  }

  Node* Live(uint64_t id, uint64_t inc) {
    auto it = nodes.find(id);
    if (it == nodes.end() || !it->second.up || it->second.incarnation != inc) return nullptr;
    return &it->second;
  }

  void OnTick(uint64_t id, uint64_t inc) {
    Node* n = Live(id, inc);
    if (!n) return;
    Schedule(now + kTickUnits, [this, id, inc] { OnTick(id, inc); });
    if (n->busy) {
      ++n->pending_ticks;
      return;
    }
    n->raft->Tick();
    Pump(*n);
  }

  void ScheduleCheckpoint() {
    Schedule(now + kCheckpointTicks * kTickUnits, [this] {
      CheckLogMatching();
      ScheduleCheckpoint();
    });
  }

  // ---- Trace and failure ---------------------------------------------------

  void Trace(char kind, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0, uint64_t d = 0, uint64_t e = 0,
             uint64_t f = 0) {
    for (uint64_t v : {static_cast<uint64_t>(now), static_cast<uint64_t>(kind), a, b, c, d, e, f}) {
      digest = (digest ^ v) * 0x100000001b3ULL;
      digest ^= digest >> 29;
    }
    if (options.trace_tail == 0) return;
    if (ring.size() < options.trace_tail) {
      ring.push_back(TraceEvent{now, kind, a, b, c, d, e, f});
    } else {
      ring[ring_pos] = TraceEvent{now, kind, a, b, c, d, e, f};
      ring_pos = (ring_pos + 1) % ring.size();
    }
  }

  std::string TraceTail() const {
    std::string s;
    for (size_t i = 0; i < ring.size(); ++i) s += "  " + FormatTrace(ring[(ring_pos + i) % ring.size()]) + "\n";
    return s;
  }

  void Fail(std::string what) {
    if (failed) return;
    failed = true;
    failure = fmt::format("t={} (tick {}): {}", now, now / kTickUnits, what);
  }

  void TraceMessage(char kind, const proto::Message& m) {
    Trace(kind, m.from(), m.to(),
          static_cast<uint64_t>(m.type()) | (m.reject() ? 0x100 : 0) | (static_cast<uint64_t>(m.entries_size()) << 16),
          m.term(), m.index(), (m.log_term() << 32) | (m.commit() & 0xffffffff));
  }

  // ---- Network -----------------------------------------------------------------

  static bool IsNode(uint64_t id) { return id < kClientBase; }

  bool Blocked(uint64_t from, uint64_t to) const {
    if (!IsNode(from) || !IsNode(to)) return false;
    auto it = cuts.find({from, to});
    return it != cuts.end() && it->second > 0;
  }

  int64_t Delay(bool node_link) {
    int64_t d = 1 + static_cast<int64_t>(rng() % static_cast<uint64_t>(sc.jitter));
    if (node_link && sc.delay_prob > 0 && static_cast<double>(rng() % 10'000) < sc.delay_prob * 10'000) {
      d += static_cast<int64_t>(rng() % static_cast<uint64_t>(sc.delay_max));
    }
    return d;
  }

  bool Chance(double p) { return p > 0 && static_cast<double>(rng() % 1'000'000) < p * 1'000'000; }

  void ReportLater(uint64_t sender, LocalReport report) {
    auto it = nodes.find(sender);
    if (it == nodes.end() || !it->second.up) return;
    const uint64_t inc = it->second.incarnation;
    Schedule(now + Delay(false), [this, sender, inc, report] {
      Node* n = Live(sender, inc);
      if (!n) return;
      Envelope env;
      env.from = sender;
      env.to = sender;
      env.body = report;
      DeliverToNode(*n, std::move(env));
    });
  }

  void Dropped(const Envelope& env) {
    ++stats.messages_dropped;
    if (const auto* m = std::get_if<proto::Message>(&env.body)) {
      TraceMessage('X', *m);
      if (m->type() == proto::MSG_SNAPSHOT) {
        ReportLater(env.from, LocalReport{LocalReport::Kind::kSnapshotFailed, env.to});
      } else if (Blocked(env.from, env.to) && rng() % 4 == 0) {
        ReportLater(env.from, LocalReport{LocalReport::Kind::kUnreachable, env.to});
      }
    }
  }

  void Transmit(Envelope env) {
    const bool node_link = IsNode(env.from) && IsNode(env.to);
    if (Blocked(env.from, env.to) || Chance(node_link ? sc.drop : sc.client_drop)) {
      Dropped(env);
      return;
    }
    if (Chance(sc.dup)) {
      ++stats.messages_duplicated;
      Envelope copy = env;
      Schedule(now + Delay(node_link), [this, copy = std::move(copy)]() mutable { Deliver(std::move(copy)); });
    }
    Schedule(now + Delay(node_link), [this, env = std::move(env)]() mutable { Deliver(std::move(env)); });
  }

  void Deliver(Envelope env) {
    if (Blocked(env.from, env.to)) {  // the link was cut while the message flew
      Dropped(env);
      return;
    }
    if (!IsNode(env.to)) {
      OnClientReply(std::get<ClientReply>(env.body));
      return;
    }
    auto it = nodes.find(env.to);
    if (it == nodes.end() || !it->second.up) {
      Dropped(env);
      return;
    }
    ++stats.messages_delivered;
    if (const auto* m = std::get_if<proto::Message>(&env.body)) {
      TraceMessage('D', *m);
      if (m->type() == proto::MSG_SNAPSHOT) {
        ++stats.snapshots_sent;
        ReportLater(env.from, LocalReport{LocalReport::Kind::kSnapshotOk, env.to});
      }
    }
    DeliverToNode(it->second, std::move(env));
  }

  void DeliverToNode(Node& n, Envelope env) {
    if (n.busy) {
      n.inbox.push_back(std::move(env));
      return;
    }
    HandleEnvelope(n, std::move(env));
    Pump(n);
  }

  void SendRaft(Node& n, const proto::Message& m) {
    Envelope env;
    env.from = n.id.value();
    env.to = m.to();
    if (m.from() != n.id.value()) {
      Fail(fmt::format("node {} sends a message from {}", n.id, m.from()));
      return;
    }
    if (m.type() == proto::MSG_SNAPSHOT) {
      // The host ships the state machine snapshot that matches the meta.
      if (n.current.snapshot.index() != m.snapshot().index() || n.current.snapshot.term() != m.snapshot().term()) {
        Fail(fmt::format("node {} sends a snapshot at {} (term {}) but its host holds the one at {} (term {})",
                         n.id, m.snapshot().index(), m.snapshot().term(), n.current.snapshot.index(),
                         n.current.snapshot.term()));
        return;
      }
      env.snapshot_data = n.current.snapshot_data;
    }
    env.body = m;
    auto it = nodes.find(env.to);
    if (it == nodes.end() || !it->second.started) {
      Dropped(env);
      return;
    }
    Transmit(std::move(env));
  }

  void Reply(Node& n, int client, ClientReply r) {
    Envelope env;
    env.from = n.id.value();
    env.to = kClientBase + static_cast<uint64_t>(client);
    r.client = client;
    env.body = std::move(r);
    Transmit(std::move(env));
  }

  // ---- Host: one node's loop --------------------------------------------------

  void Pump(Node& n) {
    for (int rounds = 0; !failed && n.up && !n.busy; ++rounds) {
      if (rounds > 100'000) {
        Fail(fmt::format("node {}: the host loop does not settle (HasReady never clears?)", n.id));
        return;
      }
      if (n.raft->HasReady()) {
        ProcessReady(n);
      } else if (n.pending_ticks > 0) {
        --n.pending_ticks;
        n.raft->Tick();
      } else if (!n.inbox.empty()) {
        Envelope env = std::move(n.inbox.front());
        n.inbox.pop_front();
        HandleEnvelope(n, std::move(env));
      } else {
        break;
      }
    }
  }

  void HandleEnvelope(Node& n, Envelope env) {
    if (auto* m = std::get_if<proto::Message>(&env.body)) {
      if (m->type() == proto::MSG_SNAPSHOT) n.snapshot_in[m->snapshot().index()] = std::move(env.snapshot_data);
      Status s = n.raft->Step(*m);
      if (!s.ok()) Fail(fmt::format("node {}: Step({}) failed: {}", n.id, proto::MessageType_Name(m->type()), s.ToString()));
    } else if (auto* req = std::get_if<ClientRequest>(&env.body)) {
      HandleClientRequest(n, *req);
    } else if (auto* rep = std::get_if<LocalReport>(&env.body)) {
      switch (rep->kind) {
        case LocalReport::Kind::kUnreachable:
          n.raft->ReportUnreachable(NodeId(rep->node));
          break;
        case LocalReport::Kind::kSnapshotOk:
          n.raft->ReportSnapshot(NodeId(rep->node), true);
          break;
        case LocalReport::Kind::kSnapshotFailed:
          n.raft->ReportSnapshot(NodeId(rep->node), false);
          break;
      }
    }
  }

  void Write(Node& n, DiskRecord rec) {
    std::string err = ApplyRecord(n.current, rec, /*check=*/true);
    if (!err.empty()) {
      Fail(fmt::format("node {}: {}", n.id, err));
      return;
    }
    ApplyRecord(n.current, rec, /*check=*/false);
    n.unsynced.push_back(std::move(rec));
  }

  void Sync(Node& n) {
    for (const DiskRecord& r : n.unsynced) ApplyRecord(n.synced, r, false);
    n.unsynced.clear();
  }

  void ProcessReady(Node& n) {
    raft::Ready rd = n.raft->GetReady();
    Trace('R', n.id.value(), n.raft->term().value(), rd.hard_state ? rd.hard_state->commit() : 0, rd.entries.size(),
          (static_cast<uint64_t>(rd.messages.size()) << 32) | rd.committed_entries.size(),
          rd.snapshot ? rd.snapshot->index() : 0);
    // 1. Persist: snapshot, entries, hard state, in that order, so that any
    // prefix of them that survives a crash is consistent.
    if (rd.snapshot) {
      auto it = n.snapshot_in.find(rd.snapshot->index());
      if (it == n.snapshot_in.end()) {
        Fail(fmt::format("node {}: Ready.snapshot at {} but no MSG_SNAPSHOT carried it", n.id, rd.snapshot->index()));
        return;
      }
      DiskRecord rec{DiskRecord::Kind::kSnapshot, {}, {}, *rd.snapshot, it->second};
      Write(n, std::move(rec));
    }
    if (!rd.entries.empty()) Write(n, DiskRecord{DiskRecord::Kind::kEntries, rd.entries, {}, {}, {}});
    if (rd.hard_state) Write(n, DiskRecord{DiskRecord::Kind::kHardState, {}, *rd.hard_state, {}, {}});
    if (failed) return;
    if (n.current.hard_state.commit() > n.current.LastIndex()) {
      Fail(fmt::format("node {}: persisted commit {} is past its last entry {}", n.id, n.current.hard_state.commit(),
                       n.current.LastIndex()));
      return;
    }
    ObserveLeadership(n, rd);
    if (failed) return;
    if (options.bug == SimBug::kSendBeforeSync) {
      // The deliberate bug: votes and append answers promise what a crash
      // may still take away.
      for (const proto::Message& m : rd.messages) SendRaft(n, m);
      rd.messages.clear();
    }
    // The contract allows a leader's appends and heartbeats before the
    // Sync (MultiRaft sends them first, §10.2.1): so does the simulation.
    auto later = std::stable_partition(rd.messages.begin(), rd.messages.end(), [](const proto::Message& m) {
      return m.type() == proto::MSG_APPEND || m.type() == proto::MSG_HEARTBEAT;
    });
    for (auto it = rd.messages.begin(); it != later; ++it) SendRaft(n, *it);
    rd.messages.erase(rd.messages.begin(), later);
    if (n.crash_point == CrashPoint::kBeforeSync && !n.unsynced.empty()) {
      Crash(n);
      return;
    }
    const int latency = SyncLatency(n);
    if (latency == 0 || n.unsynced.empty()) {
      FinishReady(n, rd);
      return;
    }
    n.busy = true;
    auto shared = std::make_shared<raft::Ready>(std::move(rd));
    const uint64_t id = n.id.value();
    const uint64_t inc = n.incarnation;
    Schedule(now + latency, [this, id, inc, shared] {
      Node* live = Live(id, inc);
      if (!live) return;
      FinishReady(*live, *shared);
      if (live->up) Pump(*live);
    });
  }

  int SyncLatency(Node& n) {
    if (n.sync_latency >= 0) return n.sync_latency;
    if (sc.slow_sync > 0 && Chance(sc.slow_sync)) return 1 + static_cast<int>(rng() % static_cast<uint64_t>(sc.sync_max));
    return 0;
  }

  // Steps 2-4 of the Ready contract, once the writes are durable.
  void FinishReady(Node& n, const raft::Ready& rd) {
    Sync(n);
    n.busy = false;
    if (n.crash_point == CrashPoint::kAfterSync) {
      Crash(n);
      return;
    }
    if (rd.snapshot) Restore(n, *rd.snapshot);
    if (failed) return;
    for (const proto::Message& m : rd.messages) SendRaft(n, m);
    if (n.crash_point == CrashPoint::kAfterSend && (!rd.messages.empty() || !rd.committed_entries.empty())) {
      Crash(n);
      return;
    }
    for (const proto::Entry& e : rd.committed_entries) {
      Apply(n, e);
      if (failed) return;
    }
    for (const raft::ReadState& rs : rd.read_states) {
      auto it = n.reads_by_ctx.find(rs.context);
      if (it == n.reads_by_ctx.end()) continue;  // a duplicate answer
      n.ready_reads.emplace_back(rs.index.value(), std::move(it->second));
      n.reads_by_ctx.erase(it);
    }
    AnswerReads(n);
    n.raft->Advance(rd);
    MaybeCompact(n);
  }

  void ObserveLeadership(Node& n, const raft::Ready& rd) {
    if (n.raft->role() != raft::Role::kLeader) return;
    const uint64_t term = n.raft->term().value();
    auto [it, inserted] = leaders.try_emplace(term);
    if (inserted) {
      LeaderRecord& r = it->second;
      r.node = n.id.value();
      r.snapshot_index = n.current.snapshot.index();
      r.snapshot_term = n.current.snapshot.term();
      r.terms.reserve(n.current.entries.size());
      for (const proto::Entry& e : n.current.entries) r.terms.push_back(e.term());
      ++stats.elections;
      Trace('L', n.id.value(), term, n.current.LastIndex());
      CheckLeaderCompleteness(term, r);
    } else if (it->second.node != n.id.value()) {
      Fail(fmt::format("election safety: term {} has two leaders, n{} and n{}", term, it->second.node, n.id));
      return;
    }
    if (rd.hard_state && rd.hard_state->commit() > max_commit_marked) {
      for (uint64_t i = max_commit_marked + 1; i <= rd.hard_state->commit(); ++i) {
        commits[i] = CommitRecord{n.current.TermAt(i), term};
      }
      max_commit_marked = rd.hard_state->commit();
    }
  }

  void Restore(Node& n, const proto::SnapshotMeta& meta) {
    std::optional<KvStore> kv = KvStore::Parse(n.current.snapshot_data);
    if (!kv) {
      Fail(fmt::format("node {}: installed snapshot at {} does not parse", n.id, meta.index()));
      return;
    }
    if (meta.index() < n.kv_applied) {
      Fail(fmt::format("node {}: snapshot at {} installed behind applied {}", n.id, meta.index(), n.kv_applied));
      return;
    }
    CheckSnapshotDigest(n, meta.index(), n.current.snapshot_data);
    n.kv = std::move(*kv);
    n.kv_applied = meta.index();
    n.applied_term = meta.term();
    n.applied_conf = meta.conf_state();
    // Waiters inside the snapshot never learn their fate here: their clients time out.
    n.waiters.erase(n.waiters.begin(), n.waiters.upper_bound(meta.index()));
    n.snapshot_in.erase(n.snapshot_in.begin(), n.snapshot_in.upper_bound(meta.index()));
    ++stats.snapshots_installed;
  }

  // Two state machines at the same index hold the same state.
  void CheckSnapshotDigest(const Node& n, uint64_t index, const std::string& data) {
    auto [it, inserted] = snapshot_states.try_emplace(index, data);
    if (!inserted && it->second != data) {
      Fail(fmt::format("state machine safety: node {}'s state at index {} differs from another node's", n.id, index));
    }
  }

  void Apply(Node& n, const proto::Entry& e) {
    if (e.index() != n.kv_applied + 1) {
      Fail(fmt::format("node {}: committed entry {} follows applied {}", n.id, e.index(), n.kv_applied));
      return;
    }
    auto [rec, first] = applied.try_emplace(e.index(), AppliedRecord{e.term(), e.type(), e.data(), n.id.value()});
    if (!first && (rec->second.term != e.term() || rec->second.type != e.type() || rec->second.data != e.data())) {
      Fail(fmt::format("state machine safety: node {} applies entry {} of term {} but node {} applied one of term {}",
                       n.id, e.index(), e.term(), rec->second.node, rec->second.term));
      return;
    }
    if (first) {
      auto c = commits.find(e.index());
      if (c != commits.end() && c->second.entry_term != 0 && c->second.entry_term != e.term()) {
        Fail(fmt::format("node {} applies entry {} of term {}, but the leader of term {} committed one of term {}",
                         n.id, e.index(), e.term(), c->second.commit_term, c->second.entry_term));
        return;
      }
    }
    std::optional<Command> cmd;
    KvStore::Outcome outcome;
    if (e.type() == proto::ENTRY_CONF_CHANGE) {
      proto::ConfChange cc;
      if (!cc.ParseFromString(e.data())) {
        Fail(fmt::format("node {}: conf change at {} does not parse", n.id, e.index()));
        return;
      }
      n.applied_conf = n.raft->ApplyConfChange(cc);
      if (first) {
        ++stats.conf_changes;
        Trace('A', n.id.value(), e.index());
        // The host of a removed node shuts it down once the removal commits
        // (§4.2.3: it would only disrupt the others).
        if (cc.type() == proto::CONF_REMOVE_NODE) {
          const uint64_t gone = cc.node_id();
          Schedule(now + 1 + static_cast<int64_t>(rng() % (5 * kTickUnits)), [this, gone] {
            auto it = nodes.find(gone);
            if (it == nodes.end()) return;
            it->second.retired = true;
            if (it->second.up) Crash(it->second);
          });
        }
      }
    } else if (!e.data().empty()) {
      cmd = DecodeCommand(e.data());
      if (!cmd) {
        Fail(fmt::format("node {}: entry {} does not decode", n.id, e.index()));
        return;
      }
      outcome = n.kv.Apply(*cmd);
      if (outcome.effective) {
        auto [it, inserted] = applied_reqs.insert({cmd->client, cmd->req});
        if (first != inserted) {
          Fail(fmt::format("node {}: request c{}/{} at entry {} applied differently than elsewhere", n.id,
                           cmd->client, cmd->req, e.index()));
          return;
        }
      }
    }
    n.kv_applied = e.index();
    n.applied_term = e.term();
    auto w = n.waiters.find(e.index());
    if (w == n.waiters.end()) return;
    Waiter waiter = w->second;
    n.waiters.erase(w);
    ClientReply r;
    r.req = waiter.req;
    r.attempt = waiter.attempt;
    if (waiter.term != e.term()) {
      r.status = ReplyStatus::kRetry;  // another leader's entry took the slot: ours never commits
    } else {
      if (!cmd || cmd->client != waiter.client || cmd->req != waiter.req) {
        Fail(fmt::format("node {}: entry {} of term {} is not the one the node proposed there", n.id, e.index(),
                         e.term()));
        return;
      }
      if (!outcome.answer) return;
      r.value = outcome.result;
    }
    Reply(n, waiter.client, std::move(r));
  }

  void AnswerReads(Node& n) {
    auto it = std::stable_partition(n.ready_reads.begin(), n.ready_reads.end(),
                                    [&](const auto& p) { return p.first > n.kv_applied; });
    for (auto p = it; p != n.ready_reads.end(); ++p) {
      ClientReply r;
      r.req = p->second.req;
      r.attempt = p->second.attempt;
      r.value = n.kv.Get(p->second.key);
      r.via_read_index = true;
      Reply(n, p->second.client, std::move(r));
    }
    n.ready_reads.erase(it, n.ready_reads.end());
  }

  void MaybeCompact(Node& n) {
    if (sc.snapshot_interval <= 0 || n.kv_applied < n.current.snapshot.index() + sc.snapshot_interval) return;
    if (!n.unsynced.empty()) return;
    proto::SnapshotMeta meta;
    meta.set_index(n.kv_applied);
    meta.set_term(n.applied_term);
    *meta.mutable_conf_state() = n.applied_conf;
    std::string data = n.kv.Serialize();
    CheckSnapshotDigest(n, meta.index(), data);
    // The snapshot is durable before the log is cut.
    DiskRecord rec{DiskRecord::Kind::kSnapshot, {}, {}, meta, std::move(data)};
    ApplyRecord(n.current, rec, false);
    ApplyRecord(n.synced, rec, false);
    const uint64_t keep = static_cast<uint64_t>(sc.keep);
    Status s = n.raft->Compact(meta, keep);
    if (!s.ok()) {
      Fail(fmt::format("node {}: Compact({}) failed: {}", n.id, meta.index(), s.ToString()));
      return;
    }
    ++stats.compactions;
    Trace('K', n.id.value(), meta.index(), keep);
  }

  void HandleClientRequest(Node& n, const ClientRequest& req) {
    ClientReply r;
    r.req = req.req;
    r.attempt = req.attempt;
    const bool read_index = req.kind == KvOpKind::kGet && !req.via_log;
    if (read_index && (options.bug == SimBug::kLocalReadsAnywhere ||
                       (options.bug == SimBug::kLocalReadsOnLeader && n.raft->role() == raft::Role::kLeader))) {
      r.value = n.kv.Get(req.key);  // the deliberate bug: no ReadIndex
      r.via_read_index = true;
      Reply(n, req.client, std::move(r));
      return;
    }
    if (read_index) {
      if (n.raft->leader().value() == 0) {
        r.status = ReplyStatus::kNotLeader;
        Reply(n, req.client, std::move(r));
        return;
      }
      std::string ctx = fmt::format("{}.{}.{}", n.id, n.incarnation, ++n.read_seq);
      n.reads_by_ctx[ctx] = PendingRead{req.client, req.req, req.attempt, req.key};
      n.raft->ReadIndex(std::move(ctx));
      return;
    }
    if (n.raft->role() != raft::Role::kLeader) {
      r.status = ReplyStatus::kNotLeader;
      r.leader_hint = n.raft->leader().value();
      Reply(n, req.client, std::move(r));
      return;
    }
    Command cmd{req.client, req.req, req.kind, req.key, req.value};
    Result<raft::Raft::Proposed> p = n.raft->Propose(EncodeCommand(cmd));
    if (!p.ok()) {
      r.status = p.status().Is(Code::kNotLeader) ? ReplyStatus::kNotLeader : ReplyStatus::kRetry;
      Reply(n, req.client, std::move(r));
      return;
    }
    // A proposal at an index the node already waits on replaced that one's
    // entry (a new term): the old waiter's entry can no longer commit.
    auto old = n.waiters.find(p->index.value());
    if (old != n.waiters.end()) {
      ClientReply retry;
      retry.req = old->second.req;
      retry.attempt = old->second.attempt;
      retry.status = ReplyStatus::kRetry;
      Reply(n, old->second.client, std::move(retry));
    }
    n.waiters[p->index.value()] = Waiter{p->term.value(), req.client, req.req, req.attempt};
  }

  void Crash(Node& n) {
    const bool mid_ready = n.busy || n.crash_point.has_value();
    const size_t total = n.unsynced.size();
    const size_t keep = total == 0 ? 0 : static_cast<size_t>(rng() % (total + 1));
    for (size_t i = 0; i < keep; ++i) ApplyRecord(n.synced, n.unsynced[i], false);
    n.unsynced.clear();
    n.current = n.synced;
    stats.unsynced_records_lost += total - keep;
    ++stats.crashes;
    if (mid_ready) ++stats.crashes_mid_ready;
    Trace('C', n.id.value(), n.crash_point ? static_cast<uint64_t>(*n.crash_point) : 0, total - keep, keep);
    n.up = false;
    n.raft.reset();
    n.busy = false;
    n.inbox.clear();
    n.pending_ticks = 0;
    n.waiters.clear();
    n.reads_by_ctx.clear();
    n.ready_reads.clear();
    n.snapshot_in.clear();
    n.crash_point.reset();
  }

  // ---- Clients -----------------------------------------------------------------

  uint64_t RandomNode() {
    std::vector<uint64_t> ids;
    for (const auto& [id, n] : nodes) {
      if (n.started && !n.retired) ids.push_back(id);
    }
    return ids[rng() % ids.size()];
  }

  void NextOp(Client& c) {
    if (failed || !c.automatic || clients_stopped) return;
    const int r = static_cast<int>(rng() % 100);
    KvOpKind kind = r < 35 ? KvOpKind::kPut : r < 55 ? KvOpKind::kAppend : KvOpKind::kGet;
    bool via_log = kind == KvOpKind::kGet && static_cast<int>(rng() % 100) < sc.log_reads_pct;
    uint64_t target = c.target != 0 ? c.target : RandomNode();
    if (kind == KvOpKind::kGet && !via_log && static_cast<int>(rng() % 100) < sc.follower_reads_pct) {
      target = RandomNode();
    }
    std::string key = fmt::format("k{}", rng() % static_cast<uint64_t>(sc.keys));
    std::string value = fmt::format("{}.{};", c.id, c.next_req + 1);
    StartOp(c, kind, std::move(key), std::move(value), target, via_log, true);
  }

  size_t StartOp(Client& c, KvOpKind kind, std::string key, std::string value, uint64_t target, bool via_log,
                 bool follow) {
    KvOperation op;
    op.client = c.id;
    op.kind = kind;
    op.key = key;
    if (kind != KvOpKind::kGet) op.value = value;
    op.invoke = now;
    history.push_back(op);
    meta.push_back(OpMeta{++c.next_req, via_log, false});
    c.in_flight = true;
    c.follow_redirects = follow;
    c.op = history.size() - 1;
    c.req = c.next_req;
    c.attempt = 0;
    c.request = ClientRequest{c.id, c.req, 0, kind, via_log, std::move(key), std::move(value)};
    c.target = target;
    ++c.generation;
    Trace('I', static_cast<uint64_t>(c.id), c.req, static_cast<uint64_t>(kind), target, via_log);
    const int cid = c.id;
    const uint64_t gen = c.generation;
    Schedule(now + options.client_timeout_ticks * kTickUnits, [this, cid, gen] { OnClientTimeout(cid, gen); });
    SendRequest(c);
    return c.op;
  }

  void SendRequest(Client& c) {
    c.request.attempt = ++c.attempt;
    Envelope env;
    env.from = kClientBase + static_cast<uint64_t>(c.id);
    env.to = c.target;
    env.body = c.request;
    Transmit(std::move(env));
  }

  void OnClientTimeout(int cid, uint64_t gen) {
    Client& c = ClientAt(cid);
    if (!c.in_flight || c.generation != gen) return;
    Trace('T', static_cast<uint64_t>(cid), c.req);
    c.in_flight = false;
    ++c.generation;
    ++stats.ops_pending;
    c.target = 0;  // whoever it was did not answer
    if (c.automatic) Schedule(now + static_cast<int64_t>(rng() % 20), [this, cid] { NextOp(ClientAt(cid)); });
  }

  void OnClientReply(const ClientReply& r) {
    Client& c = ClientAt(r.client);
    if (!c.in_flight || r.req != c.req) return;  // an old op's answer
    if (r.status == ReplyStatus::kOk) {
      KvOperation& op = history[c.op];
      op.response = now;
      if (op.kind == KvOpKind::kGet) {
        op.output = r.value;
        ++(r.via_read_index ? stats.reads_index_ok : stats.reads_log_ok);
      } else {
        ++stats.writes_ok;
        if (heal_time > 0 && op.invoke >= heal_time) progress_after_heal = true;
      }
      Trace('O', static_cast<uint64_t>(c.id), c.req, r.attempt, c.target);
      c.in_flight = false;
      ++c.generation;
      const int cid = c.id;
      if (c.automatic) Schedule(now + static_cast<int64_t>(rng() % 40), [this, cid] { NextOp(ClientAt(cid)); });
      return;
    }
    if (r.attempt != c.attempt) return;  // a stale refusal
    if (!c.follow_redirects) {
      meta[c.op].rejected = true;  // NotLeader/retry: never executed
      c.in_flight = false;
      ++c.generation;
      return;
    }
    if (r.status == ReplyStatus::kNotLeader) {
      c.target = r.leader_hint != 0 && r.leader_hint != c.target ? r.leader_hint : RandomNode();
    }
    const int cid = c.id;
    const uint64_t gen = c.generation;
    Schedule(now + 3 + static_cast<int64_t>(rng() % 15), [this, cid, gen] {
      Client& cl = ClientAt(cid);
      if (cl.in_flight && cl.generation == gen) SendRequest(cl);
    });
  }

  // ---- Faults (the nemesis) ---------------------------------------------------

  uint64_t LeaderId() const {
    uint64_t best = 0;
    uint64_t best_term = 0;
    for (const auto& [id, n] : nodes) {
      if (n.up && n.raft->role() == raft::Role::kLeader && n.raft->term().value() >= best_term) {
        best = id;
        best_term = n.raft->term().value();
      }
    }
    return best;
  }

  std::vector<uint64_t> StartedIds() const {
    std::vector<uint64_t> ids;
    for (const auto& [id, n] : nodes) {
      if (n.started) ids.push_back(id);
    }
    return ids;
  }

  void Cut(uint64_t from, uint64_t to) {
    ++cuts[{from, to}];
    ++stats.partitions;
    Trace('N', 0, from, to);
  }
  void Uncut(uint64_t from, uint64_t to, uint64_t epoch) {
    if (epoch != net_epoch) return;  // HealNetwork already cleared it
    auto it = cuts.find({from, to});
    if (it != cuts.end() && it->second > 0) --it->second;
    Trace('N', 1, from, to);
  }
  // Cuts from->to for `ticks`.
  void CutFor(uint64_t from, uint64_t to, int ticks) {
    Cut(from, to);
    const uint64_t epoch = net_epoch;
    Schedule(now + ticks * kTickUnits, [this, from, to, epoch] { Uncut(from, to, epoch); });
  }

  void HealNetwork() {
    cuts.clear();
    ++net_epoch;
    Trace('N', 2);
  }

  void ScheduleNemesis(int64_t at) {
    Schedule(at, [this] {
      if (healed) return;
      Nemesis();
      ScheduleNemesis(now + kTickUnits * (8 + static_cast<int64_t>(rng() % 40)));
    });
  }

  void Nemesis() {
    std::vector<SimFault> acts;
    for (SimFault f : {SimFault::kPartition, SimFault::kAsymmetricPartition, SimFault::kIsolateLeader,
                       SimFault::kCrash, SimFault::kMembership, SimFault::kSnapshot, SimFault::kLeaderTransfer}) {
      if (sc.Has(f)) acts.push_back(f);
    }
    if (acts.empty()) return;
    const std::vector<uint64_t> ids = StartedIds();
    const int duration = 10 + static_cast<int>(rng() % 70);
    switch (acts[rng() % acts.size()]) {
      case SimFault::kPartition: {
        std::vector<uint64_t> shuffled = ids;
        std::shuffle(shuffled.begin(), shuffled.end(), rng);
        const size_t k = 1 + rng() % std::max<size_t>(1, shuffled.size() / 2);
        for (size_t i = 0; i < k; ++i) {
          for (size_t j = k; j < shuffled.size(); ++j) {
            CutFor(shuffled[i], shuffled[j], duration);
            CutFor(shuffled[j], shuffled[i], duration);
          }
        }
        break;
      }
      case SimFault::kAsymmetricPartition: {
        const uint64_t x = rng() % 2 == 0 && LeaderId() != 0 ? LeaderId() : ids[rng() % ids.size()];
        const bool outgoing = rng() % 2 == 0;  // x is heard by nobody / hears nobody
        for (uint64_t y : ids) {
          if (y == x || rng() % 4 == 0) continue;
          if (outgoing) {
            CutFor(x, y, duration);
          } else {
            CutFor(y, x, duration);
          }
        }
        break;
      }
      case SimFault::kIsolateLeader: {
        const uint64_t l = LeaderId();
        if (l == 0) break;
        for (uint64_t y : ids) {
          if (y == l) continue;
          CutFor(l, y, duration);
          CutFor(y, l, duration);
        }
        break;
      }
      case SimFault::kCrash: {
        const uint64_t l = LeaderId();
        const uint64_t x = rng() % 2 == 0 && l != 0 ? l : ids[rng() % ids.size()];
        Node& n = nodes[x];
        if (!n.up) break;
        static constexpr CrashPoint kPoints[] = {CrashPoint::kNow, CrashPoint::kBeforeSync, CrashPoint::kAfterSync,
                                                 CrashPoint::kAfterSend};
        const CrashPoint point = kPoints[rng() % 4];
        DoCrashAt(n, point);
        const uint64_t inc = n.incarnation;
        Schedule(now + kTickUnits * (3 + static_cast<int64_t>(rng() % 60)), [this, x, inc] {
          Node& m = nodes[x];
          if (m.up && m.incarnation == inc) Crash(m);  // the crash point never came
          if (!m.up && !healed && !m.retired) Start(m);
        });
        break;
      }
      case SimFault::kMembership:
        MembershipStep();
        break;
      case SimFault::kSnapshot: {
        // Cut a follower off long enough that the leader compacts past it.
        const uint64_t l = LeaderId();
        if (l == 0) break;
        const uint64_t x = ids[rng() % ids.size()];
        if (x == l) break;
        for (uint64_t y : ids) {
          if (y == x) continue;
          CutFor(x, y, duration + 20);
          CutFor(y, x, duration + 20);
        }
        break;
      }
      case SimFault::kLeaderTransfer: {
        const uint64_t l = LeaderId();
        if (l == 0 || nodes[l].busy) break;  // the host calls its core only between Readies
        const proto::ConfState& conf = nodes[l].raft->conf_state();
        if (conf.voters_size() < 2) break;
        uint64_t target = conf.voters(static_cast<int>(rng() % static_cast<uint64_t>(conf.voters_size())));
        if (target == l) break;
        Status s = nodes[l].raft->TransferLeadership(NodeId(target));
        ++stats.leader_transfers;
        Trace('F', l, target, s.ok());
        Pump(nodes[l]);
        break;
      }
      default:
        break;
    }
  }

  void DoCrashAt(Node& n, CrashPoint point) {
    if (point == CrashPoint::kNow || n.busy) {
      Crash(n);
    } else {
      n.crash_point = point;
    }
  }

  // Add a learner, promote it, remove a voter: one step per call.
  void MembershipStep() {
    const uint64_t l = LeaderId();
    if (l == 0 || nodes[l].busy) return;  // the host calls its core only between Readies
    Node& leader = nodes[l];
    const proto::ConfState& conf = leader.raft->conf_state();
    auto in = [](const auto& list, uint64_t id) { return std::find(list.begin(), list.end(), id) != list.end(); };
    proto::ConfChange cc;
    // Promote a learner that has caught up.
    for (uint64_t learner : conf.learners()) {
      Node& ln = nodes[learner];
      if (ln.up && ln.kv_applied + 5 >= leader.kv_applied) {
        cc.set_type(proto::CONF_ADD_VOTER);
        cc.set_node_id(learner);
      }
    }
    if (!cc.node_id()) {
      // Add a spare that is not a member and was never removed.
      for (auto& [id, n] : nodes) {
        if (id <= static_cast<uint64_t>(sc.voters) || removal_proposed.count(id) || in(conf.voters(), id) ||
            in(conf.learners(), id)) {
          continue;
        }
        if (!n.up) Start(n);
        if (failed) return;
        cc.set_type(proto::CONF_ADD_LEARNER);
        cc.set_node_id(id);
        break;
      }
    }
    if (!cc.node_id() && conf.voters_size() > 3) {
      cc.set_type(proto::CONF_REMOVE_NODE);
      cc.set_node_id(conf.voters(static_cast<int>(rng() % static_cast<uint64_t>(conf.voters_size()))));
    }
    if (!cc.node_id()) return;
    Result<raft::Raft::Proposed> p = leader.raft->ProposeConfChange(cc);
    if (p.ok() && cc.type() == proto::CONF_REMOVE_NODE) removal_proposed.insert(cc.node_id());
    Trace('P', l, static_cast<uint64_t>(cc.type()), cc.node_id(), p.ok());
    Pump(leader);
  }

  // Heals every fault: links, losses, crashed nodes.
  void HealAll() {
    healed = true;
    HealNetwork();
    sc.drop = sc.client_drop = sc.dup = sc.delay_prob = 0;
    sc.jitter = std::min(sc.jitter, 5);
    Trace('H');
    for (auto& [id, n] : nodes) {
      n.crash_point.reset();
      if (n.started && !n.up && !n.retired) Start(n);
      if (failed) return;
    }
  }

  // ---- Checks ----------------------------------------------------------------

  // Log matching (§3.5): two logs with an entry of the same index and term
  // agree on every entry up to it.
  void CheckLogMatching() {
    std::vector<const Node*> ns;
    for (const auto& [id, n] : nodes) {
      if (n.started) ns.push_back(&n);
    }
    for (size_t i = 0; i < ns.size() && !failed; ++i) {
      for (size_t j = i + 1; j < ns.size() && !failed; ++j) {
        const DiskState& a = ns[i]->current;
        const DiskState& b = ns[j]->current;
        const uint64_t lo = std::max(a.snapshot.index(), b.snapshot.index()) + 1;
        uint64_t hi = std::min(a.LastIndex(), b.LastIndex());
        while (hi >= lo && a.TermAt(hi) != b.TermAt(hi)) --hi;
        for (uint64_t k = lo; k <= hi; ++k) {
          const proto::Entry* x = a.At(k);
          const proto::Entry* y = b.At(k);
          if (x->term() != y->term() || x->type() != y->type() || x->data() != y->data()) {
            Fail(fmt::format("log matching: nodes {} and {} agree at index {} (term {}) but differ at {} "
                             "(terms {} and {})",
                             ns[i]->id, ns[j]->id, hi, a.TermAt(hi), k, x->term(), y->term()));
            return;
          }
        }
      }
    }
  }

  // Leader completeness (§3.6.3): an entry committed in term T is in the log
  // of the leader of every term after T.
  void CheckLeaderCompleteness(uint64_t term, const LeaderRecord& r) {
    for (const auto& [index, c] : commits) {
      if (c.commit_term >= term || c.entry_term == 0) continue;
      if (index < r.snapshot_index) continue;  // inside its snapshot: committed state
      uint64_t have = 0;
      if (index == r.snapshot_index) {
        have = r.snapshot_term;
      } else if (index - r.snapshot_index <= r.terms.size()) {
        have = r.terms[index - r.snapshot_index - 1];
      }
      if (have != c.entry_term) {
        Fail(fmt::format("leader completeness: the leader of term {} (n{}) has {} at index {}, where an entry of "
                         "term {} was committed in term {}",
                         term, r.node, have == 0 ? std::string("nothing") : fmt::format("term {}", have), index,
                         c.entry_term, c.commit_term));
        return;
      }
    }
  }

  void CheckAllLeaders() {
    for (const auto& [term, r] : leaders) {
      CheckLeaderCompleteness(term, r);
      if (failed) return;
    }
  }

  // Nodes that applied the same prefix hold the same state.
  void CheckFinalStates() {
    std::map<uint64_t, std::pair<uint64_t, std::string>> by_applied;
    for (const auto& [id, n] : nodes) {
      if (!n.up) continue;
      std::string s = n.kv.Serialize();
      auto [it, inserted] = by_applied.try_emplace(n.kv_applied, id, s);
      if (!inserted && it->second.second != s) {
        Fail(fmt::format("state machine safety: nodes {} and {} applied through {} but hold different states",
                         it->second.first, id, n.kv_applied));
        return;
      }
    }
  }

  std::vector<KvOperation> CheckedHistory() {
    std::vector<KvOperation> h;
    uint64_t pending = 0;
    for (size_t i = 0; i < history.size(); ++i) {
      if (meta[i].rejected) continue;
      const KvOperation& op = history[i];
      // A pending write that no node ever applied never took effect (the run
      // is over); one that was applied may have taken effect any time after
      // its invoke.
      if (op.pending() && op.kind != KvOpKind::kGet && !applied_reqs.count({op.client, meta[i].req})) continue;
      if (op.pending()) ++pending;
      h.push_back(op);
    }
    return h;
  }

  void CheckLinearizable() {
    std::vector<KvOperation> h = CheckedHistory();
    stats.ops_checked = h.size();
    CheckOptions o;
    o.max_steps = kCheckerMaxSteps;
    CheckResult r = CheckLinearizability(h, o);
    stats.checker_steps = r.steps;
    if (r.outcome == CheckResult::Outcome::kNotLinearizable) {
      Fail("client history not linearizable: " + r.description);
    } else if (r.outcome == CheckResult::Outcome::kUnknown) {
      std::string ops;
      for (size_t i = 0; i < r.operations.size() && i < 300; ++i) {
        ops += fmt::format("    #{} {}\n", r.operations[i], DescribeOperation(h[r.operations[i]]));
      }
      Fail(fmt::format("linearizability check inconclusive: {}\n  operations on the key:\n{}", r.description, ops));
    }
  }

  std::string CheckEverything() {
    if (!failed) CheckLogMatching();
    if (!failed) CheckAllLeaders();
    if (!failed) CheckFinalStates();
    if (!failed) CheckLinearizable();
    return failed ? failure : std::string();
  }

  // ---- The random run ---------------------------------------------------------

  void RunScenario() {
    RunUntilTime(static_cast<int64_t>(options.fault_ticks) * kTickUnits);
    if (failed) return;
    HealAll();
    heal_time = now;
    const int64_t deadline = now + static_cast<int64_t>(options.heal_ticks) * kTickUnits;
    while (!failed && !progress_after_heal && now < deadline) RunUntilTime(now + kTickUnits);
    if (failed) return;
    if (!progress_after_heal) {
      std::string roles;
      for (const auto& [id, n] : nodes) {
        if (!n.started) continue;
        roles += fmt::format(" n{}:{}{}@{}", id, n.up ? raft::RoleName(n.raft->role()) : "down",
                             n.up ? fmt::format("(term {}, commit {})", n.raft->term(), n.raft->committed()) : "",
                             n.up ? fmt::format("voters={}", n.raft->conf_state().voters_size()) : "");
      }
      Fail(fmt::format("liveness: no write committed within {} ticks after healing;{}", options.heal_ticks, roles));
      return;
    }
    // Let in-flight operations finish, then check.
    clients_stopped = true;
    RunUntilTime(now + static_cast<int64_t>(options.client_timeout_ticks + 5) * kTickUnits);
  }

  SimOptions options;
  std::mt19937_64 rng;
  Scenario sc;
  int64_t now = 0;
  uint64_t next_seq = 0;
  std::vector<Event> events;
  std::map<uint64_t, Node> nodes;
  std::vector<Client> clients;
  std::map<std::pair<uint64_t, uint64_t>, int> cuts;
  uint64_t net_epoch = 0;
  bool healed = false;
  bool clients_stopped = false;
  int64_t heal_time = 0;
  bool progress_after_heal = false;

  std::vector<KvOperation> history;
  std::vector<OpMeta> meta;
  std::set<std::pair<int, uint64_t>> applied_reqs;  // (client, req) that took effect
  std::set<uint64_t> removal_proposed;               // never re-added

  std::map<uint64_t, LeaderRecord> leaders;  // by term
  std::map<uint64_t, CommitRecord> commits;  // by index
  uint64_t max_commit_marked = 0;
  std::map<uint64_t, AppliedRecord> applied;         // by index
  std::map<uint64_t, std::string> snapshot_states;   // state machine state by index

  SimStats stats;
  bool failed = false;
  std::string failure;
  uint64_t digest = 0xcbf29ce484222325ULL;
  std::vector<TraceEvent> ring;
  size_t ring_pos = 0;
};

// ---- RaftSim -----------------------------------------------------------------

RaftSim::RaftSim(const SimOptions& options) : impl_(std::make_unique<Impl>(options)) { impl_->Setup(); }
RaftSim::~RaftSim() = default;

void RaftSim::RunTicks(int ticks) { impl_->RunUntilTime(impl_->now + static_cast<int64_t>(ticks) * kTickUnits); }

bool RaftSim::RunUntil(const std::function<bool()>& done, int max_ticks) {
  for (int i = 0; i < max_ticks && !impl_->failed; ++i) {
    if (done()) return true;
    RunTicks(1);
  }
  return !impl_->failed && done();
}

NodeId RaftSim::Leader() const { return NodeId(impl_->LeaderId()); }

std::vector<NodeId> RaftSim::Nodes() const {
  std::vector<NodeId> out;
  for (uint64_t id : impl_->StartedIds()) out.push_back(NodeId(id));
  return out;
}

bool RaftSim::IsUp(NodeId node) const {
  auto it = impl_->nodes.find(node.value());
  return it != impl_->nodes.end() && it->second.up;
}

Term RaftSim::NodeTerm(NodeId node) const { return IsUp(node) ? impl_->nodes.at(node.value()).raft->term() : Term(0); }

void RaftSim::CutLink(NodeId from, NodeId to) { impl_->Cut(from.value(), to.value()); }

void RaftSim::Isolate(NodeId node) {
  for (uint64_t y : impl_->StartedIds()) {
    if (y == node.value()) continue;
    impl_->Cut(node.value(), y);
    impl_->Cut(y, node.value());
  }
}

void RaftSim::HealNetwork() { impl_->HealNetwork(); }

void RaftSim::CrashAt(NodeId node, CrashPoint point) {
  Impl::Node& n = impl_->nodes.at(node.value());
  if (n.up) impl_->DoCrashAt(n, point);
}

void RaftSim::Restart(NodeId node) {
  Impl::Node& n = impl_->nodes.at(node.value());
  if (!n.up) impl_->Start(n);
}

LogIndex RaftSim::DiskLastIndex(NodeId node) const { return LogIndex(impl_->nodes.at(node.value()).current.LastIndex()); }
LogIndex RaftSim::SyncedLastIndex(NodeId node) const {
  return LogIndex(impl_->nodes.at(node.value()).synced.LastIndex());
}
void RaftSim::SetSyncLatency(NodeId node, int units) { impl_->nodes.at(node.value()).sync_latency = units; }

size_t RaftSim::Submit(int client, KvOpKind kind, std::string key, std::string value, NodeId target, bool via_log,
                       bool follow_redirects) {
  Impl::Client& c = impl_->ClientAt(client);
  return impl_->StartOp(c, kind, std::move(key), std::move(value), target.value(), via_log, follow_redirects);
}

bool RaftSim::Done(size_t op) const { return !impl_->history[op].pending(); }
bool RaftSim::Rejected(size_t op) const { return impl_->meta[op].rejected; }
const std::vector<KvOperation>& RaftSim::history() const { return impl_->history; }

std::optional<std::string> RaftSim::LocalValue(NodeId node, const std::string& key) const {
  auto it = impl_->nodes.find(node.value());
  if (it == impl_->nodes.end() || !it->second.up) return std::nullopt;
  return it->second.kv.Get(key);
}

std::string RaftSim::Check() { return impl_->CheckEverything(); }
const std::string& RaftSim::failure() const { return impl_->failure; }
std::string RaftSim::TraceTail() const { return impl_->TraceTail(); }
const SimStats& RaftSim::stats() const { return impl_->stats; }
uint64_t RaftSim::digest() const { return impl_->digest; }

SimResult RunRaftSim(const SimOptions& options) {
  RaftSim sim(options);
  RaftSim::Impl& s = *sim.impl_;
  s.RunScenario();
  s.CheckEverything();
  s.stats.ticks = static_cast<uint64_t>(s.now / kTickUnits);
  SimResult r;
  r.ok = !s.failed;
  r.scenario = s.sc.Describe();
  r.digest = s.digest;
  r.stats = s.stats;
  if (!r.ok) {
    r.failure = fmt::format("seed {}: {}\n  scenario: {}\n  trace tail (last {} events):\n{}", options.seed,
                            s.failure, r.scenario, s.ring.size(), s.TraceTail());
  }
  return r;
}

}  // namespace cfs::testing
