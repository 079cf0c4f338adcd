// Directory delegations on the client (file_system.h): answers from a
// directory this client holds, and the batches that send them behind.
#include <sys/stat.h>

#include <absl/container/btree_map.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "client/file_system.h"
#include "common/clock.h"
#include "proto/access.h"
#include "proto/names.h"

namespace cfs::client {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Commands in one BatchOp (the metanode takes at most 4096).
constexpr size_t kBatchCommands = 1024;
// A directory with more entries than the listing reads at once.
constexpr uint32_t kListPage = 4096;

int64_t WallNowNs() { return Clock::Real()->WallNow().count(); }

// The metanode's permission check on a directory known by its attributes.
Status CheckDirAccess(const proto::InodeAttr& dir, const proto::Caller& c, int mask) {
  return proto::CheckModeAccess(dir.inode(), dir.mode(), dir.uid(), dir.gid(), c, mask);
}

// A name the metanode takes (else the metanode answers why).
bool PlainName(std::string_view name) { return proto::ValidateName(name).ok(); }

}  // namespace

struct FileSystem::Delegated {
  uint64_t dir = 0;
  uint64_t partition = 0;
  uint64_t part_start = 0, part_end = 0;  // the partition's inode range
  proto::InodeAttr attr;                  // the directory's, with the changes made here
  struct Entry {
    uint64_t inode = 0;
    uint32_t type = 0;  // S_IFMT bits
  };
  // Every entry of the directory, in the metanode's order (bytewise). A
  // B-tree: a listing reads the names from a few nodes, not one
  // allocation each (10,000 entries: 550 us as a std::map, after creates).
  absl::btree_map<std::string, Entry, std::less<>> names;
  // Files created here while it is held: their attributes, as made here
  // until the create is applied, then as the metanode answered it. No
  // other client knows these files before the directory is given back, so
  // only this client's own changes (ForgetCreated) make them stale.
  std::unordered_map<uint64_t, proto::InodeAttr> created;
  std::set<uint64_t> pending;  // of those, the ones whose create is not applied yet
  // Of those, the ones whose visible extents are known here: none once the
  // create is applied, then every extent as the answer to each commit
  // behind gave them (a file with more extents leaves `created`).
  std::unordered_map<uint64_t, std::vector<proto::Extent>> extents;
  struct Change {
    proto::MetaCommand command;  // a create, an unlink, or a commit of a new file's data
    uint64_t inode = 0;          // the file it creates, unlinks or commits
    // A commit's answer, for the flush that waits for it (null: none waits).
    std::shared_ptr<Result<proto::MetaResponse>> answer;
  };
  std::vector<Change> queue;  // changes not sent yet, in order
  uint64_t queued = 0;                    // changes queued, ever
  uint64_t answered = 0;                  // of those, answered (or failed)
  uint64_t next_inode = 0, end_inode = 0;  // reserved ids left: [next, end)
  SteadyClock::time_point valid_until;     // answers are made here only before it
  SteadyClock::time_point last_used;
  bool ready = false;        // taken and listed
  bool sending = false;      // SendBatches runs
  bool giving_back = false;  // no new answers; the last batch gives it back
  bool given_back = false;   // done (or failed): no longer held
  bool last_sent = false;    // the batch that gives it back is on its way: nothing more goes in a batch
  int behind = 0;            // closes of files created here answered before their flush ended (FlushBehind)
  Status error;              // the first change that failed, not reported yet
  int flush_waiters = 0;     // FlushDelegated calls waiting: no batch delay
  std::unique_ptr<asio::steady_timer> delay;  // the batch delay; cancelled by a flush
  // Never expires: cancelled at every batch answer and state change, to
  // wake every waiter at once.
  std::unique_ptr<asio::steady_timer> changed;
};

std::shared_ptr<FileSystem::Delegated> FileSystem::Usable(uint64_t dir) {
  auto it = delegated_.find(dir);
  if (it == delegated_.end()) return nullptr;
  auto& d = it->second;
  if (!d->ready || d->giving_back || SteadyClock::now() >= d->valid_until) return nullptr;
  d->last_used = SteadyClock::now();
  return d;
}

