#include "raft/multiraft.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <future>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <fmt/format.h>

#include "common/logging.h"
#include "raft/snapshot_store.h"

namespace cfs::raft {
namespace {

namespace asio = boost::asio;
using SteadyClock = std::chrono::steady_clock;
using ProposeCallback = std::function<void(Result<std::string>)>;
using StatusCallback = std::function<void(Status)>;

// A failed WAL or snapshot write leaves the node unable to keep the promises
// it made to its peers (§3.8): it stops loudly rather than go on.
[[noreturn]] void FatalStorage(GroupId group, std::string_view what, const Status& s) {
  spdlog::critical("raft group {}: {}: {}", group, what, s.ToString());
  std::abort();
}

// How long a forked snapshot child may run before SIGALRM ends it.
constexpr unsigned kSnapshotChildSeconds = 600;

void CheckStorage(GroupId group, std::string_view what, const Status& s) {
  if (!s.ok()) FatalStorage(group, what, s);
}

std::string LeaderHint(NodeId leader) { return leader.value() == 0 ? std::string() : fmt::format("{}", leader); }

// The raft thread's queue. Other threads Post work; the raft thread takes it
// all at once per round. Once closed, Post refuses (returns false) so callers
// can fail their own callbacks.
struct Mailbox {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::function<void()>> queue;  // guarded by mu
  bool closed = false;                       // guarded by mu

  bool Post(std::function<void()> fn) {
    {
      std::lock_guard l(mu);
      if (closed) return false;
      queue.push_back(std::move(fn));
    }
    cv.notify_one();
    return true;
  }
  void Close() {
    {
      std::lock_guard l(mu);
      closed = true;
    }
    cv.notify_one();
  }
};

// One committed entry for the apply strand.
struct ApplyItem {
  proto::Entry entry;
  std::optional<proto::ConfState> conf;  // membership after a conf change entry
  ProposeCallback done;                  // the proposer waiting here, if any
  bool aborted = false;                  // another term's entry took the proposer's index
};

// One Ready's work for a group's apply strand, in order: restore, entries,
// then reads that may proceed once they are applied.
struct ApplyTask {
  std::optional<StoredSnapshot> restore;
  std::vector<ApplyItem> items;
  std::vector<StatusCallback> reads;
  bool empty() const { return !restore && items.empty() && reads.empty(); }
};

}  // namespace

// The apply side of one group: its state machine and strand. Fields marked
// "strand" are touched only by tasks on the strand.
struct Applier : std::enable_shared_from_this<Applier> {
  Applier(GroupId g, std::shared_ptr<StateMachine> m, asio::thread_pool& pool)
      : group(g), machine(std::move(m)), strand(asio::make_strand(pool.get_executor())) {}

  const GroupId group;
  const std::shared_ptr<StateMachine> machine;
  asio::strand<asio::thread_pool::executor_type> strand;

  LogIndex applied;               // strand
  Term applied_term;              // strand
  proto::ConfState conf;          // strand: membership as of `applied`
  LogIndex last_snapshot;         // strand: index of the last snapshot taken or restored
  std::atomic<uint64_t> applied_index{0};  // mirror of `applied` for GetStatus
  std::atomic<uint64_t> applied_term_value{0};  // mirror of `applied_term` for HoldsReadLease
  std::atomic<bool> removed{false};

  // Serializes the group's SnapshotStore writes: snapshots taken here and
  // snapshots installed by the raft thread. Only a newer one replaces.
  std::mutex store_mu;
  uint64_t stored_index = 0;  // guarded by store_mu

  // A snapshot being written by a child process (fork_snapshots), strand.
  struct Child {
    pid_t pid = 0;
    proto::SnapshotMeta meta;
    std::unique_ptr<asio::posix::stream_descriptor> exited;  // its pidfd: readable once it exits
  };
  std::optional<Child> child;  // strand
};

struct MultiRaft::Impl {
  // A snapshot being streamed to a follower.
  struct OutgoingSnapshot {
    uint64_t generation = 0;
    bool loaded = false;
    proto::Message message;  // MSG_SNAPSHOT, its meta set to the stored snapshot's
    std::string data;
    size_t offset = 0;
    size_t chunk = 0;  // bytes of the chunk in flight
  };

  struct ReadWaiter {
    StatusCallback done;
    uint64_t started_tick = 0;
  };

  // A group's consensus state; raft thread only.
  struct Group {
    GroupId id;
    std::unique_ptr<Raft> core;
    std::shared_ptr<Applier> applier;
    struct Waiter {
      Term term;
      ProposeCallback done;
    };
    std::map<uint64_t, Waiter> proposals;  // by log index
    absl::flat_hash_map<std::string, ReadWaiter> reads;  // by context, before their ReadState
    std::multimap<uint64_t, StatusCallback> reads_ready;  // by read index, waiting for apply
    LogIndex dispatched;  // last index handed to the applier
    Term published_lease_term;  // what PublishLease last published
    int64_t published_lease_end = std::numeric_limits<int64_t>::min();
    proto::HardState hard_state;  // as last given to the WAL
    NodeId reported_leader;
    Term reported_term;
    std::map<uint64_t, std::string> incoming_snapshots;  // received data by snapshot index
    absl::flat_hash_map<NodeId, OutgoingSnapshot> outgoing;  // by follower
  };

  MultiRaftOptions options;
  Transport* transport = nullptr;
  std::unique_ptr<Wal> wal;
  std::unique_ptr<SnapshotStore> store;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  std::unique_ptr<asio::thread_pool> pool;

  std::mutex lifecycle_mu;
  enum class Phase { kNew, kRunning, kStopped } phase = Phase::kNew;  // guarded by lifecycle_mu
  std::thread thread;
  std::atomic<std::thread::id> raft_thread_id{};
  std::function<void(GroupId, NodeId, Term)> leader_listener;

  // Raft thread (or Stop after the thread is joined, or AddGroup before Start).
  absl::flat_hash_map<GroupId, std::unique_ptr<Group>> groups;
  absl::flat_hash_set<GroupId> dirty;        // may have a Ready
  absl::flat_hash_set<NodeId> unreachable;   // reported since the last round
  absl::flat_hash_set<GroupId> forgotten;    // removed here: the WAL's recovered state is stale
  bool stopping = false;
  uint64_t ticks = 0;
  uint64_t next_read_id = 0;
  uint64_t next_snapshot_generation = 0;
  SteadyClock::time_point next_tick;

  // Snapshot chunks being assembled, by (group, sender).
  std::mutex chunks_mu;
  std::map<std::pair<GroupId, NodeId>, std::string> assembling;  // guarded by chunks_mu

  mutable std::mutex status_mu;
  struct StatusEntry {
    GroupStatus status;
    std::shared_ptr<Applier> applier;
    // The core's LeaseEnd as last published (PublishLease), and its term;
    // INT64_MIN: none.
    Term lease_term;
    int64_t lease_end = std::numeric_limits<int64_t>::min();
  };
  absl::flat_hash_map<GroupId, StatusEntry> status;  // guarded by status_mu

