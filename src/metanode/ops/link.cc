// Hard links: one entry when the inode and the new dentry's parent are both
// here; across partitions the client adds the link (LinkInodeOp) in the
// inode's partition, then the dentry (CreateDentryOp) in the parent's.
#include <fmt/format.h>

#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

Status CheckLinkable(InodeId id, const Inode& n) {
  if (n.is_dir()) return Status(Code::kNotPermitted, fmt::format("inode {} is a directory: no hard links", id));
  if (n.nlink == 0) return Status::NotFound(fmt::format("inode {} was unlinked", id));
  if (n.nlink >= kMaxLinks) return Status(Code::kTooManyLinks, fmt::format("inode {} has {} links", id, n.nlink));
  return Status::OK();
}

}  // namespace

Status Partition::DoLink(const proto::LinkOp& op, proto::MetaResponse* out) {
  const InodeId id(op.inode());
  const InodeId parent_id(op.parent());
  auto ni = inodes_.find(id);
  if (ni == inodes_.end()) {
    if (!Owns(id)) {
      return Status::InvalidArgument(
          fmt::format("inode {} is in another partition: link it there, then create the dentry", id));
    }
    return Status::NotFound(fmt::format("inode {} not found", id));
  }
  Inode& n = ni->second;
  CFS_RETURN_IF_ERROR(CheckLinkable(id, n));
  CFS_RETURN_IF_ERROR(ValidateName(op.name()));
  CFS_ASSIGN_OR_RETURN(Inode * parent, DirForNewEntry(parent_id, op.name(), n.mode));
  ++n.nlink;
  n.ctime_ns = now_ns_;
  InsertDentry(parent_id, *parent, op.name(), id, n.mode);
  InodeToAttr(id, n, out->mutable_attr());
  return Status::OK();
}

Status Partition::DoLinkInode(const proto::LinkInodeOp& op, proto::MetaResponse* out) {
  const InodeId id(op.inode());
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  CFS_RETURN_IF_ERROR(CheckLinkable(id, *n));
  ++n->nlink;
  n->ctime_ns = now_ns_;
  InodeToAttr(id, *n, out->mutable_attr());
  return Status::OK();
}

}  // namespace cfs::metanode