asio::awaitable<void> FileSystem::NoteChange(uint64_t dir, const proto::Caller& c) {
  if (options_.delegate_after <= 0 || stopping_ || delegated_.contains(dir)) co_return;
  const auto now = SteadyClock::now();
  if (activity_.size() > 4096) activity_.clear();
  Activity& a = activity_[dir];
  if (now - a.since > std::chrono::seconds(1)) a = Activity{0, now};
  if (++a.changes < options_.delegate_after) co_return;
  // Not again within the second, whatever the outcome.
  a.changes = std::numeric_limits<int>::min() / 2;
  co_await TakeDelegation(dir, c);
}

asio::awaitable<void> FileSystem::TakeDelegation(uint64_t dir, const proto::Caller& c) {
  auto part = co_await meta_.PartitionOf(dir);
  if (!part.ok() || delegated_.contains(dir)) co_return;
  auto d = std::make_shared<Delegated>();
  d->dir = dir;
  d->partition = *part;
  d->changed = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor,
                                                    asio::steady_timer::time_point::max());
  d->delay = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
  const proto::VolumeView view = meta_.view();  // a copy: the loop must not range over a temporary
  for (const auto& p : view.partitions()) {
    if (p.record().id() == *part) {
      d->part_start = p.record().start();
      d->part_end = p.record().end();
    }
  }
  delegated_[dir] = d;
  auto fail = [&](const Status& why) {
    spdlog::debug("cfs: directory {} not delegated: {}", dir, why.ToString());
    d->given_back = true;
    d->changed->cancel();
    if (auto it = delegated_.find(dir); it != delegated_.end() && it->second == d) delegated_.erase(it);
  };
  auto r = co_await Delegate(d, options_.delegation_inodes, c);
  if (!r.ok()) {
    fail(r.status());
    co_return;
  }
  d->attr = r->attr();
  // The sticky rule needs each child's owner: such directories are given
  // back at once.
  bool keep = (d->attr.mode() & S_ISVTX) == 0;
  std::string after;
  while (keep && !d->giving_back) {
    auto page = co_await meta_.ReadDir(dir, after, kListPage, false, c);
    if (!page.ok()) {
      keep = false;
      break;
    }
    for (const proto::ListedEntry& e : page->entries) {
      d->names[e.name] = Delegated::Entry{e.inode, e.type & S_IFMT};
    }
    if (d->names.size() > options_.delegation_max_entries) keep = false;
    if (!page->more || page->entries.empty()) break;
    after = page->entries.back().name;
  }
  spdlog::debug("cfs: directory {} delegated here ({} entries, inode ids [{}, {}))", dir, d->names.size(),
                d->next_inode, d->end_inode);
  d->ready = true;
  d->last_used = SteadyClock::now();
  d->changed->cancel();
  if (!keep || stopping_) {
    co_await GiveBack(dir);
    co_return;
  }
  if (d->giving_back) StartSender(d);  // asked for while it was being taken
  if (!polling_) {
    polling_ = true;
    asio::co_spawn(co_await asio::this_coro::executor, PollDelegations(), asio::detached);
  }
}

asio::awaitable<Result<proto::MetaResponse>> FileSystem::Delegate(std::shared_ptr<Delegated> d, uint32_t reserve,
                                                                  const proto::Caller& c) {
  const auto sent = SteadyClock::now();
  proto::MetaCommand cmd;
  cmd.mutable_delegate()->set_dir(d->dir);
  cmd.mutable_delegate()->set_reserve_inodes(reserve);
  auto r = co_await meta_.Write(d->partition, std::move(cmd), c);
  if (!r.ok()) co_return r.status();
  if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
  if (d->next_inode == d->end_inode) {  // else ids are left: these stay unused
    d->next_inode = r->delegation().first_inode();
    d->end_inode = r->delegation().end_inode();
  }
  d->valid_until = std::max(d->valid_until, sent + options_.delegation_valid);
  // Another client waits (the metanode tells a holder once).
  if (r->delegation().recalled()) asio::co_spawn(co_await asio::this_coro::executor, GiveBack(d->dir), asio::detached);
  co_return r;
}

std::optional<Result<proto::InodeAttr>> FileSystem::LocalLookup(uint64_t parent, std::string_view name) {
  auto d = Usable(parent);
  if (!d) return std::nullopt;
  auto it = d->names.find(name);
  if (it == d->names.end()) return Result<proto::InodeAttr>(Status::NotFound(fmt::format("{}/{} not found", parent, name)));
  auto c = d->created.find(it->second.inode);
  if (c == d->created.end()) return std::nullopt;  // the metanode knows it
  proto::InodeAttr attr = c->second;
  CountOwnWrites(&attr);
  return Result<proto::InodeAttr>(std::move(attr));
}

