#include "client/meta_client.h"

#include <sys/stat.h>

#include <random>

#include <fmt/format.h>

namespace cfs::client {

Status AnswerStatus(const proto::MetaResponse& response) {
  if (response.code() == 0) return Status::OK();
  return Status(static_cast<Code>(response.code()), response.message());
}

namespace {

// Fault injection for the steps of an operation across partitions
// (MetaClientOptions::crash_after).
bool StopHere(int& steps, int crash_after) { return crash_after > 0 && ++steps >= crash_after; }
Status Stopped() { return Status(Code::kAborted, "stopped on purpose (crash_after)"); }

// A random id other than 0 (client ids, rename txn ids).
uint64_t RandomId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t{rd()} << 32) | rd();
  return id;
}

}  // namespace

MetaClient::MetaClient(rpc::ChannelPool& pool, MetaClientOptions options)
    : pool_(pool),
      options_(std::move(options)),
      client_id_(RandomId()),
      masters_(pool, options_.masters),
      router_(pool, masters_, options_.volume, 0, options_.timeout) {}

asio::awaitable<Status> MetaClient::Open() { co_return co_await router_.Refresh(); }

asio::awaitable<Result<uint64_t>> MetaClient::PartitionOf(uint64_t inode) {
  auto p = router_.Find(inode);
  if (!p.ok()) {
    if (Status s = co_await router_.Refresh(); !s.ok()) co_return s;
    p = router_.Find(inode);
    if (!p.ok()) co_return p.status();
  }
  co_return p->id();
}

Result<uint64_t> MetaClient::PartitionWithRoom(uint64_t preferred) const {
  std::lock_guard l(mu_);
  if (!full_.contains(preferred)) return preferred;
  // The open last partition always has room; a fixed one may still.
  const proto::VolumeView v = router_.view();
  for (auto it = v.partitions().rbegin(); it != v.partitions().rend(); ++it) {
    if (!full_.contains(it->record().id())) return it->record().id();
  }
  return Status::NoSpace(fmt::format("volume {}: no meta partition has inode ids left", v.name()));
}

Result<uint64_t> MetaClient::PartitionForDirectory(uint64_t parent, std::string_view name) const {
  const proto::VolumeView v = router_.view();
  std::vector<uint64_t> open;
  {
    std::lock_guard l(mu_);
    for (const auto& p : v.partitions()) {
      if (!full_.contains(p.record().id())) open.push_back(p.record().id());
    }
  }
  if (open.empty()) return Status::NoSpace(fmt::format("volume {}: no meta partition has inode ids left", v.name()));
  const size_t h = std::hash<std::string_view>()(name) ^ std::hash<uint64_t>()(parent);
  return open[h % open.size()];
}

asio::awaitable<Result<uint64_t>> MetaClient::PartitionForNew(uint64_t home, uint64_t parent, std::string_view name,
                                                              bool dir) {
  auto pick = [&] { return dir ? PartitionForDirectory(parent, name) : PartitionWithRoom(home); };
  Result<uint64_t> target = pick();
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  auto delay = std::chrono::milliseconds(20);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!target.ok() && target.status().code() == Code::kNoSpace) {
    // Every partition in the view is full: a split is adding one (the last
    // partition's end is fixed before the master lists the new partition).
    if (Status s = co_await router_.Refresh(); !s.ok()) co_return s;
    target = pick();
    if (target.ok() || std::chrono::steady_clock::now() + delay > deadline) break;
    timer.expires_after(delay);
    (void)co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    delay = std::min(delay * 2, std::chrono::milliseconds(1000));
  }
  co_return target;
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::CreateInodeWithRoom(uint64_t home, uint64_t parent,
                                                                             std::string_view name, bool dir,
                                                                             proto::MetaCommand ci,
                                                                             const proto::Caller& caller,
                                                                             uint64_t* target) {
  for (;;) {
    auto r = co_await Write(*target, ci, caller);
    // The partition chosen ran out of ids meanwhile (the last one, while a
    // split is under way): another, once the view lists one with room.
    if (!r.ok() || r->code() != static_cast<uint32_t>(Code::kNoSpace)) co_return r;
    MarkFull(*target);
    auto next = co_await PartitionForNew(home, parent, name, dir);
    if (!next.ok()) co_return next.status();
    *target = *next;
  }
}