  struct Counters {
    std::atomic<uint64_t> batches_sent{0}, messages_sent{0}, heartbeats_sent{0}, ticks{0}, wal_syncs{0},
        snapshots_sent{0}, snapshot_chunks_sent{0}, snapshots_installed{0};
  } counters;

  // ---- running work on the raft thread ----

  // Runs fn on the raft thread and returns its value: inline when called on
  // it or before Start (under lifecycle_mu, so Start waits).
  template <typename T>
  T RunSync(std::function<T()> fn, T if_stopped) {
    if (std::this_thread::get_id() == raft_thread_id.load()) return fn();
    {
      std::lock_guard l(lifecycle_mu);
      if (phase == Phase::kNew) return fn();
      if (phase == Phase::kStopped) return if_stopped;
    }
    std::promise<T> p;
    auto f = p.get_future();
    // Stop runs what is still queued (with `stopping` set), so the promise is
    // always fulfilled once posted.
    if (!mailbox->Post([&p, &fn] { p.set_value(fn()); })) return if_stopped;
    return f.get();
  }

  Group* Find(GroupId id) {
    auto it = groups.find(id);
    return it == groups.end() ? nullptr : it->second.get();
  }

  // Runs `fn` on the group's apply strand (callbacks run there by contract).
  static void OnStrand(const std::shared_ptr<Applier>& a, std::function<void()> fn) {
    asio::post(a->strand, std::move(fn));
  }
  // For callbacks that have no group strand to run on.
  void OnPool(std::function<void()> fn) { asio::post(*pool, std::move(fn)); }

  Status Unavailable() const { return Status::Unavailable(fmt::format("raft host {} is stopped", options.node)); }

  // ---- the loop ----

  void Loop() {
    raft_thread_id.store(std::this_thread::get_id());
    next_tick = SteadyClock::now() + options.tick;
    for (;;) {
      std::vector<std::function<void()>> work;
      {
        std::unique_lock l(mailbox->mu);
        mailbox->cv.wait_until(l, next_tick, [&] { return mailbox->closed || !mailbox->queue.empty() || !dirty.empty(); });
        if (mailbox->closed) break;
        work.swap(mailbox->queue);
      }
      for (auto& fn : work) fn();
      ReportUnreachableNodes();
      const auto now = SteadyClock::now();
      if (now >= next_tick) {
        TickAll();
        // After a stall, tick once and resume the cadence rather than burst.
        next_tick += options.tick;
        if (next_tick <= now) next_tick = now + options.tick;
      }
      ProcessReady();
    }
  }

  void TickAll() {
    ++ticks;
    counters.ticks.fetch_add(1, std::memory_order_relaxed);
    for (auto& [id, g] : groups) {
      g->core->Tick();
      dirty.insert(id);
      ExpireReads(*g);
    }
  }

  // A ReadIndex the core dropped silently (no leader, leadership lost, a
  // lost message) is failed after two election timeouts, so waiters do not
  // pile up.
  void ExpireReads(Group& g) {
    if (g.reads.empty()) return;
    const uint64_t limit = 2 * static_cast<uint64_t>(options.election_ticks);
    for (auto it = g.reads.begin(); it != g.reads.end();) {
      if (ticks - it->second.started_tick > limit) {
        auto done = std::move(it->second.done);
        OnStrand(g.applier, [done = std::move(done), leader = g.core->leader()] {
          done(Status::NotLeader("read index: no answer from a leader", LeaderHint(leader)));
        });
        g.reads.erase(it++);
      } else {
        ++it;
      }
    }
  }

  void ReportUnreachableNodes() {
    if (unreachable.empty()) return;
    for (NodeId node : unreachable) {
      for (auto& [id, g] : groups) {
        g->core->ReportUnreachable(node);
        dirty.insert(id);
      }
    }
    unreachable.clear();
  }

  // One round of Ready handling across every group that has one: persist all
  // with one fdatasync, send, apply, Advance.
  void ProcessReady() {
    struct Work {
      Group* g;
      Ready rd;
      ApplyTask task;
    };
    std::vector<Work> work;
    for (GroupId id : dirty) {
      Group* g = Find(id);
      if (!g) continue;
      PublishLease(*g);  // before this round's messages (a TimeoutNow) go out
      if (g->core->HasReady()) work.push_back(Work{g, g->core->GetReady(), {}});
    }
    dirty.clear();
    if (work.empty()) return;

    // 0. A leader's appends and heartbeats go out first, so the followers
    //    write while the leader does (§10.2.1): they promise nothing about
    //    the leader's disk. The leader counted its new entries as its own
    //    at once, but no answer to these is stepped before the Sync below,
    //    so nothing commits on the leader's copy before it is durable.
    absl::flat_hash_map<NodeId, proto::RaftBatch> batches;
    std::vector<std::pair<NodeId, proto::RaftBatch>> singles;
    for (auto& w : work) {
      auto& ms = w.rd.messages;
      auto later = std::stable_partition(ms.begin(), ms.end(), [](const proto::Message& m) {
        return m.type() == proto::MSG_APPEND || m.type() == proto::MSG_HEARTBEAT;
      });
      for (auto it = ms.begin(); it != later; ++it) Route(*w.g, std::move(*it), batches, singles);
      ms.erase(ms.begin(), later);
    }
    SendAll(batches, singles);

    // 1. Persist. A vote or an append answer promises what is on disk
    //    (§3.8), so those are sent after the Sync. The commit index alone
    //    needs no fdatasync (it is recovered from a quorum, §3.8): a record
    //    with only a new commit is written and synced with the next batch.
    bool must_sync = false;
    for (auto& w : work) {
      if (w.rd.snapshot) {
        InstallSnapshot(*w.g, *w.rd.snapshot, w.task);
        must_sync = true;
      }
      if (!w.rd.entries.empty()) {
        CheckStorage(w.g->id, "WAL append", wal->AppendEntries(w.g->id, w.rd.entries));
        must_sync = true;
      }
      if (w.rd.hard_state) {
        const proto::HardState& hs = *w.rd.hard_state;
        CheckStorage(w.g->id, "WAL hard state", wal->SaveHardState(w.g->id, hs));
        must_sync |= hs.term() != w.g->hard_state.term() || hs.vote() != w.g->hard_state.vote();
        w.g->hard_state = hs;
      }
    }
    if (must_sync) {
      CheckStorage(GroupId(0), "WAL sync", wal->Sync());
      counters.wal_syncs.fetch_add(1, std::memory_order_relaxed);
    }

    // 2. Send the rest, one batch per destination.
    for (auto& w : work) {
      for (auto& m : w.rd.messages) Route(*w.g, std::move(m), batches, singles);
    }
    SendAll(batches, singles);

    // 3. Apply (on the strands), 4. Advance.
    for (auto& w : work) {
      Dispatch(*w.g, w.rd, w.task);
      w.g->core->Advance(w.rd);
      if (w.g->core->HasReady()) dirty.insert(w.g->id);
      NotifyLeader(*w.g);
      UpdateStatus(*w.g);
    }
  }