std::optional<Result<bool>> FileSystem::LocalReadDir(uint64_t parent, std::string_view after, uint32_t limit,
                                                      bool plus, const proto::Caller& c, DirSink add) {
  auto d = Usable(parent);
  if (!d) return std::nullopt;
  if (Status s = CheckDirAccess(d->attr, c, proto::kMayRead); !s.ok()) return Result<bool>(std::move(s));
  auto it = after.empty() ? d->names.begin() : d->names.upper_bound(after);
  for (uint32_t n = 0; it != d->names.end(); ++it, ++n) {
    if (n == std::max<uint32_t>(limit, 1)) return Result<bool>(true);
    std::unique_ptr<proto::InodeAttr> attr;
    if (plus) {
      if (auto a = d->created.find(it->second.inode); a != d->created.end()) {
        attr = std::make_unique<proto::InodeAttr>(a->second);
        CountOwnWrites(attr.get());
      }
    }
    add(it->second.inode, it->second.type, it->first, std::move(attr));
  }
  return Result<bool>(false);
}

std::optional<std::pair<proto::InodeAttr, std::vector<proto::Extent>>> FileSystem::LocalExtents(uint64_t inode) {
  auto in = created_in_.find(inode);
  if (in == created_in_.end()) return std::nullopt;
  auto d = Usable(in->second);
  if (!d || d->pending.contains(inode)) return std::nullopt;
  auto a = d->created.find(inode);
  auto e = d->extents.find(inode);
  if (a == d->created.end() || e == d->extents.end() || a->second.nlink() == 0) return std::nullopt;
  return std::make_pair(a->second, e->second);
}

std::optional<proto::InodeAttr> FileSystem::LocalAttr(uint64_t inode) {
  if (auto c = created_in_.find(inode); c != created_in_.end()) {
    auto d = delegated_.find(c->second);
    if (d != delegated_.end()) {
      if (auto a = d->second->created.find(inode); a != d->second->created.end()) {
        proto::InodeAttr attr = a->second;
        CountOwnWrites(&attr);
        return attr;
      }
    }
  }
  if (auto d = Usable(inode)) return d->attr;
  return std::nullopt;
}

asio::awaitable<std::optional<Result<proto::InodeAttr>>> FileSystem::LocalCreate(uint64_t parent,
                                                                                 std::string_view name,
                                                                                 uint32_t mode, bool open,
                                                                                 const proto::Caller& c) {
  using Answer = std::optional<Result<proto::InodeAttr>>;
  if ((mode & S_IFMT) != S_IFREG || (mode & ~(S_IFMT | 07777)) != 0 || !PlainName(name)) co_return Answer();
  auto d = Usable(parent);
  if (!d) co_return Answer();
  if (d->next_inode == d->end_inode) {
    // Reserve more ids (this also renews the delegation).
    auto more = co_await Delegate(d, options_.delegation_inodes, proto::Caller());
    if (!more.ok()) spdlog::debug("cfs: directory {}: no more inode ids: {}", parent, more.status().ToString());
    if (!more.ok() || d->next_inode == d->end_inode) co_return Answer();
    d = Usable(parent);  // it may have been given back meanwhile
    if (!d) co_return Answer();
  }
  const std::string key(name);
  if (d->names.contains(key)) co_return Answer(Status::Exists(fmt::format("{}/{} exists", parent, name)));
  if (Status s = CheckDirAccess(d->attr, c, proto::kMayWrite | proto::kMayExec); !s.ok()) {
    co_return Answer(std::move(s));
  }
  const uint64_t id = d->next_inode++;
  const int64_t now = WallNowNs();
  proto::InodeAttr attr;
  attr.set_inode(id);
  attr.set_mode(mode);
  attr.set_uid(c.uid());
  attr.set_gid((d->attr.mode() & S_ISGID) ? d->attr.gid() : c.gid());
  attr.set_nlink(1);
  attr.set_atime_ns(now);
  attr.set_mtime_ns(now);
  attr.set_ctime_ns(now);
  proto::MetaCommand cmd;
  *cmd.mutable_caller() = c;
  auto* op = cmd.mutable_create();
  op->set_parent(parent);
  op->set_name(key);
  op->set_mode(mode);
  op->set_open(open);
  op->set_inode(id);
  d->names[key] = Delegated::Entry{id, S_IFREG};
  d->created[id] = attr;
  d->pending.insert(id);
  created_in_[id] = parent;
  d->attr.set_mtime_ns(now);
  d->attr.set_ctime_ns(now);
  Enqueue(d, std::move(cmd), id);
  co_return Answer(std::move(attr));
}

