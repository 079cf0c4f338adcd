// MultiRaft benchmarks: hosts in one process talking real RPC over
// loopback, each with its own WAL (fdatasync per round) under $TMPDIR:
//   (a) idle groups: messages and RPCs per second between 3 hosts sharing
//       1,000 idle groups, heartbeats coalesced per node pair vs one RPC per
//       group heartbeat (the baseline, also without transport merging);
//   (b) commit latency of one group with 3 replicas, sequential proposals;
//   (c) one group's throughput with 64 and 256 proposals in flight;
//   (d) aggregate throughput of 100 groups (leaders spread over the hosts).
// Entries are 128 bytes. A plain main printing a table; figures depend on the
// disk's fsync latency (on tmpfs fsync is free) and the cores available.
//
// Build and run (release preset):
//   cmake --preset release && cmake --build build/release --target cfs_raft_bench
//   build/release/bench/cfs_raft_bench [a|b|c|d ...]
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/logging.h"
#include "raft/multiraft.h"
#include "raft/rpc_transport.h"
#include "rpc/channel.h"
#include "rpc/runtime.h"
#include "rpc/server.h"

namespace cfs::raft {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// Counts what it applies; its snapshot is the count.
class CounterMachine : public StateMachine {
 public:
  Result<std::string> Apply(LogIndex, std::string_view data) override {
    count_ += 1;
    bytes_ += data.size();
    return std::string();
  }
  Result<std::string> Snapshot() override { return fmt::format("{} {}", count_, bytes_); }
  Status Restore(std::string_view data) override {
    if (std::sscanf(std::string(data).c_str(), "%lu %lu", &count_, &bytes_) != 2) return Status::Corruption("counter");
    return Status::OK();
  }

 private:
  unsigned long count_ = 0;
  unsigned long bytes_ = 0;
};

struct Node {
  NodeId id;
  std::unique_ptr<rpc::Server> server;
  std::unique_ptr<rpc::ChannelPool> pool;
  std::unique_ptr<RpcTransport> transport;
  std::unique_ptr<MultiRaft> raft;
  std::string address;
};

// `hosts` nodes, each with a server, transport and host, all in `dir`.
class Cluster {
 public:
  Cluster(int hosts, int groups, MultiRaftOptions base, RpcTransportOptions topts) : runtime_(2) {
    const char* t = std::getenv("TMPDIR");
    std::string pattern = std::string(t && *t ? t : "/tmp") + "/cfs-raft-bench-XXXXXX";
    if (!::mkdtemp(pattern.data())) Die(Status::FromErrno(errno, "mkdtemp " + pattern));
    dir_ = pattern;
    for (int i = 1; i <= hosts; ++i) {
      auto n = std::make_unique<Node>();
      n->id = NodeId(i);
      n->pool = std::make_unique<rpc::ChannelPool>(runtime_.executor());
      n->transport = std::make_unique<RpcTransport>(*n->pool, topts);
      MultiRaftOptions o = base;
      o.node = n->id;
      o.dir = fmt::format("{}/node{}", dir_, i);
      auto r = MultiRaft::Open(o, n->transport.get());
      if (!r.ok()) Die(r.status());
      n->raft = std::move(*r);
      n->transport->SetHost(n->raft.get());
      n->server = std::make_unique<rpc::Server>(runtime_.executor());
      RegisterRaftHandlers(*n->server, n->raft.get());
      auto bound = n->server->Listen("127.0.0.1:0");
      if (!bound.ok()) Die(bound.status());
      n->address = *bound;
      nodes_.push_back(std::move(n));
    }
    std::vector<NodeId> ids;
    for (auto& n : nodes_) ids.push_back(n->id);
    for (auto& a : nodes_) {
      for (auto& b : nodes_) {
        if (a != b) a->transport->SetPeer(b->id, b->address);
      }
      for (int g = 1; g <= groups; ++g) {
        Status s = a->raft->AddGroup(GroupId(g), ids, std::make_shared<CounterMachine>());
        if (!s.ok()) Die(s);
      }
    }
    for (auto& n : nodes_) n->raft->Start();
  }

