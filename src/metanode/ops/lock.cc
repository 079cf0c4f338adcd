// Cluster-wide file locks (metanode/file_lock.h): SetLockOp, and GetLock
// for F_GETLK. A client's locks on an inode go with its lease of it
// (ReleaseLease, DoExpire) and with the inode (FreeInode).
#include <fmt/format.h>

#include "metanode/file_lock.h"
#include "metanode/partition.h"

namespace cfs::metanode {

Status Partition::DoSetLock(const proto::SetLockOp& op, proto::MetaResponse* out) {
  const InodeId id(op.inode());
  proto::FileLock want = op.lock();
  CFS_RETURN_IF_ERROR(ValidateLock(&want));
  want.set_client_id(client_id_);
  auto it = locks_.find(id);
  if (want.type() == proto::FILE_UNLOCK) {
    if (it == locks_.end()) return Status::OK();
    ApplyLock(&it->second, want);
    if (it->second.empty()) locks_.erase(it);
    return Status::OK();
  }
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  if (n->nlink == 0 && !HasLease(id)) return Status::NotFound(fmt::format("inode {} was unlinked", id));
  if (it != locks_.end()) {
    if (const proto::FileLock* c = FindConflict(it->second, want)) {
      *out->mutable_lock() = *c;
      return Status::OK();
    }
  }
  ApplyLock(&locks_[id], want);
  TakeLease(id);  // the lock lives as long as the lease
  return Status::OK();
}

Result<proto::FileLock> Partition::GetLock(InodeId inode, proto::FileLock want) const {
  CFS_RETURN_IF_ERROR(ValidateLock(&want));
  CFS_RETURN_IF_ERROR(FindInode(inode).status());
  auto it = locks_.find(inode);
  if (it != locks_.end()) {
    if (const proto::FileLock* c = FindConflict(it->second, want)) return *c;
  }
  return proto::FileLock();  // FILE_UNLOCK: none
}

void Partition::DropLocks(InodeId inode, uint64_t client_id) {
  auto it = locks_.find(inode);
  if (it == locks_.end()) return;
  DropClientLocks(&it->second, client_id);
  if (it->second.empty()) locks_.erase(it);
}

}  // namespace cfs::metanode