  void Route(Group& g, proto::Message m, absl::flat_hash_map<NodeId, proto::RaftBatch>& batches,
             std::vector<std::pair<NodeId, proto::RaftBatch>>& singles) {
    const NodeId to(m.to());
    if (m.type() == proto::MSG_SNAPSHOT) {
      StartSnapshotSend(g, std::move(m));
      return;
    }
    const bool heartbeat = m.type() == proto::MSG_HEARTBEAT || m.type() == proto::MSG_HEARTBEAT_RESP;
    counters.messages_sent.fetch_add(1, std::memory_order_relaxed);
    if (heartbeat) counters.heartbeats_sent.fetch_add(1, std::memory_order_relaxed);
    if (heartbeat && options.coalesce_heartbeats) {
      proto::RaftBatch& b = BatchFor(batches, to);
      proto::GroupHeartbeat* hb =
          m.type() == proto::MSG_HEARTBEAT ? b.add_heartbeats() : b.add_heartbeat_responses();
      hb->set_group(g.id.value());
      hb->set_term(m.term());
      hb->set_commit(m.commit());
      hb->set_context(std::move(*m.mutable_context()));
      return;
    }
    proto::RaftBatch* b;
    if (heartbeat) {
      // The baseline without coalescing: one RPC per group heartbeat.
      singles.emplace_back(to, proto::RaftBatch());
      b = &singles.back().second;
      b->set_from(options.node.value());
      b->set_to(to.value());
    } else {
      b = &BatchFor(batches, to);
    }
    proto::GroupMessage* gm = b->add_messages();
    gm->set_group(g.id.value());
    *gm->mutable_message() = std::move(m);
  }

  proto::RaftBatch& BatchFor(absl::flat_hash_map<NodeId, proto::RaftBatch>& batches, NodeId to) {
    auto [it, inserted] = batches.try_emplace(to);
    if (inserted) {
      it->second.set_from(options.node.value());
      it->second.set_to(to.value());
    }
    return it->second;
  }

  // Sends and empties what Route collected.
  void SendAll(absl::flat_hash_map<NodeId, proto::RaftBatch>& batches,
               std::vector<std::pair<NodeId, proto::RaftBatch>>& singles) {
    for (auto& [to, batch] : batches) SendBatch(to, std::move(batch));
    for (auto& [to, batch] : singles) SendBatch(to, std::move(batch));
    batches.clear();
    singles.clear();
  }

  void SendBatch(NodeId to, proto::RaftBatch batch) {
    counters.batches_sent.fetch_add(1, std::memory_order_relaxed);
    transport->Send(to, std::move(batch));
  }

  // Hands committed entries and answerable reads to the group's strand.
  void Dispatch(Group& g, const Ready& rd, ApplyTask& task) {
    for (const proto::Entry& e : rd.committed_entries) {
      if (e.index() <= g.dispatched.value()) continue;  // covered by an installed snapshot
      ApplyItem item;
      item.entry = e;
      if (e.type() == proto::ENTRY_CONF_CHANGE) {
        proto::ConfChange cc;
        if (!cc.ParseFromString(e.data())) {
          FatalStorage(g.id, fmt::format("committed entry {} is not a ConfChange", e.index()), Status::Corruption("parse"));
        }
        item.conf = g.core->ApplyConfChange(cc);
      }
      // Proposers at earlier indexes were passed by (never seen here).
      FailProposalsBefore(g, e.index(), "its index was never committed here");
      auto it = g.proposals.find(e.index());
      if (it != g.proposals.end()) {
        item.done = std::move(it->second.done);
        // Another leader's entry at the proposer's index: the proposal was
        // overwritten (§3.5) and will never commit.
        item.aborted = Term(e.term()) != it->second.term;
        g.proposals.erase(it);
      }
      g.dispatched = LogIndex(e.index());
      task.items.push_back(std::move(item));
    }
    for (const ReadState& rs : rd.read_states) {
      auto it = g.reads.find(rs.context);
      if (it == g.reads.end()) continue;  // timed out already
      g.reads_ready.emplace(rs.index.value(), std::move(it->second.done));
      g.reads.erase(it);
    }
    // The strand runs tasks in order: a read posted after the entries
    // through its index runs once they are applied (§6.4 step 4).
    while (!g.reads_ready.empty() && g.reads_ready.begin()->first <= g.dispatched.value()) {
      task.reads.push_back(std::move(g.reads_ready.begin()->second));
      g.reads_ready.erase(g.reads_ready.begin());
    }
    if (task.empty()) return;
    auto applier = g.applier;
    auto* self = this;
    asio::post(applier->strand, [self, applier, task = std::move(task)]() mutable { self->Apply(*applier, task); });
  }

  void FailProposalsBefore(Group& g, uint64_t index, std::string_view why) {
    while (!g.proposals.empty() && g.proposals.begin()->first < index) {
      auto done = std::move(g.proposals.begin()->second.done);
      const uint64_t at = g.proposals.begin()->first;
      g.proposals.erase(g.proposals.begin());
      OnStrand(g.applier, [done = std::move(done), msg = fmt::format("raft group {}: entry {}: {}; outcome unknown",
                                                                     g.id, at, why)] {
        done(Status::Unavailable(msg));
      });
    }
  }

  // ---- apply strand ----

  void Apply(Applier& a, ApplyTask& task) {
    if (a.removed.load()) {
      for (auto& item : task.items) {
        if (item.done) item.done(Status::Unavailable(fmt::format("raft group {} was removed", a.group)));
      }
      for (auto& r : task.reads) r(Status::Unavailable(fmt::format("raft group {} was removed", a.group)));
      return;
    }
    if (task.restore) {
      // The snapshot replaces the state before any later entry (§5.1).
      Status s = a.machine->Restore(task.restore->data);
      if (!s.ok()) FatalStorage(a.group, fmt::format("restoring snapshot {}", task.restore->meta.index()), s);
      a.applied = LogIndex(task.restore->meta.index());
      a.applied_term = Term(task.restore->meta.term());
      a.conf = task.restore->meta.conf_state();
      a.last_snapshot = a.applied;
    }
    for (auto& item : task.items) {
      const proto::Entry& e = item.entry;
      if (e.index() <= a.applied.value()) {
        // Already in the state (a restored snapshot covers it).
        if (item.done) item.done(Status::Unavailable(fmt::format("entry {}: covered by a snapshot; outcome unknown", e.index())));
        continue;
      }
      Result<std::string> answer{std::string()};
      if (e.type() == proto::ENTRY_NORMAL && !e.data().empty()) answer = a.machine->Apply(LogIndex(e.index()), e.data());
      a.applied = LogIndex(e.index());
      a.applied_term = Term(e.term());
      if (item.conf) a.conf = *item.conf;
      if (item.done) {
        if (item.aborted) {
          item.done(Status(Code::kAborted,
                           fmt::format("raft group {}: entry {} was overwritten by another leader's", a.group, e.index())));
        } else {
          item.done(std::move(answer));
        }
      }
    }
    a.applied_index.store(a.applied.value());
    a.applied_term_value.store(a.applied_term.value());
    for (auto& r : task.reads) r(Status::OK());
    MaybeSnapshot(a);
  }