asio::awaitable<std::optional<Status>> FileSystem::LocalUnlink(uint64_t parent, std::string_view name,
                                                               const proto::Caller& c) {
  using Answer = std::optional<Status>;
  if (!PlainName(name)) co_return Answer();
  auto d = Usable(parent);
  if (!d) co_return Answer();
  auto it = d->names.find(name);
  if (it == d->names.end()) co_return Answer(Status::NotFound(fmt::format("{}/{} not found", parent, name)));
  const auto [inode, type] = it->second;
  // Directories (emptiness, links) and children of other partitions (a
  // second step there) go to the metanode, which has the delegation back
  // first.
  if (type == S_IFDIR || inode < d->part_start || inode > d->part_end) co_return Answer();
  if (Status s = CheckDirAccess(d->attr, c, proto::kMayWrite | proto::kMayExec); !s.ok()) co_return Answer(s);
  // Answered before it is applied only for a file created here (one link,
  // known to no one else) and not open here: any other file may be seen
  // by another name or handle, whose attributes must show the unlink.
  auto known = d->created.find(inode);
  const bool behind = known != d->created.end() && known->second.nlink() == 1 && !handles_of_inode_.contains(inode);
  proto::MetaCommand cmd;
  *cmd.mutable_caller() = c;
  cmd.mutable_unlink()->set_parent(parent);
  cmd.mutable_unlink()->set_name(std::string(name));
  d->names.erase(it);
  if (auto ci = d->created.find(inode); ci != d->created.end()) ci->second.set_nlink(0);
  const int64_t now = WallNowNs();
  d->attr.set_mtime_ns(now);
  d->attr.set_ctime_ns(now);
  Enqueue(d, std::move(cmd), inode);
  if (behind) co_return Answer(Status::OK());
  co_return Answer(co_await FlushDelegated(parent));
}

void FileSystem::Enqueue(std::shared_ptr<Delegated> d, proto::MetaCommand c, uint64_t inode,
                         std::shared_ptr<Result<proto::MetaResponse>> answer) {
  d->queue.push_back(Delegated::Change{std::move(c), inode, std::move(answer)});
  ++d->queued;
  StartSender(d);
  d->changed->cancel();  // a sender waiting for closes behind sends it
}

void FileSystem::StartSender(std::shared_ptr<Delegated> d) {
  if (d->sending) return;
  d->sending = true;
  asio::co_spawn(d->changed->get_executor(), SendBatches(d), asio::detached);
}

