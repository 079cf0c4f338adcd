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

uint64_t NewClientId() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) id = (uint64_t{rd()} << 32) | rd();
  return id;
}

}  // namespace

MetaClient::MetaClient(rpc::ChannelPool& pool, MetaClientOptions options)
    : pool_(pool),
      options_(std::move(options)),
      client_id_(NewClientId()),
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
  auto r = co_await router_.Call(partition, proto::METANODE_WRITE, req, &resp);
  if (!r.ok()) co_return r.status();
  co_return resp;
}

asio::awaitable<Result<proto::MetaResponse>> MetaClient::Read(uint64_t partition, proto::MetaReadRequest request,
                                                              const proto::Caller& caller) {
  request.set_partition(partition);
  *request.mutable_caller() = caller;
  proto::MetaResponse resp;
  auto r = co_await router_.Call(partition, proto::METANODE_READ, request, &resp);
  if (!r.ok()) co_return r.status();
  co_return resp;
}

asio::awaitable<Result<proto::InodeAttr>> MetaClient::Create(uint64_t parent, std::string_view name, uint32_t mode,
                                                             const proto::Caller& caller, uint64_t rdev,
                                                             std::string_view symlink_target) {
  auto home = co_await PartitionOf(parent);
  if (!home.ok()) co_return home.status();
  auto target = PartitionWithRoom(*home);
  if (!target.ok()) co_return target.status();
  if (*target == *home) {
    proto::MetaCommand c;
    auto* op = c.mutable_create();
    op->set_parent(parent);
    op->set_name(std::string(name));
    op->set_mode(mode);
    op->set_rdev(rdev);
    op->set_symlink_target(std::string(symlink_target));
    auto r = co_await Write(*home, std::move(c), caller);
    if (!r.ok()) co_return r.status();
    if (r->code() != static_cast<uint32_t>(Code::kNoSpace)) {
      if (Status s = AnswerStatus(*r); !s.ok()) co_return s;
      co_return std::move(*r->mutable_attr());
    }
    MarkFull(*home);  // the parent's range is used up: the inode goes elsewhere
    target = PartitionWithRoom(*home);
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
  auto inode = co_await Write(*target, std::move(ci), caller);
  if (!inode.ok()) co_return inode.status();
  if (inode->code() == static_cast<uint32_t>(Code::kNoSpace)) MarkFull(*target);
  if (Status s = AnswerStatus(*inode); !s.ok()) co_return s;
  proto::MetaCommand cd;
  auto* d = cd.mutable_create_dentry();
  d->set_parent(parent);
  d->set_name(std::string(name));
  d->set_inode(inode->attr().inode());
  d->set_mode(mode & S_IFMT);
  auto dentry = co_await Write(*home, std::move(cd), caller);
  if (!dentry.ok()) co_return dentry.status();  // the orphan is reclaimed after its grace period
  if (Status s = AnswerStatus(*dentry); !s.ok()) co_return s;
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
  if (r->unlink_inode() != 0) {
    auto where = co_await PartitionOf(r->unlink_inode());
    if (!where.ok()) co_return where.status();
    proto::MetaCommand u;
    u.mutable_unlink_inode()->set_inode(r->unlink_inode());
    auto dropped = co_await Write(*where, std::move(u), caller);
    if (!dropped.ok()) co_return dropped.status();
    if (Status s = AnswerStatus(*dropped); !s.ok()) co_return s;
  }
  co_return Status::OK();
}

}  // namespace cfs::client
