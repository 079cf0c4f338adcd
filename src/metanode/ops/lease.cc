// Lifetimes: open-file leases (an unlinked file stays readable while open
// and is freed after its last release, or when its leases expire; a
// client's file locks end with its lease), orphan
// reclamation, and the deletion queue's progress.
#include <fmt/format.h>

#include "metanode/partition.h"

namespace cfs::metanode {

Status Partition::DoOpen(const proto::OpenOp& op, proto::MetaResponse* out) {
  for (uint64_t more : op.more()) {
    const InodeId id(more);
    auto it = inodes_.find(id);
    if (it != inodes_.end() && (it->second.nlink > 0 || HasLease(id))) TakeLease(id);
  }
  if (op.inode() == 0) return Status::OK();
  const InodeId id(op.inode());
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  if (n->nlink == 0 && !HasLease(id)) return Status::NotFound(fmt::format("inode {} was unlinked", id));
  TakeLease(id);
  InodeToAttr(id, *n, out->mutable_attr());
  return Status::OK();
}

void Partition::TakeLease(InodeId id) { leases_[id][client_id_] = now_ns_ + options_.lease_ttl.count(); }

Status Partition::DoRelease(const proto::ReleaseOp& op) {
  ReleaseLease(InodeId(op.inode()));
  for (uint64_t more : op.more()) ReleaseLease(InodeId(more));
  return Status::OK();
}

void Partition::ReleaseLease(InodeId id) {
  auto it = leases_.find(id);
  if (it == leases_.end()) return;  // a retry, or the lease expired
  it->second.erase(client_id_);
  DropLocks(id, client_id_);
  if (!it->second.empty()) return;
  leases_.erase(it);
  auto ni = inodes_.find(id);
  if (ni != inodes_.end() && ni->second.nlink == 0) FreeInode(ni);
}

Status Partition::DoRenewLeases() {
  for (auto& [id, holders] : leases_) {
    auto h = holders.find(client_id_);
    if (h != holders.end()) h->second = now_ns_ + options_.lease_ttl.count();
  }
  return Status::OK();
}

Status Partition::DoExpire() {
  std::vector<InodeId> released;
  for (auto it = leases_.begin(); it != leases_.end();) {
    std::erase_if(it->second, [&](const auto& kv) {
      if (kv.second > now_ns_) return false;
      DropLocks(it->first, kv.first);
      return true;
    });
    if (it->second.empty()) {
      released.push_back(it->first);
      it = leases_.erase(it);
    } else {
      ++it;
    }
  }
  for (InodeId id : released) {
    auto ni = inodes_.find(id);
    if (ni != inodes_.end() && ni->second.nlink == 0) FreeInode(ni);
  }
  ExpireRenameTxns();
  ExpireDelegations();
  ForgetIdleClients();
  return Status::OK();
}

Status Partition::DoReclaimOrphan(const proto::ReclaimOrphanOp& op) {
  const InodeId id(op.inode());
  if (!orphans_.contains(id)) return Status::OK();  // confirmed meanwhile
  if (HasLease(id)) return Status::Busy(fmt::format("orphan inode {} is open", id));
  FreeInode(inodes_.find(id));
  return Status::OK();
}

Status Partition::DoDeletionDone(const proto::DeletionDoneOp& op) {
  while (!deletions_.empty() && deletions_.front().seq() <= op.through()) deletions_.pop_front();
  return Status::OK();
}

}  // namespace cfs::metanode