asio::awaitable<void> FileSystem::SendBatches(std::shared_ptr<Delegated> d) {
  while (!d->queue.empty() || (d->giving_back && !d->given_back)) {
    // Giving back: the files closed behind commit first (their commits
    // come in batches, or straight to the metanode), or another client
    // could open one before its data is there.
    if (d->queue.empty() && d->behind > 0) {
      (void)co_await d->changed->async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (!d->giving_back && d->flush_waiters == 0 && d->queue.size() < kBatchCommands) {
      d->delay->expires_after(options_.delegation_batch_delay);
      (void)co_await d->delay->async_wait(asio::as_tuple(asio::use_awaitable));
    }
    const size_t n = std::min(d->queue.size(), kBatchCommands);
    const bool give_back = d->giving_back && n == d->queue.size() && d->behind == 0;
    d->last_sent = give_back;
    proto::MetaCommand cmd;
    auto* op = cmd.mutable_batch();
    op->set_dir(d->dir);
    op->set_give_back(give_back);
    struct Sent {
      bool create;
      bool commit;
      uint64_t inode;
      std::shared_ptr<Result<proto::MetaResponse>> answer;
    };
    std::vector<Sent> changes;
    for (size_t i = 0; i < n; ++i) {
      Delegated::Change& c = d->queue[i];
      changes.push_back(Sent{c.command.has_create(), c.command.has_append_extents(), c.inode, std::move(c.answer)});
      *op->add_commands() = std::move(c.command);
    }
    d->queue.erase(d->queue.begin(), d->queue.begin() + static_cast<ptrdiff_t>(n));
    const auto sent = SteadyClock::now();
    auto r = co_await meta_.Write(d->partition, std::move(cmd), proto::Caller());
    Status batch = r.ok() ? AnswerStatus(*r) : r.status();
    if (batch.ok() && r->results_size() != static_cast<int>(n)) {
      batch = Status::Internal(fmt::format("a batch of {} changes answered with {}", n, r->results_size()));
    }
    for (size_t i = 0; i < n; ++i) {
      const bool create = changes[i].create;
      const uint64_t inode = changes[i].inode;
      Status s = batch.ok() ? AnswerStatus(r->results(static_cast<int>(i))) : batch;
      if (changes[i].answer) {
        // A commit: the flush waiting for it answers its error.
        *changes[i].answer = s.ok() ? Result<proto::MetaResponse>(r->results(static_cast<int>(i)))
                                    : Result<proto::MetaResponse>(s);
      } else if (!s.ok()) {
        spdlog::error("cfs: a change of directory {} made here was lost: {}", d->dir, s.ToString());
        if (d->error.ok()) d->error = s;
      }
      if (create) d->pending.erase(inode);
      auto c = d->created.find(inode);
      if (c == d->created.end()) continue;
      const proto::MetaResponse* result = s.ok() ? &r->results(static_cast<int>(i)) : nullptr;
      if (result && create && c->second.nlink() != 0) {
        c->second = result->attr();  // the metanode's times
        d->extents[inode].clear();   // no data yet
      } else if (result && changes[i].commit && c->second.nlink() != 0 && d->extents.contains(inode) &&
                 result->extents_size() == static_cast<int>(result->extent_count())) {
        // Its data, as the metanode has it now (no one else writes it).
        c->second = result->attr();
        d->extents[inode].assign(result->extents().begin(), result->extents().end());
      } else if (!s.ok() || !create) {
        // Failed, unlinked, or written with more extents than an answer
        // holds: the metanode answers from now on.
        d->created.erase(c);
        d->extents.erase(inode);
        created_in_.erase(inode);
      }
    }
    d->answered += n;
    if (!batch.ok()) {
      // Unknown whether it landed: answer nothing more from it (the
      // metanode's delegation ends by itself).
      d->giving_back = true;
      if (give_back) d->given_back = true;
    } else if (give_back) {
      d->given_back = true;
    } else if (!r->has_delegation()) {
      spdlog::warn("cfs: the delegation of directory {} ended before this client gave it back", d->dir);
      d->giving_back = true;  // it expired: nothing more from it
    } else {
      if (!d->giving_back) d->valid_until = std::max(d->valid_until, sent + options_.delegation_valid);
      if (r->delegation().recalled()) d->giving_back = true;
    }
    d->changed->cancel();
  }
  d->sending = false;
  if (d->given_back) {
    for (auto& [inode, attr] : d->created) created_in_.erase(inode);
    d->created.clear();
    d->pending.clear();
    if (auto it = delegated_.find(d->dir); it != delegated_.end() && it->second == d) delegated_.erase(it);
  }
  d->changed->cancel();
}

asio::awaitable<Status> FileSystem::FlushDelegated(uint64_t dir) {
  auto it = delegated_.find(dir);
  if (it == delegated_.end()) co_return Status::OK();
  auto d = it->second;
  const uint64_t target = d->queued;
  if (d->answered < target) {
    ++d->flush_waiters;
    d->delay->cancel();
    while (d->answered < target) (void)co_await d->changed->async_wait(asio::as_tuple(asio::use_awaitable));
    --d->flush_waiters;
  }
  Status s = d->error;
  d->error = Status::OK();
  co_return s;
}

asio::awaitable<Status> FileSystem::Settle(uint64_t inode) {
  auto it = created_in_.find(inode);
  if (it == created_in_.end()) co_return Status::OK();
  auto d = delegated_.find(it->second);
  if (d == delegated_.end() || !d->second->pending.contains(inode)) co_return Status::OK();
  (void)co_await FlushDelegated(it->second);
  co_return Status::OK();  // a lost create shows as the inode missing
}

asio::awaitable<std::optional<Result<proto::MetaResponse>>> FileSystem::CommitBehind(
    uint64_t inode, std::vector<proto::Extent>& extents, uint64_t size, const proto::Caller& c) {
  using Answer = std::optional<Result<proto::MetaResponse>>;
  auto in = created_in_.find(inode);
  if (in == created_in_.end()) co_return Answer();
  const uint64_t dir = in->second;
  // Also while giving back (a close behind commits before the last batch).
  auto it = delegated_.find(dir);
  if (it == delegated_.end()) co_return Answer();
  auto d = it->second;
  if (!d->ready || d->last_sent || d->given_back || SteadyClock::now() >= d->valid_until ||
      !d->created.contains(inode)) {
    co_return Answer();
  }
  proto::MetaCommand cmd = AppendExtentsCommand(inode, std::move(extents), size);
  *cmd.mutable_caller() = c;
  auto answer = std::make_shared<Result<proto::MetaResponse>>();
  Enqueue(d, std::move(cmd), inode, answer);
  (void)co_await FlushDelegated(dir);  // its error is in *answer
  co_return Answer(std::move(*answer));
}

void FileSystem::ForgetCreated(uint64_t inode) {
  auto it = created_in_.find(inode);
  if (it == created_in_.end()) return;
  auto d = delegated_.find(it->second);
  if (d != delegated_.end() && !d->second->pending.contains(inode)) {
    d->second->created.erase(inode);
    d->second->extents.erase(inode);
    created_in_.erase(it);
  }
}

std::shared_ptr<FileSystem::Delegated> FileSystem::CloseBehind(uint64_t inode) {
  auto in = created_in_.find(inode);
  if (in == created_in_.end()) return nullptr;
  auto d = Usable(in->second);
  if (!d || d->behind >= options_.closes_behind) return nullptr;
  ++d->behind;
  return d;
}

asio::awaitable<void> FileSystem::FlushBehind(std::shared_ptr<OpenFile> f, uint64_t inode,
                                              std::shared_ptr<Delegated> d) {
  Status s = co_await FlushFile(f, false);
  if (!s.ok()) {
    spdlog::error("cfs: data of inode {}, closed in directory {}, was lost: {}", inode, d->dir, s.ToString());
    if (d->error.ok()) d->error = s;
  }
  --d->behind;
  d->changed->cancel();
}

asio::awaitable<Status> FileSystem::FsyncDir(uint64_t dir) { co_return co_await FlushDelegated(dir); }

asio::awaitable<void> FileSystem::GiveBack(uint64_t dir) {
  auto it = delegated_.find(dir);
  if (it == delegated_.end()) co_return;
  auto d = it->second;
  d->giving_back = true;
  if (d->delay) d->delay->cancel();
  while (!d->ready && !d->given_back) (void)co_await d->changed->async_wait(asio::as_tuple(asio::use_awaitable));
  if (!d->given_back) StartSender(d);
  while (!d->given_back || d->sending) (void)co_await d->changed->async_wait(asio::as_tuple(asio::use_awaitable));
}

asio::awaitable<void> FileSystem::PollDelegations() {
  asio::steady_timer t(co_await asio::this_coro::executor);
  while (!stopping_ && !delegated_.empty()) {
    t.expires_after(options_.delegation_poll);
    (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    // Recalled: another client waits.
    std::set<uint64_t> partitions;
    for (auto& [dir, d] : delegated_) partitions.insert(d->partition);
    std::vector<uint64_t> back;
    for (uint64_t p : partitions) {
      proto::MetaReadRequest req;
      req.mutable_delegations();
      auto r = co_await meta_.Read(p, std::move(req), proto::Caller());
      if (!r.ok()) continue;
      for (uint64_t dir : r->recalled()) spdlog::debug("cfs: directory {} recalled", dir);
      back.insert(back.end(), r->recalled().begin(), r->recalled().end());
    }
    // Unused, or about to lapse.
    const auto now = SteadyClock::now();
    std::vector<std::shared_ptr<Delegated>> renew;
    for (auto& [dir, d] : delegated_) {
      if (!d->ready || d->giving_back || d->sending) continue;
      if (now - d->last_used > options_.delegation_idle) {
        spdlog::debug("cfs: directory {} unused: given back", dir);
        back.push_back(dir);
      } else if (d->valid_until - now < options_.delegation_valid / 2) {
        renew.push_back(d);
      }
    }
    for (uint64_t dir : back) co_await GiveBack(dir);
    for (auto& d : renew) {
      if (d->giving_back) continue;
      auto r = co_await Delegate(d, 0, proto::Caller());
      if (!r.ok()) {
        spdlog::debug("cfs: directory {}: renewal failed: {}", d->dir, r.status().ToString());
        co_await GiveBack(d->dir);
      }
    }
  }
  polling_ = false;
}

}  // namespace cfs::client