  // Snapshots the state machine once enough entries were applied since the
  // last snapshot, then has the raft thread mark the WAL and compact (§5.1).
  void MaybeSnapshot(Applier& a) {
    if (a.applied.value() < a.last_snapshot.value() + options.snapshot_entries) return;
    if (options.fork_snapshots) {
      ForkSnapshot(a);
      return;
    }
    std::optional<proto::SnapshotMeta> meta = TakeSnapshot(a);
    if (!meta) return;
    auto* self = this;
    const GroupId group = a.group;
    mailbox->Post([self, group, meta = *meta] { self->OnSnapshotSaved(group, meta, self->options.keep_entries); });
  }

  // The meta of a snapshot of what `a` applied.
  static proto::SnapshotMeta AppliedMeta(const Applier& a) {
    proto::SnapshotMeta meta;
    meta.set_index(a.applied.value());
    meta.set_term(a.applied_term.value());
    *meta.mutable_conf_state() = a.conf;
    return meta;
  }

  // Snapshots the state machine as of what it applied and stores it; the
  // meta, or nothing if there is nothing to snapshot or it failed (logged).
  std::optional<proto::SnapshotMeta> TakeSnapshot(Applier& a) {
    if (a.applied.value() == 0) return std::nullopt;
    a.last_snapshot = a.applied;  // also on failure: retry after another round of entries
    proto::SnapshotMeta meta = AppliedMeta(a);
    std::lock_guard l(a.store_mu);
    if (meta.index() < a.stored_index) return std::nullopt;  // a newer one was installed
    if (meta.index() == a.stored_index) return meta;         // stored already
    Result<std::string> data = a.machine->Snapshot();
    if (!data.ok()) {
      spdlog::error("raft group {}: snapshot at {}: {}", a.group, meta.index(), data.status().ToString());
      return std::nullopt;
    }
    Status s = store->Save(a.group, meta, *data);
    if (!s.ok()) {
      spdlog::error("raft group {}: saving snapshot at {}: {}", a.group, meta.index(), s.ToString());
      return std::nullopt;
    }
    a.stored_index = meta.index();
    return meta;
  }

  // fork_snapshots: a child process, holding the state as of now in its
  // copy-on-write image, serializes it and stages it in the store while the
  // strand goes on applying; when the child exits, OnSnapshotChild promotes
  // the staged snapshot. One child per group at a time. The child runs only
  // this thread: it takes no lock another thread may have held at the fork
  // (no logging; the state machine's Snapshot touches only its own state).
  void ForkSnapshot(Applier& a) {
    if (a.child || a.applied.value() == 0) return;  // the next one after this one ends
    a.last_snapshot = a.applied;
    proto::SnapshotMeta meta = AppliedMeta(a);
    {
      std::lock_guard l(a.store_mu);
      if (meta.index() <= a.stored_index) return;  // stored or a newer one installed
    }
    const pid_t pid = fork();
    if (pid < 0) {
      spdlog::error("raft group {}: snapshot at {}: fork: {}", a.group, meta.index(), std::strerror(errno));
      return;
    }
    if (pid == 0) {
      alarm(kSnapshotChildSeconds);  // a child stuck on a lock inherited locked dies, and fails
      Result<std::string> data = a.machine->Snapshot();
      Status st = data.ok() ? store->Stage(a.group, meta, *data) : data.status();
      _exit(st.ok() ? 0 : 1);
    }
    const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
    if (fd < 0) {  // cannot watch it: wait for it here
      int status = 0;
      (void)waitpid(pid, &status, 0);
      FinishSnapshot(a, meta, WIFEXITED(status) && WEXITSTATUS(status) == 0);
      return;
    }
    a.child = Applier::Child{pid, meta, std::make_unique<asio::posix::stream_descriptor>(a.strand, fd)};
    auto applier = a.shared_from_this();
    a.child->exited->async_wait(asio::posix::stream_descriptor::wait_read,
                                asio::bind_executor(a.strand, [this, applier](boost::system::error_code ec) {
                                  if (ec) return;  // cancelled: StopChild reaps it
                                  OnSnapshotChild(*applier);
                                }));
  }

  // The snapshot child exited: reap it and promote what it staged.
  void OnSnapshotChild(Applier& a) {
    if (!a.child) return;
    int status = 0;
    (void)waitpid(a.child->pid, &status, 0);
    Applier::Child c = std::move(*a.child);
    a.child.reset();
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok) {
      spdlog::error("raft group {}: snapshot at {}: the snapshot process failed (status {:#x})", a.group,
                    c.meta.index(), status);
    }
    FinishSnapshot(a, c.meta, ok);
  }

  // A staged snapshot is complete (`ok`) or not: promote it unless a newer
  // one is stored or the group is gone, then compact as TakeSnapshot's.
  void FinishSnapshot(Applier& a, const proto::SnapshotMeta& meta, bool ok) {
    {
      std::lock_guard l(a.store_mu);
      if (!ok || a.removed.load() || meta.index() <= a.stored_index) {
        (void)store->Discard(a.group);
        return;
      }
      Status s = store->Promote(a.group);
      if (!s.ok()) {
        spdlog::error("raft group {}: snapshot at {}: {}", a.group, meta.index(), s.ToString());
        return;
      }
      a.stored_index = meta.index();
    }
    auto* self = this;
    const GroupId group = a.group;
    mailbox->Post([self, group, meta] { self->OnSnapshotSaved(group, meta, self->options.keep_entries); });
  }

  // At Stop: a snapshot child still running is killed and reaped (its
  // staged file is dropped); the group keeps its last snapshot.
  void StopChild(Applier& a) {
    if (!a.child) return;
    (void)kill(a.child->pid, SIGKILL);
    int status = 0;
    (void)waitpid(a.child->pid, &status, 0);
    a.child->exited.reset();
    a.child.reset();
    std::lock_guard l(a.store_mu);
    (void)store->Discard(a.group);
  }

  // A snapshot through meta.index is stored: mark the WAL (its entries
  // through there are no longer needed) and compact the core's log, keeping
  // `keep` entries for slow followers.
  void OnSnapshotSaved(GroupId id, const proto::SnapshotMeta& meta, uint64_t keep) {
    if (stopping) return;
    Group* g = Find(id);
    if (!g || meta.index() <= g->core->snapshot().index()) return;
    CheckStorage(id, "WAL snapshot mark", wal->MarkSnapshot(id, meta));
    CheckStorage(id, "WAL sync", wal->Sync());
    counters.wal_syncs.fetch_add(1, std::memory_order_relaxed);
    Status s = g->core->Compact(meta, keep);
    if (!s.ok()) spdlog::warn("raft group {}: compacting through {}: {}", id, meta.index(), s.ToString());
    auto gc = wal->CollectGarbage();
    if (!gc.ok()) spdlog::warn("raft: WAL garbage collection: {}", gc.status().ToString());
    dirty.insert(id);
    UpdateStatus(*g);
  }

  // ---- snapshots between nodes ----

