// Unlink and rmdir: the dentry goes, and the child loses its link(s) in the
// same entry when it lives here; otherwise the answer names the inode whose
// partition owes the other half (UnlinkInodeOp).
#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/partition.h"

namespace cfs::metanode {

Status Partition::DoUnlink(const proto::UnlinkOp& op, proto::MetaResponse* out) {
  const InodeId parent_id(op.parent());
  if (op.name() == "." || op.name() == "..") {
    return Status::InvalidArgument(fmt::format("cannot remove '{}'", op.name()));
  }
  CFS_ASSIGN_OR_RETURN(Inode * parent, FindDir(parent_id));
  CFS_RETURN_IF_ERROR(CheckNotDelegated(parent_id));
  auto it = dentries_.find(DentryRef{parent_id, op.name()});
  if (it == dentries_.end()) return Status::NotFound(fmt::format("{}/{} not found", parent_id, op.name()));
  const InodeId child = it->second.child();
  const bool is_dir = it->second.is_dir();
  CFS_RETURN_IF_ERROR(CheckNotLocked(parent_id, op.name()));  // a cross-partition rename holds it
  if (op.rmdir() && !is_dir) return Status(Code::kNotDirectory, fmt::format("{}/{} is not a directory", parent_id, op.name()));
  if (!op.rmdir() && is_dir) return Status(Code::kIsDirectory, fmt::format("{}/{} is a directory", parent_id, op.name()));
  auto ci = inodes_.find(child);
  const bool local = ci != inodes_.end();
  CFS_RETURN_IF_ERROR(CheckRemove(parent_id, *parent, local ? ci->second.uid : op.child_uid(), *caller_));
  if (is_dir) {
    CFS_RETURN_IF_ERROR(CheckNotDelegated(child));  // its holder knows of entries not here yet
    if (local && !DirEmpty(child)) return Status::NotEmpty(fmt::format("directory {}/{} is not empty", parent_id, op.name()));
    if (!local && !op.child_unlinked()) {
      return Status::InvalidArgument(
          fmt::format("directory {}/{} is in another partition: remove its inode there first", parent_id, op.name()));
    }
  }
  EraseDentry(it, *parent);
  if (local) {
    DropLinks(child, ci->second, is_dir ? 2 : 1);
  } else if (!is_dir) {
    out->set_unlink_inode(child.value());
  }
  return Status::OK();
}

Status Partition::DoUnlinkInode(const proto::UnlinkInodeOp& op, proto::MetaResponse* out) {
  const InodeId id(op.inode());
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  if (op.rmdir()) {
    if (!n->is_dir()) return Status(Code::kNotDirectory, fmt::format("inode {} is not a directory", id));
    CFS_RETURN_IF_ERROR(CheckNotDelegated(id));
    if (!DirEmpty(id)) return Status::NotEmpty(fmt::format("directory {} is not empty", id));
    if (n->nlink == 0) return Status::OK();  // a retry after it was removed
    InodeToAttr(id, *n, out->mutable_attr());
    DropLinks(id, *n, 2);
    return Status::OK();
  }
  if (n->is_dir()) return Status(Code::kIsDirectory, fmt::format("inode {} is a directory", id));
  if (n->nlink == 0) return Status::NotFound(fmt::format("inode {} has no links left", id));
  DropLinks(id, *n, 1);
  auto it = inodes_.find(id);
  if (it != inodes_.end()) InodeToAttr(id, it->second, out->mutable_attr());
  return Status::OK();
}

}  // namespace cfs::metanode
