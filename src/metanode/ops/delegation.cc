// Directory delegations: one client holds a directory and changes it alone,
// by batches of creates and unlinks it answered by itself (partition.h).
#include <algorithm>

#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

constexpr uint32_t kMaxReserve = 65536;
constexpr int kMaxBatchCommands = 4096;

}  // namespace

const proto::Delegation* Partition::DelegationOf(InodeId dir, int64_t now_ns) const {
  auto it = delegations_.find(dir);
  if (it == delegations_.end() || it->second.expires_ns() <= now_ns) return nullptr;
  return &it->second;
}

std::vector<uint64_t> Partition::DelegatedTo(uint64_t client_id, int64_t now_ns) const {
  std::vector<uint64_t> dirs;
  for (const auto& [dir, d] : delegations_) {
    if (d.client_id() == client_id && d.expires_ns() > now_ns) dirs.push_back(dir.value());
  }
  return dirs;
}

Status Partition::CheckNotDelegated(InodeId dir) const {
  const proto::Delegation* d = DelegationOf(dir, now_ns_);
  if (d == nullptr || (batching_ && d->client_id() == client_id_)) return Status::OK();
  refused_by_ = *d;
  return Status(Code::kDelegated, fmt::format("directory {} is delegated to client {}", dir, d->client_id()));
}

void Partition::ExpireDelegations() {
  std::erase_if(delegations_, [&](const auto& kv) { return kv.second.expires_ns() <= now_ns_; });
}

Status Partition::DoDelegate(const proto::DelegateOp& op, proto::MetaResponse* out) {
  const InodeId id(op.dir());
  if (client_id_ == 0) return Status::InvalidArgument("a delegation needs a client id");
  if (op.reserve_inodes() > kMaxReserve) {
    return Status::InvalidArgument(fmt::format("{} inode ids reserved at once (at most {})", op.reserve_inodes(), kMaxReserve));
  }
  CFS_ASSIGN_OR_RETURN(Inode * dir, FindDir(id));
  CFS_RETURN_IF_ERROR(CheckAccess(id, *dir, *caller_, kMayWrite | kMayExec));
  if (const proto::Delegation* d = DelegationOf(id, now_ns_); d && d->client_id() != client_id_) {
    return Status::Busy(fmt::format("directory {} is delegated to client {}", id, d->client_id()));
  }
  // The ids [first, first + n): given out now, used by the holder's creates.
  const uint64_t first = next_inode_.value();
  const uint64_t last = std::min(end_.value(), DentryValue::kMaxInode);
  const uint64_t left = first > last ? 0 : last - first + 1;
  const uint64_t n = std::min<uint64_t>(op.reserve_inodes(), left);
  if (op.reserve_inodes() > 0 && n == 0) {
    return Status::NoSpace(fmt::format("meta partition {}: inode range [{}, {}] used up", options_.id, start_, end_));
  }
  next_inode_ = InodeId(first + n);
  proto::Delegation& d = delegations_[id];
  d.set_dir(id.value());
  d.set_client_id(client_id_);
  d.set_expires_ns(now_ns_ + options_.delegation_ttl.count());
  proto::Delegation* answer = out->mutable_delegation();
  *answer = d;
  answer->set_first_inode(first);
  answer->set_end_inode(first + n);
  InodeToAttr(id, *dir, out->mutable_attr());
  return Status::OK();
}

Status Partition::DoBatch(const proto::BatchOp& op, proto::MetaResponse* out) {
  if (op.commands_size() > kMaxBatchCommands) {
    return Status::InvalidArgument(fmt::format("a batch of {} commands (at most {})", op.commands_size(), kMaxBatchCommands));
  }
  for (const proto::MetaCommand& c : op.commands()) {
    if (!c.has_create() && !c.has_unlink() && !c.has_append_extents()) {
      return Status::InvalidArgument("a batch holds creates, unlinks and commits of data only");
    }
  }
  const proto::Caller* batch_caller = caller_;
  batching_ = true;
  for (const proto::MetaCommand& c : op.commands()) {
    caller_ = &c.caller();
    proto::MetaResponse* r = out->add_results();
    if (Status s = Dispatch(c, r); !s.ok()) {
      r->Clear();
      r->set_code(static_cast<uint32_t>(s.code()));
      r->set_message(s.message());
    }
  }
  batching_ = false;
  caller_ = batch_caller;
  auto it = delegations_.find(InodeId(op.dir()));
  if (it != delegations_.end() && it->second.client_id() == client_id_) {
    if (op.give_back()) {
      delegations_.erase(it);
    } else {
      it->second.set_expires_ns(now_ns_ + options_.delegation_ttl.count());
      *out->mutable_delegation() = it->second;
    }
  }
  return Status::OK();
}

}  // namespace cfs::metanode