  // Ready.snapshot: the core accepted a leader's snapshot. Store it durably
  // and mark the WAL before anything acknowledges it; the strand restores it
  // before applying later entries.
  void InstallSnapshot(Group& g, const proto::SnapshotMeta& meta, ApplyTask& task) {
    auto it = g.incoming_snapshots.find(meta.index());
    if (it == g.incoming_snapshots.end()) {
      FatalStorage(g.id, fmt::format("the core installs snapshot {} whose data never arrived", meta.index()),
                   Status::Internal("missing snapshot data"));
    }
    std::string data = std::move(it->second);
    g.incoming_snapshots.erase(g.incoming_snapshots.begin(), std::next(it));
    {
      std::lock_guard l(g.applier->store_mu);
      CheckStorage(g.id, "saving a received snapshot", store->Save(g.id, meta, data));
      g.applier->stored_index = meta.index();
    }
    CheckStorage(g.id, "WAL snapshot mark", wal->MarkSnapshot(g.id, meta));
    FailProposalsBefore(g, meta.index() + 1, "replaced by a leader's snapshot");
    g.dispatched = LogIndex(meta.index());
    task.restore = StoredSnapshot{meta, std::move(data)};
    counters.snapshots_installed.fetch_add(1, std::memory_order_relaxed);
  }

  // The core wants `m.to` to get the snapshot: read the stored one off the
  // raft thread, then stream it in chunks, one in flight.
  void StartSnapshotSend(Group& g, proto::Message m) {
    const NodeId to(m.to());
    if (g.outgoing.contains(to)) return;  // one at a time per follower
    OutgoingSnapshot& out = g.outgoing[to];
    out.generation = ++next_snapshot_generation;
    out.message = std::move(m);
    auto* self = this;
    auto applier = g.applier;
    auto mailbox_ref = mailbox;
    const GroupId group = g.id;
    const uint64_t generation = out.generation;
    OnPool([self, applier, mailbox_ref, group, to, generation] {
      Result<StoredSnapshot> snap;
      {
        std::lock_guard l(applier->store_mu);
        snap = self->store->Load(group);
      }
      mailbox_ref->Post([self, group, to, generation, snap = std::move(snap)]() mutable {
        self->OnSnapshotLoaded(group, to, generation, std::move(snap));
      });
    });
  }

  OutgoingSnapshot* FindOutgoing(GroupId id, NodeId to, uint64_t generation, Group** group) {
    if (stopping) return nullptr;
    Group* g = Find(id);
    if (!g) return nullptr;
    auto it = g->outgoing.find(to);
    if (it == g->outgoing.end() || it->second.generation != generation) return nullptr;
    *group = g;
    return &it->second;
  }

  void FinishSnapshotSend(Group& g, NodeId to, bool ok) {
    g.outgoing.erase(to);
    g.core->ReportSnapshot(to, ok);
    dirty.insert(g.id);
    if (ok) counters.snapshots_sent.fetch_add(1, std::memory_order_relaxed);
  }

  void OnSnapshotLoaded(GroupId id, NodeId to, uint64_t generation, Result<StoredSnapshot> snap) {
    Group* g = nullptr;
    OutgoingSnapshot* out = FindOutgoing(id, to, generation, &g);
    if (!out) return;
    if (!snap.ok()) {
      spdlog::error("raft group {}: reading the snapshot for node {}: {}", id, to, snap.status().ToString());
      FinishSnapshotSend(*g, to, false);
      return;
    }
    // The stored snapshot may be newer than the one the core named (saved
    // but not yet compacted into the core): it is committed state too.
    *out->message.mutable_snapshot() = snap->meta;
    out->data = std::move(snap->data);
    out->loaded = true;
    SendChunk(*g, to, *out);
  }

  void SendChunk(Group& g, NodeId to, OutgoingSnapshot& out) {
    const size_t chunk_bytes = std::max<uint64_t>(1, options.snapshot_chunk_bytes);
    out.chunk = std::min(chunk_bytes, out.data.size() - out.offset);
    const bool last = out.offset + out.chunk == out.data.size();
    proto::SnapshotChunk chunk;
    chunk.set_group(g.id.value());
    chunk.set_from(options.node.value());
    chunk.set_to(to.value());
    chunk.set_offset(out.offset);
    chunk.set_last(last);
    if (last) *chunk.mutable_message() = out.message;
    auto* self = this;
    auto mailbox_ref = mailbox;
    const GroupId group = g.id;
    const uint64_t generation = out.generation;
    counters.snapshot_chunks_sent.fetch_add(1, std::memory_order_relaxed);
    // `done` may run on any thread, even after this host is gone: it only
    // posts to the mailbox, which refuses once the host stopped.
    transport->SendSnapshotChunk(to, std::move(chunk), out.data.substr(out.offset, out.chunk),
                                 [self, mailbox_ref, group, to, generation](Status s) {
                                   mailbox_ref->Post([self, group, to, generation, s = std::move(s)] {
                                     self->OnChunkDone(group, to, generation, s);
                                   });
                                 });
  }

  void OnChunkDone(GroupId id, NodeId to, uint64_t generation, const Status& s) {
    Group* g = nullptr;
    OutgoingSnapshot* out = FindOutgoing(id, to, generation, &g);
    if (!out) return;
    if (!s.ok()) {
      spdlog::warn("raft group {}: snapshot {} to node {} at offset {}: {}", id, out->message.snapshot().index(), to,
                   out->offset, s.ToString());
      FinishSnapshotSend(*g, to, false);
      return;
    }
    out->offset += out->chunk;
    if (out->offset == out->data.size()) {
      FinishSnapshotSend(*g, to, true);
      return;
    }
    SendChunk(*g, to, *out);
  }

  void OnSnapshotReceived(GroupId id, proto::Message m, std::string data) {
    if (stopping) return;
    Group* g = Find(id);
    if (!g) return;
    g->incoming_snapshots[m.snapshot().index()] = std::move(data);
    StepMessage(*g, m);
    // Keep only the data of the snapshot the core accepted last (it is the
    // one the next Ready installs, if it has not been installed yet): the
    // core refused the others, or a newer one replaced them. An older
    // snapshot arriving after a newer one was accepted in the same round
    // must not take the newer one's data with it.
    const uint64_t accepted = g->core->snapshot().index();
    std::erase_if(g->incoming_snapshots, [accepted](const auto& kv) { return kv.first != accepted; });
  }

  // ---- inbound ----

  void StepMessage(Group& g, const proto::Message& m) {
    Status s = g.core->Step(m);
    if (!s.ok()) spdlog::debug("raft group {}: step {} from {}: {}", g.id, static_cast<int>(m.type()), m.from(), s.ToString());
    dirty.insert(g.id);
  }

  void StepBatch(const proto::RaftBatch& batch) {
    if (stopping) return;
    for (const proto::GroupMessage& gm : batch.messages()) {
      if (Group* g = Find(GroupId(gm.group()))) StepMessage(*g, gm.message());
    }
    // Coalesced heartbeats: the batch's ends are every one's ends.
    auto expand = [&](const proto::GroupHeartbeat& hb, proto::MessageType type) {
      Group* g = Find(GroupId(hb.group()));
      if (!g) return;
      proto::Message m;
      m.set_type(type);
      m.set_from(batch.from());
      m.set_to(batch.to());
      m.set_term(hb.term());
      m.set_commit(hb.commit());
      m.set_context(hb.context());
      StepMessage(*g, m);
    };
    for (const auto& hb : batch.heartbeats()) expand(hb, proto::MSG_HEARTBEAT);
    for (const auto& hb : batch.heartbeat_responses()) expand(hb, proto::MSG_HEARTBEAT_RESP);
  }