void MetaClient::MarkFull(uint64_t partition) {
  std::lock_guard l(mu_);
  full_.insert(partition);
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::Write(uint64_t partition, proto::MetaCommand command,
                                                               const proto::Caller& caller) {
  proto::MetaWriteRequest req;
  req.set_partition(partition);
  *req.mutable_command() = std::move(command);
  req.mutable_command()->set_client_id(client_id_);
  req.mutable_command()->set_seq(seq_.fetch_add(1, std::memory_order_relaxed) + 1);
  *req.mutable_command()->mutable_caller() = caller;
  proto::MetaResponse resp;
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  for (int attempt = 0;; ++attempt) {
    auto r = co_await router_.Call(partition, proto::METANODE_WRITE, req, &resp);
    if (!r.ok()) co_return r.status();
    // The same seq again: a Delegated answer is not remembered.
    if (!co_await AfterDelegated(partition, resp, deadline, attempt)) break;
  }
  if (options_.dir_changed) {
    for (const proto::InodeAttr& d : resp.dirs()) options_.dir_changed(d);
  }
  co_return resp;
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::Read(uint64_t partition, proto::MetaReadRequest request,
                                                              const proto::Caller& caller) {
  request.set_partition(partition);
  request.set_client_id(client_id_);
  *request.mutable_caller() = caller;
  proto::MetaResponse resp;
  const auto deadline = std::chrono::steady_clock::now() + options_.timeout;
  for (int attempt = 0;; ++attempt) {
    auto r = co_await router_.Call(partition, proto::METANODE_READ, request, &resp);
    if (!r.ok()) co_return r.status();
    if (!co_await AfterDelegated(partition, resp, deadline, attempt)) break;
  }
  co_return resp;
}

asio::awaitable<bool> MetaClient::AfterDelegated(uint64_t partition, const proto::MetaResponse& answer,
                                                 std::chrono::steady_clock::time_point deadline, int attempt) {
  if (answer.code() != static_cast<uint32_t>(Code::kDelegated)) co_return false;
  if (answer.delegation().client_id() == client_id_) {
    // Ours: what it changed goes out first. A few tries: another of our
    // requests may take it again meanwhile.
    if (!options_.give_back || attempt >= 8) co_return false;
    co_await options_.give_back(partition, answer.delegation().dir());
    co_return true;
  }
  // Another client's: the metanode recalled it and waited; its holder may
  // be gone, and then it expires.
  if (std::chrono::steady_clock::now() >= deadline) co_return false;
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(20));
  (void)co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return true;
}

asio::awaitable<Result<proto::InodeAttr>> MetaClient::Create(uint64_t parent, std::string_view name, uint32_t mode,
                                                             const proto::Caller& caller, uint64_t rdev,
                                                             std::string_view symlink_target, bool open) {
  auto home = co_await PartitionOf(parent);
  if (!home.ok()) co_return home.status();
  // Files and directories live with their parent (one entry creates both),
  // except directories of the root: those are spread over the partitions by
  // name, so that a volume's subtrees and their load spread too, while
  // everything inside one subtree (renames, rmdir, links) stays in one.
  const bool dir = (mode & S_IFMT) == S_IFDIR && parent == kRootInode;
  auto target = co_await PartitionForNew(*home, parent, name, dir);
  if (!target.ok()) co_return target.status();
  if (*target == *home) {
    proto::MetaCommand c;
    auto* op = c.mutable_create();
    op->set_parent(parent);
    op->set_name(std::string(name));
    op->set_mode(mode);
    op->set_rdev(rdev);
    op->set_symlink_target(std::string(symlink_target));
    op->set_open(open);
    auto r = co_await Write(*home, std::move(c), caller);
    if (!r.ok()) co_return r.status();
    if (r->code() != static_cast<uint32_t>(Code::kNoSpace)) {
      if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
      co_return std::move(*r->mutable_attr());
    }
    MarkFull(*home);  // the parent's range is used up: the inode goes elsewhere
    target = co_await PartitionForNew(*home, parent, name, dir);
    if (!target.ok()) co_return target.status();
  }
  // Across partitions: the inode (an orphan until confirmed), the dentry,
  // the confirmation.
  proto::MetaCommand ci;
  auto* op = ci.mutable_create_inode();
  op->set_mode(mode);
  op->set_rdev(rdev);
  op->set_symlink_target(std::string(symlink_target));
  op->set_parent(parent);
  op->set_name(std::string(name));
  op->set_open(open);
  // A set-group-ID parent gives its group (and the bit, to a directory);
  // the inode's partition does not have the parent, so it is told.
  auto parent_attr = co_await GetAttr(parent);
  if (!parent_attr.ok()) co_return parent_attr.status();
  if (parent_attr->mode() & S_ISGID) {
    op->set_parent_setgid(true);
    op->set_parent_gid(parent_attr->gid());
  }
  auto inode = co_await CreateInodeWithRoom(*home, parent, name, dir, std::move(ci), caller, &*target);
  if (!inode.ok()) co_return inode.status();
  if (Status s = AnswerStatus(*inode); !s.ok()) co_return s;
  int steps = 0;
  if (StopHere(steps, options_.crash_after)) co_return Stopped();  // leaves an orphan
  proto::MetaCommand cd;
  auto* d = cd.mutable_create_dentry();
  d->set_parent(parent);
  d->set_name(std::string(name));
  d->set_inode(inode->attr().inode());
  d->set_mode(mode & S_IFMT);
  auto dentry = co_await Write(*home, std::move(cd), caller);
  if (!dentry.ok()) co_return dentry.status();  // the orphan is reclaimed after its grace period
  if (Status s = AnswerStatus(*dentry); !s.ok()) {
    // No dentry will point at it: free the orphan now rather than after its grace.
    proto::MetaCommand reclaim;
    reclaim.mutable_reclaim_orphan()->set_inode(inode->attr().inode());
    (void)co_await Write(*target, std::move(reclaim), caller);
    co_return s;
  }
  if (StopHere(steps, options_.crash_after)) co_return Stopped();  // linked, not confirmed
  proto::MetaCommand confirm;
  confirm.mutable_confirm_link()->set_inode(inode->attr().inode());
  // Unconfirmed, the metanode's orphan check finds the dentry and confirms.
  (void)co_await Write(*target, std::move(confirm), caller);
  co_return std::move(*inode->mutable_attr());
}

asio::awaitable<Result<proto::InodeAttr>> MetaClient::Lookup(uint64_t parent, std::string_view name,
                                                             const proto::Caller& caller) {
  auto home = co_await PartitionOf(parent);
  if (!home.ok()) co_return home.status();
  proto::MetaReadRequest req;
  req.mutable_lookup()->set_parent(parent);
  req.mutable_lookup()->set_name(std::string(name));
  auto r = co_await Read(*home, std::move(req), caller);
  if (!r.ok()) co_return r.status();
  if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
  if (r->attr().nlink() != 0) co_return std::move(*r->mutable_attr());
  // The child lives in another partition: its attributes are there.
  co_return co_await GetAttr(r->attr().inode());
}

asio::awaitable<Result<proto::InodeAttr>> MetaClient::GetAttr(uint64_t inode) {
  auto home = co_await PartitionOf(inode);
  if (!home.ok()) co_return home.status();
  proto::MetaReadRequest req;
  req.mutable_get_attr()->set_inode(inode);
  auto r = co_await Read(*home, std::move(req), proto::Caller());
  if (!r.ok()) co_return r.status();
  if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
  co_return std::move(*r->mutable_attr());
}

asio::awaitable<Status> MetaClient::Unlink(uint64_t parent, std::string_view name, bool rmdir,
                                           const proto::Caller& caller) {
  auto home = co_await PartitionOf(parent);
  if (!home.ok()) co_return home.status();
  bool child_unlinked = false;
  if (rmdir) {
    // A directory elsewhere is checked (empty) and unlinked there first.
    auto child = co_await Lookup(parent, name, caller);
    if (!child.ok()) co_return child.status();
    auto where = co_await PartitionOf(child->inode());
    if (!where.ok()) co_return where.status();
    if (*where != *home) {
      proto::MetaCommand c;
      c.mutable_unlink_inode()->set_inode(child->inode());
      c.mutable_unlink_inode()->set_rmdir(true);
      auto r = co_await Write(*where, std::move(c), caller);
      if (!r.ok()) co_return r.status();
      if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
      child_unlinked = true;
    }
  }
  proto::MetaCommand c;
  auto* op = c.mutable_unlink();
  op->set_parent(parent);
  op->set_name(std::string(name));
  op->set_rmdir(rmdir);
  op->set_child_unlinked(child_unlinked);
  auto r = co_await Write(*home, std::move(c), caller);
  if (!r.ok()) co_return r.status();
  if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
  co_return co_await FollowUps(*r, 0, caller);
}

asio::awaitable<Status> MetaClient::FollowUps(const proto::MetaResponse& answer, uint64_t new_parent,
                                              const proto::Caller& caller) {
  if (answer.unlink_inode() != 0) {
    auto where = co_await PartitionOf(answer.unlink_inode());
    if (!where.ok()) co_return where.status();
    proto::MetaCommand u;
    u.mutable_unlink_inode()->set_inode(answer.unlink_inode());
    auto dropped = co_await Write(*where, std::move(u), caller);
    if (!dropped.ok()) co_return dropped.status();
    // NotFound: freed already (a retried follow-up).
    if (Status s = AnswerStatus(*dropped); !s.ok() && !s.Is(Code::kNotFound)) co_return s;
  }
  if (answer.reparent_inode() != 0 && new_parent != 0) {
    auto where = co_await PartitionOf(answer.reparent_inode());
    if (!where.ok()) co_return where.status();
    proto::MetaCommand c;
    c.mutable_set_attr()->set_inode(answer.reparent_inode());
    c.mutable_set_attr()->set_valid(proto::SETATTR_PARENT);
    c.mutable_set_attr()->set_parent(new_parent);
    auto moved = co_await Write(*where, std::move(c), proto::Caller());
    if (!moved.ok()) co_return moved.status();
    if (Status s = AnswerStatus(*moved); !s.ok()) co_return s;
  }
  co_return Status::OK();
}

asio::awaitable<Status> MetaClient::Rename(uint64_t src_parent, std::string_view src_name, uint64_t dst_parent,
                                           std::string_view dst_name, uint32_t flags, const proto::Caller& caller) {
  auto a = co_await PartitionOf(src_parent);
  if (!a.ok()) co_return a.status();
  auto b = co_await PartitionOf(dst_parent);
  if (!b.ok()) co_return b.status();
  if (*a == *b) {
    proto::MetaCommand c;
    auto* op = c.mutable_rename();
    op->set_src_parent(src_parent);
    op->set_src_name(std::string(src_name));
    op->set_dst_parent(dst_parent);
    op->set_dst_name(std::string(dst_name));
    op->set_flags(flags);
    auto r = co_await Write(*a, std::move(c), caller);
    if (!r.ok()) co_return r.status();
    if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
    co_return co_await FollowUps(*r, dst_parent, caller);
  }
  // Across partitions, a directory that would be replaced is checked here:
  // a non-empty one is refused as POSIX says (replacing an empty directory
  // across partitions is not supported yet).
  if ((flags & 2) == 0) {
    auto target = co_await Lookup(dst_parent, dst_name, caller);
    if (target.ok() && (target->mode() & S_IFMT) == S_IFDIR) {
      if ((flags & 1) != 0) co_return Status::Exists(fmt::format("{} exists", dst_name));
      auto listing = co_await ReadDir(target->inode(), "", 1, false, caller);
      if (listing.ok() && !listing->entries.empty()) {
        co_return Status::NotEmpty(fmt::format("directory {} is not empty", dst_name));
      }
    }
  }
  co_return co_await RenameAcross(*a, src_parent, src_name, *b, dst_parent, dst_name, flags, caller);
}

asio::awaitable<Status> MetaClient::RenameAcross(uint64_t a, uint64_t src_parent, std::string_view src_name,
                                                 uint64_t b, uint64_t dst_parent, std::string_view dst_name,
                                                 uint32_t flags, const proto::Caller& caller) {
  // Two-phase commit; B (the destination's partition) decides.
  int steps = 0;
  const uint64_t txn = RandomId();
  const int64_t expires =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count() +
      std::chrono::duration_cast<std::chrono::nanoseconds>(options_.rename_txn_timeout).count();

  proto::MetaCommand prepare_src;
  auto* ps = prepare_src.mutable_rename_prepare_src();
  ps->set_txn(txn);
  ps->set_src_parent(src_parent);
  ps->set_src_name(std::string(src_name));
  ps->set_dst_parent(dst_parent);
  ps->set_dst_name(std::string(dst_name));
  ps->set_flags(flags);
  ps->set_dst_partition(b);
  ps->set_expires_ns(expires);
  auto src = co_await Write(a, std::move(prepare_src), caller);
  if (!src.ok()) co_return src.status();  // if it was applied, A's leader resolves it after the expiry
  if (Status s = AnswerStatus(*src); !s.ok()) co_return s;
  if (StopHere(steps, options_.crash_after)) co_return Stopped();

  proto::MetaCommand prepare_dst;
  auto* pd = prepare_dst.mutable_rename_prepare_dst();
  pd->set_txn(txn);
  pd->set_dst_parent(dst_parent);
  pd->set_dst_name(std::string(dst_name));
  pd->set_child(src->attr().inode());
  pd->set_child_mode(src->attr().mode() & S_IFMT);
  pd->set_flags(flags);
  pd->set_src_partition(a);
  pd->set_expires_ns(expires);
  auto dst = co_await Write(b, std::move(prepare_dst), caller);
  if (!dst.ok()) co_return dst.status();  // A resolves with B
  if (Status s = AnswerStatus(*dst); !s.ok() || dst->rename_noop()) {
    if (!dst->rename_noop()) co_await AbortTxn(b, txn, expires, caller);  // records it aborted at B, so A may abort
    co_await AbortTxn(a, txn, expires, caller);
    co_return s;
  }
  if (StopHere(steps, options_.crash_after)) co_return Stopped();

  proto::MetaCommand commit_b;
  commit_b.mutable_rename_commit()->set_txn(txn);
  commit_b.mutable_rename_commit()->set_expires_ns(expires);
  auto committed = co_await Write(b, std::move(commit_b), caller);
  if (!committed.ok()) co_return committed.status();  // A resolves with B
  if (Status s = AnswerStatus(*committed); !s.ok()) {
    co_await AbortTxn(a, txn, expires, caller);  // an error from B's commit: never committed
    co_return s;
  }
  if (StopHere(steps, options_.crash_after)) co_return Stopped();

  proto::MetaCommand commit_a;
  commit_a.mutable_rename_commit()->set_txn(txn);
  commit_a.mutable_rename_commit()->set_expires_ns(expires);
  auto finished = co_await Write(a, std::move(commit_a), caller);
  if (!finished.ok()) co_return finished.status();  // A's leader resolves it (committed) after the expiry
  if (Status s = AnswerStatus(*finished); !s.ok()) co_return s;
  if (StopHere(steps, options_.crash_after)) co_return Stopped();

  proto::MetaCommand forget;
  forget.mutable_rename_forget()->set_txn(txn);
  forget.mutable_rename_forget()->set_expires_ns(expires);
  (void)co_await Write(b, std::move(forget), caller);
  co_return co_await FollowUps(*committed, dst_parent, caller);
}

asio::awaitable<void> MetaClient::AbortTxn(uint64_t partition, uint64_t txn, int64_t expires_ns,
                                           const proto::Caller& caller) {
  proto::MetaCommand c;
  c.mutable_rename_abort()->set_txn(txn);
  c.mutable_rename_abort()->set_expires_ns(expires_ns);
  (void)co_await Write(partition, std::move(c), caller);  // unanswered: resolved by A's leader later
}

proto::MetaCommand AppendExtentsCommand(uint64_t inode, std::vector<proto::Extent> extents, uint64_t size) {
  proto::MetaCommand c;
  auto* op = c.mutable_append_extents();
  op->set_inode(inode);
  op->set_size(size);
  for (auto& e : extents) *op->add_extents() = std::move(e);
  return c;
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::AppendExtents(uint64_t inode,
                                                                       std::vector<proto::Extent> extents,
                                                                       uint64_t size, const proto::Caller& caller) {
  co_return co_await InodeCommand(inode, AppendExtentsCommand(inode, std::move(extents), size), caller);
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::RewriteExtents(uint64_t inode,
                                                                        std::vector<proto::Extent> extents,
                                                                        uint64_t size, uint64_t digest,
                                                                        const proto::Caller& caller) {
  proto::MetaCommand c = AppendExtentsCommand(inode, std::move(extents), size);
  c.mutable_append_extents()->set_rewrite(true);
  c.mutable_append_extents()->set_rewrite_digest(digest);
  co_return co_await InodeCommand(inode, std::move(c), caller);
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::InodeRead(uint64_t inode, proto::MetaReadRequest req,
                                                                   const proto::Caller& caller) {
  auto p = co_await PartitionOf(inode);
  if (!p.ok()) co_return p.status();
  auto r = co_await Read(*p, std::move(req), caller);
  if (!r.ok()) co_return r.status();
  if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
  co_return std::move(*r);
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::InodeCommand(uint64_t inode, proto::MetaCommand c,
                                                                      const proto::Caller& caller) {
  auto home = co_await PartitionOf(inode);
  if (!home.ok()) co_return home.status();
  auto r = co_await Write(*home, std::move(c), caller);
  if (!r.ok()) co_return r.status();
  if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
  co_return std::move(*r);
}

asio::awaitable<Result<proto::DirListing>> MetaClient::ReadDir(uint64_t parent, std::string_view after,
                                                               uint32_t limit, bool plus, const proto::Caller& caller) {
  auto home = co_await PartitionOf(parent);
  if (!home.ok()) co_return home.status();
  proto::MetaReadRequest req;
  auto* r = req.mutable_read_dir();
  r->set_parent(parent);
  r->set_after(std::string(after));
  r->set_limit(limit);
  r->set_plus(plus);
  r->set_packed(!plus);
  auto answer = co_await Read(*home, std::move(req), caller);
  if (!answer.ok()) co_return answer.status();
  if (Status s = AnswerStatus(*answer); !s.ok()) co_return s;
  co_return proto::ListingOf(*answer);
}

asio::awaitable<Result<proto::InodeAttr>> MetaClient::Resolve(std::string_view path, const proto::Caller& caller) {
  if (path.empty() || path[0] != '/') co_return Status::InvalidArgument(fmt::format("path {} is not absolute", path));
  auto attr = co_await GetAttr(kRootInode);
  if (!attr.ok()) co_return attr.status();
  size_t i = 0;
  while (i < path.size()) {
    while (i < path.size() && path[i] == '/') ++i;
    const size_t j = path.find('/', i);
    const std::string_view name = path.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    if (name.empty()) break;
    auto next = co_await Lookup(attr->inode(), name, caller);
    if (!next.ok()) co_return next.status().WithContext(std::string(path.substr(0, j)));
    attr = std::move(next);
    i = j == std::string_view::npos ? path.size() : j;
  }
  co_return attr;
}

}  // namespace cfs::client
