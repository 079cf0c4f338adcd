// Create: an inode and its dentry in one entry (the parent's partition owns
// the new id), or, across partitions, the inode here (an orphan until its
// dentry is confirmed) and the dentry in the parent's partition.
#include <fmt/format.h>

#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

// The file types a create may make, and the symlink target's bounds.
Status ValidateNewInode(uint32_t mode, const std::string& symlink_target) {
  switch (mode & S_IFMT) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFIFO:
    case S_IFSOCK:
    case S_IFCHR:
    case S_IFBLK: break;
    case S_IFLNK:
      if (symlink_target.empty()) return Status::InvalidArgument("symlink with an empty target");
      if (symlink_target.size() > kMaxSymlinkBytes) {
        return Status(Code::kNameTooLong,
                      fmt::format("symlink target of {} bytes (at most {})", symlink_target.size(), kMaxSymlinkBytes));
      }
      break;
    default: return Status::InvalidArgument(fmt::format("mode {:o} names no file type", mode));
  }
  if ((mode & ~(S_IFMT | 07777)) != 0) return Status::InvalidArgument(fmt::format("mode {:o} has unknown bits", mode));
  return Status::OK();
}

void SetTypeFields(Inode& n, InodeId parent, uint64_t rdev, const std::string& symlink_target) {
  if (n.is_dir()) n.Extra().parent = parent;
  if (S_ISCHR(n.mode) || S_ISBLK(n.mode)) n.Extra().rdev = rdev;
  if (n.is_symlink()) {
    n.mode = S_IFLNK | 0777;
    n.Extra().symlink_target = symlink_target;
    n.size = symlink_target.size();
  }
}

}  // namespace

Status Partition::DoCreate(const proto::CreateOp& op, proto::MetaResponse* out) {
  const InodeId parent_id(op.parent());
  CFS_RETURN_IF_ERROR(ValidateName(op.name()));
  CFS_RETURN_IF_ERROR(ValidateNewInode(op.mode(), op.symlink_target()));
  CFS_ASSIGN_OR_RETURN(Inode * parent, DirForNewEntry(parent_id, op.name(), op.mode()));
  InodeId id;
  if (op.inode() != 0) {
    // Reserved by a DelegateOp: given out (below next_inode_) and unused.
    id = InodeId(op.inode());
    if (id < start_ || id >= next_inode_ || inodes_.contains(id)) {
      return Status::InvalidArgument(fmt::format("meta partition {}: inode {} was not reserved or is in use", options_.id, id));
    }
  } else {
    CFS_ASSIGN_OR_RETURN(id, NextInodeId());
  }
  Inode n = NewInode(op.mode(), parent);
  SetTypeFields(n, parent_id, op.rdev(), op.symlink_target());
  file_bytes_ += n.size;
  InodeToAttr(id, n, out->mutable_attr());
  inodes_.emplace(id, std::move(n));
  // The insert may move tree nodes: find the parent again.
  Inode& p = inodes_.find(parent_id)->second;
  InsertDentry(parent_id, p, op.name(), id, op.mode());
  if (op.open()) TakeLease(id);
  return Status::OK();
}

Status Partition::DoCreateInode(const proto::CreateInodeOp& op, proto::MetaResponse* out) {
  CFS_RETURN_IF_ERROR(ValidateName(op.name()));
  CFS_RETURN_IF_ERROR(ValidateNewInode(op.mode(), op.symlink_target()));
  CFS_ASSIGN_OR_RETURN(InodeId id, NextInodeId());
  Inode remote_parent;  // what NewInode needs of a parent in another partition
  remote_parent.mode = S_IFDIR | S_ISGID;
  remote_parent.gid = op.parent_gid();
  Inode n = NewInode(op.mode(), op.parent_setgid() ? &remote_parent : nullptr);
  SetTypeFields(n, InodeId(op.parent()), op.rdev(), op.symlink_target());
  file_bytes_ += n.size;
  InodeToAttr(id, n, out->mutable_attr());
  inodes_.emplace(id, std::move(n));
  proto::OrphanRecord& o = orphans_[id];
  o.set_inode(id.value());
  o.set_deadline_ns(now_ns_ + options_.orphan_grace.count());
  o.set_parent(op.parent());
  o.set_name(op.name());
  if (op.open()) TakeLease(id);
  return Status::OK();
}

Status Partition::DoConfirmLink(const proto::ConfirmLinkOp& op) {
  const InodeId id(op.inode());
  CFS_RETURN_IF_ERROR(FindInode(id));
  orphans_.erase(id);
  return Status::OK();
}

Status Partition::DoCreateDentry(const proto::CreateDentryOp& op, proto::MetaResponse* out) {
  const InodeId parent_id(op.parent());
  CFS_RETURN_IF_ERROR(ValidateName(op.name()));
  if (op.inode() == 0 || op.inode() > DentryValue::kMaxInode) {
    return Status::InvalidArgument(fmt::format("dentry for inode {}", op.inode()));
  }
  if ((op.mode() & S_IFMT) == 0) return Status::InvalidArgument(fmt::format("dentry mode {:o} has no type", op.mode()));
  Result<Inode*> dir = DirForNewEntry(parent_id, op.name(), op.mode());
  if (dir.status().Is(Code::kExists) &&
      dentries_.find(DentryRef{parent_id, op.name()})->second.child() == InodeId(op.inode())) {
    return Status::OK();  // already there
  }
  CFS_RETURN_IF_ERROR(dir.status());
  Inode* parent = *dir;
  InsertDentry(parent_id, *parent, op.name(), InodeId(op.inode()), op.mode());
  InodeToAttr(parent_id, *parent, out->mutable_attr());
  return Status::OK();
}

}  // namespace cfs::metanode