  // ---- local requests (raft thread) ----

  void DoPropose(GroupId id, std::string data, ProposeCallback done, bool conf_change) {
    if (stopping) {
      OnPool([done = std::move(done), s = Unavailable()] { done(s); });
      return;
    }
    Group* g = Find(id);
    if (!g) {
      OnPool([done = std::move(done), id] { done(Status::NotFound(fmt::format("raft group {} is not on this node", id))); });
      return;
    }
    Result<Raft::Proposed> r = Status::Internal("unset");
    if (conf_change) {
      proto::ConfChange cc;
      cc.ParseFromString(data);
      r = g->core->ProposeConfChange(cc);
    } else {
      r = g->core->Propose(std::move(data));
    }
    if (!r.ok()) {
      Status s = r.status();
      if (s.Is(Code::kNotLeader)) {
        // The hint is the leader's node id in decimal, whatever the core said.
        s = Status::NotLeader(fmt::format("raft group {}: node {} is not the leader", id, options.node),
                              LeaderHint(g->core->leader()));
      }
      OnStrand(g->applier, [done = std::move(done), s = std::move(s)] { done(s); });
      return;
    }
    auto [it, inserted] = g->proposals.try_emplace(r->index.value());
    if (!inserted) {
      // An earlier proposal at this index was truncated away (§3.5).
      OnStrand(g->applier, [old = std::move(it->second.done), at = r->index, id] {
        old(Status(Code::kAborted, fmt::format("raft group {}: entry {} was overwritten by another leader's", id, at)));
      });
    }
    it->second = Group::Waiter{r->term, std::move(done)};
    dirty.insert(id);
  }

  void DoReadIndex(GroupId id, StatusCallback done) {
    if (stopping) {
      OnPool([done = std::move(done), s = Unavailable()] { done(s); });
      return;
    }
    Group* g = Find(id);
    if (!g) {
      OnPool([done = std::move(done), id] { done(Status::NotFound(fmt::format("raft group {} is not on this node", id))); });
      return;
    }
    if (g->core->leader().value() == 0) {
      OnStrand(g->applier, [done = std::move(done), id] {
        done(Status::NotLeader(fmt::format("raft group {}: no leader known", id), ""));
      });
      return;
    }
    std::string context = fmt::format("read-{}", ++next_read_id);
    g->reads[context] = ReadWaiter{std::move(done), ticks};
    g->core->ReadIndex(std::move(context));
    dirty.insert(id);
  }

  // Fails reads waiting for a ReadState: the leader they asked is gone
  // (a new one answers only reads asked of it).
  void FailUnansweredReads(Group& g) {
    for (auto& [ctx, r] : g.reads) {
      OnStrand(g.applier, [done = std::move(r.done), leader = g.core->leader(), id = g.id] {
        done(Status::NotLeader(fmt::format("raft group {}: leader changed during a read", id), LeaderHint(leader)));
      });
    }
    g.reads.clear();
  }

  void NotifyLeader(Group& g) {
    const NodeId leader = g.core->leader();
    const Term term = g.core->term();
    if (leader == g.reported_leader && (leader.value() == 0 || term == g.reported_term)) return;
    const bool leader_changed = leader != g.reported_leader;
    g.reported_leader = leader;
    g.reported_term = term;
    if (leader_changed) FailUnansweredReads(g);
    if (leader_listener) leader_listener(g.id, leader, term);
  }

  // Makes the core's lease visible to HoldsReadLease. Called for every group
  // that may have changed before any message of the round is sent, so a
  // lease the core gave up (a leadership transfer: the target may win at
  // once) is withdrawn before the TimeoutNow leaves. A lease that merely
  // runs out needs no call: it carries its end.
  void PublishLease(Group& g) {
    const std::optional<int64_t> end = g.core->LeaseEnd();
    const int64_t lease_end = end.value_or(std::numeric_limits<int64_t>::min());
    const Term term = g.core->term();
    if (lease_end == g.published_lease_end && term == g.published_lease_term) return;
    std::lock_guard l(status_mu);
    auto it = status.find(g.id);
    if (it == status.end()) return;  // UpdateStatus has not run: nothing published yet
    it->second.lease_term = term;
    it->second.lease_end = lease_end;
    g.published_lease_term = term;
    g.published_lease_end = lease_end;
  }

  void UpdateStatus(Group& g) {
    GroupStatus st;
    st.leader = g.core->leader();
    st.term = g.core->term();
    st.role = g.core->role();
    st.commit = g.core->committed();
    st.last_index = g.core->last_index();
    st.snapshot_index = LogIndex(g.core->snapshot().index());
    st.conf_state = g.core->conf_state();
    std::lock_guard l(status_mu);
    auto& e = status[g.id];
    e.status = std::move(st);
    e.applier = g.applier;
  }

  // ---- groups ----