  ~Cluster() {
    for (auto& n : nodes_) n->raft->Stop();
    for (auto& n : nodes_) n->server->Stop();
    runtime_.Stop();
    nodes_.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  [[noreturn]] static void Die(const Status& s) {
    fmt::print(stderr, "raft_bench: {}\n", s.ToString());
    std::exit(1);
  }

  // The host leading `g` as every host agrees, or nullptr.
  MultiRaft* Leader(GroupId g) {
    MultiRaft* leader = nullptr;
    NodeId id;
    for (auto& n : nodes_) {
      auto st = n->raft->GetStatus(g);
      if (!st.ok()) return nullptr;
      if (st->role == Role::kLeader) {
        leader = n->raft.get();
        id = n->id;
      }
    }
    if (!leader) return nullptr;
    for (auto& n : nodes_) {
      if (n->raft->GetStatus(g)->leader != id) return nullptr;
    }
    return leader;
  }

  // Waits until every group has a leader, up to `deadline`; how many have.
  int WaitLeaders(int groups, std::chrono::seconds deadline = 120s) {
    auto end = SteadyClock::now() + deadline;
    int elected = 0;
    for (int g = 1; g <= groups; ++g) {
      while (!Leader(GroupId(g)) && SteadyClock::now() < end) std::this_thread::sleep_for(10ms);
    }
    for (int g = 1; g <= groups; ++g) elected += Leader(GroupId(g)) ? 1 : 0;
    return elected;
  }

  std::vector<std::unique_ptr<Node>>& nodes() { return nodes_; }

 private:
  rpc::Runtime runtime_;
  std::string dir_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

MultiRaftOptions BaseOptions() {
  MultiRaftOptions o;
  o.tick = 100ms;
  o.election_ticks = 10;
  return o;
}

// ---- (a) idle groups ----

void IdleGroups(int groups, bool coalesce) {
  constexpr int kHosts = 3;
  constexpr auto kMeasure = 3s;
  MultiRaftOptions o = BaseOptions();
  o.coalesce_heartbeats = coalesce;
  RpcTransportOptions t;
  if (!coalesce) {
    t.max_merged_bytes = 0;  // the baseline: every batch is its own RPC
    // A leader of a third of the groups queues that many heartbeats per peer
    // a tick: room for them, so the baseline is not cut short by drops.
    t.max_queued_batches = static_cast<size_t>(4 * groups);
  }
  Cluster c(kHosts, groups, o, t);
  const int elected = c.WaitLeaders(groups, 60s);
  std::this_thread::sleep_for(1s);  // elections' traffic passes
  auto snap = [&] {
    HostStats sum;
    RpcTransportStats ts;
    for (auto& n : c.nodes()) {
      HostStats s = n->raft->stats();
      sum.messages_sent += s.messages_sent;
      sum.batches_sent += s.batches_sent;
      sum.ticks += s.ticks;
      RpcTransportStats t = n->transport->stats();
      ts.calls += t.calls;
      ts.dropped_batches += t.dropped_batches;
    }
    return std::make_pair(sum, ts);
  };
  auto [s0, t0s] = snap();
  double cpu0 = CpuSeconds();
  auto t0 = SteadyClock::now();
  std::this_thread::sleep_for(kMeasure);
  auto [s1, t1s] = snap();
  double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  double cpu = CpuSeconds() - cpu0;
  double ticks_per_host = static_cast<double>(s1.ticks - s0.ticks) / kHosts;
  double rpcs = static_cast<double>(t1s.calls - t0s.calls);
  constexpr int kPairs = kHosts * (kHosts - 1) / 2;
  fmt::print("  {:>6} {:<10} {:>8} {:>9.0f} {:>10.0f} {:>9.0f} {:>10.0f} {:>10.1f} {:>9.0f} {:>5.0f}%\n", groups,
             coalesce ? "coalesced" : "per-group", fmt::format("{}/{}", elected, groups),
             static_cast<double>(s1.messages_sent - s0.messages_sent) / secs,
             static_cast<double>(s1.batches_sent - s0.batches_sent) / secs, rpcs / secs, rpcs / kPairs / secs,
             rpcs / kHosts / ticks_per_host, static_cast<double>(t1s.dropped_batches - t0s.dropped_batches) / secs,
             100.0 * cpu / secs);
}

// ---- proposals ----

struct LoadResult {
  double ops_per_s = 0;
  double p50_us = 0, p99_us = 0, mean_us = 0;
  uint64_t errors = 0;
  double syncs_per_op = 0;
};

// What a load run shares with its callbacks, which may still be returning
// when the run ends.
struct LoadState {
  std::string payload = std::string(128, 'e');
  std::vector<MultiRaft*> leaders;
  int total = 0;
  std::atomic<int> issued{0};
  std::mutex mu;
  std::condition_variable cv;
  std::vector<double> latencies;  // guarded by mu
  int done = 0;                   // guarded by mu
  uint64_t errors = 0;            // guarded by mu
};

// Issues the next proposal of a slot; its callback issues the one after.
void Issue(const std::shared_ptr<LoadState>& st, int slot) {
  if (st->issued.fetch_add(1) >= st->total) return;
  const size_t g = static_cast<size_t>(slot) % st->leaders.size();
  auto start = SteadyClock::now();
  st->leaders[g]->Propose(GroupId(g + 1), st->payload, [st, slot, start](Result<std::string> r) {
    double us = std::chrono::duration<double, std::micro>(SteadyClock::now() - start).count();
    {
      std::lock_guard l(st->mu);
      if (r.ok()) {
        st->latencies.push_back(us);
      } else {
        ++st->errors;
      }
      ++st->done;
    }
    st->cv.notify_one();
    Issue(st, slot);
  });
}

// Keeps `inflight` proposals outstanding, spread over `groups` groups (on
// their leaders), until `total` completed.
LoadResult RunLoad(Cluster& c, int groups, int inflight, int total) {
  auto st = std::make_shared<LoadState>();
  st->total = total;
  for (int g = 1; g <= groups; ++g) {
    MultiRaft* leader = c.Leader(GroupId(g));
    if (!leader) Cluster::Die(Status::Unavailable(fmt::format("group {} has no leader", g)));
    st->leaders.push_back(leader);
  }
  st->latencies.reserve(static_cast<size_t>(total));
  uint64_t syncs0 = 0;
  for (auto& n : c.nodes()) syncs0 += n->raft->stats().wal_syncs;
  auto t0 = SteadyClock::now();
  for (int i = 0; i < inflight; ++i) Issue(st, i);
  std::unique_lock l(st->mu);
  if (!st->cv.wait_for(l, 300s, [&] { return st->done >= total; })) Cluster::Die(Status::Timeout("load did not finish"));
  double secs = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  uint64_t syncs1 = 0;
  for (auto& n : c.nodes()) syncs1 += n->raft->stats().wal_syncs;
  std::vector<double>& lat = st->latencies;
  std::sort(lat.begin(), lat.end());
  LoadResult r;
  r.ops_per_s = static_cast<double>(lat.size()) / secs;
  if (!lat.empty()) {
    r.p50_us = lat[lat.size() / 2];
    r.p99_us = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
    double sum = 0;
    for (double v : lat) sum += v;
    r.mean_us = sum / static_cast<double>(lat.size());
  }
  r.errors = st->errors;
  // WAL syncs per commit on each host.
  r.syncs_per_op = static_cast<double>(syncs1 - syncs0) / static_cast<double>(total) /
                   static_cast<double>(c.nodes().size());
  return r;
}

void PrintLoad(const std::string& what, const LoadResult& r) {
  fmt::print("  {:<24} {:>10.0f} {:>10.0f} {:>10.0f} {:>10.0f} {:>12.3f} {:>7}\n", what, r.ops_per_s, r.mean_us, r.p50_us,
             r.p99_us, r.syncs_per_op, r.errors);
}

void LoadHeader() {
  fmt::print("  {:<24} {:>10} {:>10} {:>10} {:>10} {:>12} {:>7}\n", "", "commits/s", "mean us", "p50 us", "p99 us",
             "syncs/commit", "errors");
}

}  // namespace
}  // namespace cfs::raft

int main(int argc, char** argv) {
  using namespace cfs::raft;
  cfs::InitLogging("warn");
  std::vector<std::string> parts;
  for (int i = 1; i < argc; ++i) parts.push_back(argv[i]);
  if (parts.empty()) parts = {"a", "b", "c", "d"};
  auto want = [&](const char* p) { return std::find(parts.begin(), parts.end(), p) != parts.end(); };
  const char* tmp = std::getenv("TMPDIR");
  fmt::print("raft_bench: hosts in one process over loopback RPC, WALs under {}, {} cores\n",
             tmp && *tmp ? tmp : "/tmp", std::thread::hardware_concurrency());

  if (want("a")) {
    fmt::print("\n(a) 3 hosts sharing idle groups, tick 100 ms, 3 s measured, all hosts summed; the per-group\n"
               "    baseline sends each group heartbeat (and answer) as its own RPC, without transport merging\n");
    fmt::print("    msgs/s: group messages (each group's heartbeat counts, coalesced or not); RPCs/s: on the\n"
               "    wire, all hosts; pair RPCs/s: between one node pair, both directions; RPCs/h/tick: per host\n");
    fmt::print("  {:>6} {:<10} {:>8} {:>9} {:>10} {:>9} {:>10} {:>10} {:>9} {:>6}\n", "groups", "heartbeat", "leaders",
               "msgs/s", "batches/s", "RPCs/s", "pair RPC/s", "RPCs/h/tick", "dropped/s", "CPU");
    for (int groups : {100, 1000}) {
      IdleGroups(groups, true);
      IdleGroups(groups, false);
    }
  }
  if (want("b") || want("c")) {
    MultiRaftOptions o = BaseOptions();
    Cluster c(3, 1, o, {});
    if (c.WaitLeaders(1) != 1) Cluster::Die(cfs::Status::Timeout("no leader"));
    if (want("b")) {
      fmt::print("\n(b) commit latency: 1 group, 3 replicas, 128-byte entries, sequential\n");
      LoadHeader();
      RunLoad(c, 1, 1, 200);  // warm up
      PrintLoad("1 in flight x 2000", RunLoad(c, 1, 1, 2000));
    }
    if (want("c")) {
      fmt::print("\n(c) one group's throughput, 3 replicas, 128-byte entries\n");
      LoadHeader();
      for (int inflight : {64, 256}) {
        PrintLoad(fmt::format("{} in flight x 30000", inflight), RunLoad(c, 1, inflight, 30000));
      }
    }
  }
  if (want("d")) {
    fmt::print("\n(d) 100 groups on 3 hosts (leaders spread), 128-byte entries\n");
    MultiRaftOptions o = BaseOptions();
    Cluster c(3, 100, o, {});
    if (c.WaitLeaders(100) != 100) Cluster::Die(cfs::Status::Timeout("not every group elected a leader"));
    LoadHeader();
    for (int inflight : {100, 400}) {
      PrintLoad(fmt::format("{} in flight x 40000", inflight), RunLoad(c, 100, inflight, 40000));
    }
  }
  return 0;
}