  Status DoAddGroup(GroupId id, std::vector<NodeId> peers, std::shared_ptr<StateMachine> machine) {
    if (stopping) return Unavailable();
    if (groups.contains(id)) return Status::Exists(fmt::format("raft group {} already runs here", id));
    auto applier = std::make_shared<Applier>(id, std::move(machine), *pool);
    InitialState init;
    for (NodeId p : peers) init.initial_conf.add_voters(p.value());

    auto rec = wal->recovered().find(id);
    if (rec != wal->recovered().end() && !forgotten.contains(id)) {
      CFS_RETURN_IF_ERROR(Recover(id, rec->second, *applier, init).WithContext(fmt::format("raft group {}", id)));
      if (init.snapshot.index() > rec->second.snapshot.index()) {
        // A crash fell between saving a snapshot and marking the WAL: mark
        // it now, so the WAL takes entries after it.
        CFS_RETURN_IF_ERROR(wal->MarkSnapshot(id, init.snapshot));
        CFS_RETURN_IF_ERROR(wal->Sync());
        counters.wal_syncs.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (!peers.empty()) {
      // A founding member records the founding membership, so a restart
      // before the first snapshot does not depend on `peers` (a mark at
      // index 0 compacts nothing).
      proto::SnapshotMeta founding;
      *founding.mutable_conf_state() = init.initial_conf;
      CFS_RETURN_IF_ERROR(wal->MarkSnapshot(id, founding));
      CFS_RETURN_IF_ERROR(wal->Sync());
      counters.wal_syncs.fetch_add(1, std::memory_order_relaxed);
    }

    Config config;
    config.id = options.node;
    config.election_ticks = options.election_ticks;
    config.heartbeat_ticks = options.heartbeat_ticks;
    config.read_only = options.read_only;
    config.clock = [] { return SteadyClock::now().time_since_epoch().count(); };
    config.tick = std::chrono::duration_cast<SteadyClock::duration>(options.tick).count();
    // Distinct seeds: identical randomized timeouts would split every vote.
    config.rng_seed = std::random_device{}() ^ (options.node.value() << 32) ^ (id.value() * 0x9e3779b97f4a7c15ULL);
    const LogIndex applied = init.applied;
    const proto::HardState hard_state = init.hard_state;
    CFS_ASSIGN_OR_RETURN(std::unique_ptr<Raft> core, Raft::Open(config, std::move(init)));

    // The membership as of `applied`, for the snapshots the applier takes.
    applier->conf = core->conf_state();
    auto g = std::make_unique<Group>();
    g->id = id;
    g->core = std::move(core);
    g->applier = std::move(applier);
    g->dispatched = applied;
    g->hard_state = hard_state;
    Group& ref = *g;
    groups[id] = std::move(g);
    dirty.insert(id);
    UpdateStatus(ref);
    return Status::OK();
  }

  // Builds a recovered group's InitialState from the WAL and its stored
  // snapshot, restoring the state machine from the snapshot.
  Status Recover(GroupId id, const WalGroupState& w, Applier& a, InitialState& init) {
    init.hard_state = w.hard_state;
    Result<StoredSnapshot> snap = store->Load(id);
    if (snap.ok()) {
      CFS_RETURN_IF_ERROR(a.machine->Restore(snap->data).WithContext(
          fmt::format("restoring snapshot {}", snap->meta.index())));
      init.snapshot = snap->meta;
      a.applied = LogIndex(snap->meta.index());
      a.applied_term = Term(snap->meta.term());
      a.conf = snap->meta.conf_state();
      a.last_snapshot = a.applied;
      a.applied_index.store(a.applied.value());
      a.applied_term_value.store(a.applied_term.value());
      a.stored_index = snap->meta.index();
    } else if (!snap.status().Is(Code::kNotFound)) {
      return snap.status();
    }
    const uint64_t si = init.snapshot.index();
    // The store is written before the WAL is marked: it may be newer, never older.
    if (w.snapshot.index() > si) {
      return Status::Corruption(fmt::format("the WAL marks a snapshot at {} but the store holds {}", w.snapshot.index(), si));
    }
    if (si == 0 && (w.snapshot.conf_state().voters_size() > 0 || w.snapshot.conf_state().learners_size() > 0)) {
      init.initial_conf = w.snapshot.conf_state();  // the founding membership, persisted
    }
    if (!w.entries.empty() && w.entries.front().index() > si + 1) {
      return Status::Corruption(fmt::format("the WAL's entries start at {} after a snapshot at {}",
                                            w.entries.front().index(), si));
    }
    // Entries after the snapshot are kept only if the log holds the
    // snapshot's last entry with its term (Log Matching, §3.5) or starts
    // right after it; otherwise the snapshot replaced them all (§5.1).
    bool keep = true;
    for (const proto::Entry& e : w.entries) {
      if (si > 0 && e.index() == si) keep = e.term() == init.snapshot.term();
    }
    if (keep) {
      for (const proto::Entry& e : w.entries) {
        if (e.index() > si) init.entries.push_back(e);
      }
    }
    if (init.hard_state.commit() < si) init.hard_state.set_commit(si);
    init.applied = LogIndex(si);
    return Status::OK();
  }

  Status DoRemoveGroup(GroupId id) {
    if (stopping) return Unavailable();
    auto it = groups.find(id);
    if (it == groups.end()) return Status::NotFound(fmt::format("raft group {} is not on this node", id));
    Group& g = *it->second;
    FailWaiters(g, Status::Unavailable(fmt::format("raft group {} was removed", id)));
    g.applier->removed.store(true);
    auto applier = g.applier;
    groups.erase(it);
    dirty.erase(id);
    forgotten.insert(id);
    {
      std::lock_guard l(status_mu);
      status.erase(id);
    }
    CFS_RETURN_IF_ERROR(wal->RemoveGroup(id));
    CFS_RETURN_IF_ERROR(wal->Sync());
    counters.wal_syncs.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard l(applier->store_mu);
    Status s = store->Remove(id);
    if (!s.ok() && !s.Is(Code::kNotFound)) return s;
    applier->stored_index = 0;
    return Status::OK();
  }

  void FailWaiters(Group& g, const Status& why) {
    for (auto& [index, w] : g.proposals) OnStrand(g.applier, [done = std::move(w.done), why] { done(why); });
    g.proposals.clear();
    for (auto& [ctx, r] : g.reads) OnStrand(g.applier, [done = std::move(r.done), why] { done(why); });
    g.reads.clear();
    for (auto& [index, done] : g.reads_ready) OnStrand(g.applier, [done = std::move(done), why] { done(why); });
    g.reads_ready.clear();
  }

  void Stop() {
    {
      std::lock_guard l(lifecycle_mu);
      if (phase == Phase::kStopped) return;
      phase = Phase::kStopped;
    }
    mailbox->Close();
    if (thread.joinable()) thread.join();
    // The raft thread is gone: this thread owns its state now.
    stopping = true;
    transport->Close();
    std::vector<std::function<void()>> rest;
    {
      std::lock_guard l(mailbox->mu);
      rest.swap(mailbox->queue);
    }
    for (auto& fn : rest) fn();  // every request fails with Unavailable
    const Status why = Unavailable();
    for (auto& [id, g] : groups) {
      FailWaiters(*g, why);
      asio::post(g->applier->strand, [this, a = g->applier] { StopChild(*a); });
    }
    pool->join();  // runs what was posted, callbacks included, then ends
  }
};

// ---- public API ----

MultiRaft::MultiRaft(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MultiRaft::~MultiRaft() { Stop(); }

NodeId HintedLeader(const Status& s) {
  uint64_t id = 0;
  for (char c : s.leader_hint()) {
    if (c < '0' || c > '9') return NodeId(0);
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  return NodeId(id);
}

Result<std::unique_ptr<MultiRaft>> MultiRaft::Open(MultiRaftOptions options, Transport* transport) {
  if (options.node.value() == 0) return Status::InvalidArgument("raft host: node id 0 is reserved");
  if (transport == nullptr) return Status::InvalidArgument("raft host: no transport");
  if (options.env == nullptr) options.env = Env::Default();
  if (options.tick.count() <= 0) return Status::InvalidArgument("raft host: tick must be positive");
  if (options.snapshot_entries == 0) return Status::InvalidArgument("raft host: snapshot_entries must be positive");
  auto impl = std::make_unique<Impl>();
  CFS_RETURN_IF_ERROR(options.env->CreateDirs(options.dir + "/snapshots"));
  CFS_ASSIGN_OR_RETURN(impl->wal, Wal::Open(options.env, options.dir + "/wal", options.wal));
  impl->store = std::make_unique<SnapshotStore>(options.env, options.dir + "/snapshots");
  impl->pool = std::make_unique<asio::thread_pool>(std::max(1, options.apply_threads));
  impl->transport = transport;
  impl->options = std::move(options);
  return std::unique_ptr<MultiRaft>(new MultiRaft(std::move(impl)));
}

void MultiRaft::Start() {
  std::lock_guard l(impl_->lifecycle_mu);
  if (impl_->phase != Impl::Phase::kNew) return;
  impl_->phase = Impl::Phase::kRunning;
  impl_->thread = std::thread([impl = impl_.get()] { impl->Loop(); });
}

void MultiRaft::Stop() { impl_->Stop(); }

Status MultiRaft::AddGroup(GroupId group, std::vector<NodeId> peers, std::shared_ptr<StateMachine> machine) {
  if (!machine) return Status::InvalidArgument("raft host: AddGroup without a state machine");
  Impl* impl = impl_.get();
  return impl->RunSync<Status>(
      [&] { return impl->DoAddGroup(group, std::move(peers), std::move(machine)); }, impl->Unavailable());
}

Status MultiRaft::RemoveGroup(GroupId group) {
  Impl* impl = impl_.get();
  return impl->RunSync<Status>([&] { return impl->DoRemoveGroup(group); }, impl->Unavailable());
}

void MultiRaft::Propose(GroupId group, std::string data, std::function<void(Result<std::string>)> done) {
  if (data.empty()) {
    // Empty entries are the leader's no-ops (§6.4); they reach no state machine.
    done(Status::InvalidArgument("raft proposal: empty data"));
    return;
  }
  Impl* impl = impl_.get();
  auto shared = std::make_shared<ProposeCallback>(std::move(done));
  bool posted = impl->mailbox->Post([impl, group, data = std::move(data), shared]() mutable {
    impl->DoPropose(group, std::move(data), std::move(*shared), false);
  });
  if (!posted) (*shared)(impl->Unavailable());
}

void MultiRaft::ProposeConfChange(GroupId group, proto::ConfChange change, std::function<void(Status)> done) {
  Impl* impl = impl_.get();
  auto shared = std::make_shared<ProposeCallback>([done = std::move(done)](Result<std::string> r) { done(r.status()); });
  bool posted = impl->mailbox->Post([impl, group, data = change.SerializeAsString(), shared]() mutable {
    impl->DoPropose(group, std::move(data), std::move(*shared), true);
  });
  if (!posted) (*shared)(impl->Unavailable());
}

void MultiRaft::ReadIndex(GroupId group, std::function<void(Status)> done) {
  Impl* impl = impl_.get();
  auto shared = std::make_shared<StatusCallback>(std::move(done));
  bool posted = impl->mailbox->Post([impl, group, shared] { impl->DoReadIndex(group, std::move(*shared)); });
  if (!posted) (*shared)(impl->Unavailable());
}

Status MultiRaft::TransferLeadership(GroupId group, NodeId target) {
  Impl* impl = impl_.get();
  return impl->RunSync<Status>(
      [&]() -> Status {
        if (impl->stopping) return impl->Unavailable();
        Impl::Group* g = impl->Find(group);
        if (!g) return Status::NotFound(fmt::format("raft group {} is not on this node", group));
        Status s = g->core->TransferLeadership(target);
        impl->PublishLease(*g);
        impl->dirty.insert(group);
        if (s.Is(Code::kNotLeader)) {
          return Status::NotLeader(s.message(), LeaderHint(g->core->leader()));
        }
        return s;
      },
      impl->Unavailable());
}

void MultiRaft::SetLeaderListener(std::function<void(GroupId, NodeId, Term)> listener) {
  impl_->leader_listener = std::move(listener);
}

bool MultiRaft::HoldsReadLease(GroupId group) const {
  const int64_t now = SteadyClock::now().time_since_epoch().count();
  std::lock_guard l(impl_->status_mu);
  auto it = impl_->status.find(group);
  if (it == impl_->status.end()) return false;
  const Impl::StatusEntry& e = it->second;
  return now < e.lease_end && !e.applier->removed.load() &&
         e.applier->applied_term_value.load() == e.lease_term.value();
}

Result<GroupStatus> MultiRaft::GetStatus(GroupId group) const {
  std::lock_guard l(impl_->status_mu);
  auto it = impl_->status.find(group);
  if (it == impl_->status.end()) return Status::NotFound(fmt::format("raft group {} is not on this node", group));
  GroupStatus st = it->second.status;
  st.applied = LogIndex(it->second.applier->applied_index.load());
  return st;
}

std::vector<GroupId> MultiRaft::Groups() const {
  std::vector<GroupId> out;
  {
    std::lock_guard l(impl_->status_mu);
    for (const auto& [id, e] : impl_->status) out.push_back(id);
  }
  std::sort(out.begin(), out.end());
  return out;
}

HostStats MultiRaft::stats() const {
  const auto& c = impl_->counters;
  HostStats s;
  s.batches_sent = c.batches_sent.load();
  s.messages_sent = c.messages_sent.load();
  s.heartbeats_sent = c.heartbeats_sent.load();
  s.ticks = c.ticks.load();
  s.wal_syncs = c.wal_syncs.load();
  s.snapshots_sent = c.snapshots_sent.load();
  s.snapshot_chunks_sent = c.snapshot_chunks_sent.load();
  s.snapshots_installed = c.snapshots_installed.load();
  return s;
}

void MultiRaft::Receive(proto::RaftBatch batch) {
  if (batch.to() != impl_->options.node.value()) {
    spdlog::warn("raft host {}: dropped a batch for node {} from {}", impl_->options.node, batch.to(), batch.from());
    return;
  }
  Impl* impl = impl_.get();
  impl->mailbox->Post([impl, batch = std::move(batch)] { impl->StepBatch(batch); });
}

Status MultiRaft::ReceiveSnapshotChunk(const proto::SnapshotChunk& chunk, std::string_view data) {
  Impl* impl = impl_.get();
  if (chunk.to() != impl->options.node.value()) {
    return Status::InvalidArgument(fmt::format("snapshot chunk for node {} reached node {}", chunk.to(), impl->options.node));
  }
  const auto key = std::make_pair(GroupId(chunk.group()), NodeId(chunk.from()));
  std::string whole;
  {
    std::lock_guard l(impl->chunks_mu);
    if (chunk.offset() == 0) {
      impl->assembling[key].assign(data);
    } else {
      auto it = impl->assembling.find(key);
      const uint64_t have = it == impl->assembling.end() ? 0 : it->second.size();
      if (it == impl->assembling.end() || have != chunk.offset()) {
        return Status::InvalidArgument(fmt::format("raft group {}: snapshot chunk from node {} at offset {}, expected {}",
                                                   chunk.group(), chunk.from(), chunk.offset(), have));
      }
      it->second.append(data);
    }
    if (!chunk.last()) return Status::OK();
    auto node = impl->assembling.extract(key);
    whole = std::move(node.mapped());
  }
  if (chunk.message().type() != proto::MSG_SNAPSHOT) {
    return Status::InvalidArgument(fmt::format("raft group {}: last snapshot chunk without its message", chunk.group()));
  }
  bool posted = impl->mailbox->Post([impl, group = GroupId(chunk.group()), m = chunk.message(), whole = std::move(whole)]() mutable {
    impl->OnSnapshotReceived(group, std::move(m), std::move(whole));
  });
  return posted ? Status::OK() : impl->Unavailable();
}

void MultiRaft::ReportUnreachable(NodeId node) {
  Impl* impl = impl_.get();
  impl->mailbox->Post([impl, node] {
    if (!impl->stopping) impl->unreachable.insert(node);
  });
}

}  // namespace cfs::raft
