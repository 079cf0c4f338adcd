// Rename with both parents in this partition: one entry, so it is atomic.
// POSIX rename(2) and Linux renameat2 rules: a directory replaces only an
// empty directory, a non-directory only a non-directory, a directory never
// moves into its own subtree, renaming onto another link of the same inode
// does nothing; RENAME_NOREPLACE refuses an existing target and
// RENAME_EXCHANGE swaps two existing entries.
//
// The checks and the move into the target are shared with the two halves
// of a cross-partition rename (rename_txn.cc).
#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/partition.h"

namespace cfs::metanode {

Status Partition::ValidateRenameFlags(uint32_t flags) {
  if ((flags & ~(kRenameNoReplace | kRenameExchange)) != 0 || flags == (kRenameNoReplace | kRenameExchange)) {
    return Status::InvalidArgument(fmt::format("rename flags {:#x}", flags));
  }
  return Status::OK();
}

Status Partition::ValidateSourceName(std::string_view name) {
  if (name == "." || name == ".." || name.empty()) return Status::InvalidArgument(fmt::format("cannot rename '{}'", name));
  return Status::OK();
}

uint32_t Partition::StickyOwner(InodeId child) const {
  auto it = inodes_.find(child);
  return it == inodes_.end() ? caller_->uid() : it->second.uid;
}

Status Partition::CheckRenameSource(InodeId dir_id, const Inode& dir, InodeId child) const {
  CFS_RETURN_IF_ERROR(CheckNotDelegated(dir_id));
  return CheckRemove(dir_id, dir, StickyOwner(child), *caller_);
}

Status Partition::CheckRenameTarget(InodeId dp, const Inode& dir, std::string_view name, uint32_t flags,
                                    InodeId child, uint32_t type, bool parent_changes,
                                    const DentryValue* existing) const {
  CFS_RETURN_IF_ERROR(CheckNotDelegated(dp));
  if ((flags & kRenameNoReplace) && existing) return Status::Exists(fmt::format("{}/{} exists", dp, name));
  if (existing) {
    if (existing->is_dir()) CFS_RETURN_IF_ERROR(CheckNotDelegated(existing->child()));
    CFS_RETURN_IF_ERROR(CheckRemove(dp, dir, StickyOwner(existing->child()), *caller_));
    const bool dir_moves = S_ISDIR(type);
    if (dir_moves && !existing->is_dir()) return Status(Code::kNotDirectory, fmt::format("{}/{} is not a directory", dp, name));
    if (!dir_moves && existing->is_dir()) return Status(Code::kIsDirectory, fmt::format("{}/{} is a directory", dp, name));
    if (existing->is_dir()) {
      if (!inodes_.contains(existing->child())) {
        return Status::NotSupported(fmt::format("rename over directory {}/{} of another partition", dp, name));
      }
      if (!DirEmpty(existing->child())) return Status::NotEmpty(fmt::format("directory {}/{} is not empty", dp, name));
    }
  } else {
    CFS_RETURN_IF_ERROR(CheckAccess(dp, dir, *caller_, kMayWrite | kMayExec));
  }
  if (S_ISDIR(type) && parent_changes) CFS_RETURN_IF_ERROR(CheckDirMove(child, dp));
  return Status::OK();
}

Status Partition::CheckDirMove(InodeId dir, InodeId to) const {
  auto it = inodes_.find(dir);
  if (it != inodes_.end()) CFS_RETURN_IF_ERROR(CheckAccess(dir, it->second, *caller_, kMayWrite));
  InodeId at = to;
  for (int depth = 0; depth < 4096; ++depth) {
    if (at == dir) {
      return Status::InvalidArgument(fmt::format("cannot move directory {} into its own subtree ({})", dir, to));
    }
    auto up = inodes_.find(at);
    if (up == inodes_.end() || at == kRootInode) break;
    const InodeId next = up->second.parent();
    if (next == InodeId() || next == at) break;
    at = next;
  }
  return Status::OK();
}

bool Partition::TouchMoved(InodeId child, InodeId new_parent) {
  auto it = inodes_.find(child);
  if (it == inodes_.end()) return false;
  it->second.ctime_ns = now_ns_;
  if (it->second.is_dir()) it->second.Extra().parent = new_parent;
  return true;
}

void Partition::MoveInto(InodeId dp, std::string_view name, InodeId child, uint32_t type, bool parent_changes,
                         proto::MetaResponse* out) {
  Inode& d = inodes_.find(dp)->second;
  auto di = dentries_.find(DentryRef{dp, name});
  const bool replaces = di != dentries_.end();
  const InodeId old = replaces ? di->second.child() : InodeId();
  const bool old_is_dir = replaces && di->second.is_dir();
  if (replaces) EraseDentry(di, d);
  InsertDentry(dp, d, name, child, type);
  if (!TouchMoved(child, dp) && S_ISDIR(type) && parent_changes) out->set_reparent_inode(child.value());
  if (!replaces) return;
  auto it = inodes_.find(old);
  if (it != inodes_.end()) {
    DropLinks(old, it->second, old_is_dir ? 2 : 1);  // may free it: the last tree change
  } else {
    out->set_unlink_inode(old.value());
  }
}

Status Partition::DoRename(const proto::RenameOp& op, proto::MetaResponse* out) {
  const InodeId sp(op.src_parent());
  const InodeId dp(op.dst_parent());
  const std::string& sname = op.src_name();
  const std::string& dname = op.dst_name();
  CFS_RETURN_IF_ERROR(ValidateRenameFlags(op.flags()));
  const bool exchange = op.flags() & kRenameExchange;
  CFS_RETURN_IF_ERROR(ValidateSourceName(sname));
  CFS_RETURN_IF_ERROR(ValidateName(dname));
  if (!Owns(sp) || !Owns(dp)) {
    return Status::InvalidArgument(fmt::format("rename {}/{} -> {}/{}: a parent is in another partition", sp, sname, dp, dname));
  }
  CFS_ASSIGN_OR_RETURN(Inode * sdir, FindDir(sp));
  CFS_ASSIGN_OR_RETURN(Inode * ddir, FindDir(dp));
  auto si = dentries_.find(DentryRef{sp, sname});
  if (si == dentries_.end()) return Status::NotFound(fmt::format("{}/{} not found", sp, sname));
  const InodeId src = si->second.child();
  const uint32_t stype = si->second.type();
  auto di = dentries_.find(DentryRef{dp, dname});
  const bool dst_exists = di != dentries_.end();
  const InodeId dst = dst_exists ? di->second.child() : InodeId();
  const uint32_t dtype = dst_exists ? di->second.type() : 0;
  // Entries a cross-partition rename holds stay as they are until it ends.
  CFS_RETURN_IF_ERROR(CheckNotLocked(sp, sname));
  CFS_RETURN_IF_ERROR(CheckNotLocked(dp, dname));

  if (dst_exists && dst == src) return Status::OK();  // the same file under both names
  if (exchange && !dst_exists) return Status::NotFound(fmt::format("{}/{} not found", dp, dname));
  CFS_RETURN_IF_ERROR(CheckRenameSource(sp, *sdir, src));

  if (!exchange) {
    CFS_RETURN_IF_ERROR(
        CheckRenameTarget(dp, *ddir, dname, op.flags(), src, stype, sp != dp, dst_exists ? &di->second : nullptr));
    // Checks done: change the trees. Iterators into dentries_ die with each
    // change, so entries are found again by key (the names are the op's).
    EraseDentry(dentries_.find(DentryRef{sp, sname}), *sdir);
    MoveInto(dp, dname, src, stype, sp != dp, out);
    return Status::OK();
  }

  CFS_RETURN_IF_ERROR(CheckNotDelegated(dp));
  CFS_RETURN_IF_ERROR(CheckRemove(dp, *ddir, StickyOwner(dst), *caller_));
  if (sp != dp) {
    if (S_ISDIR(stype)) CFS_RETURN_IF_ERROR(CheckDirMove(src, dp));
    if (S_ISDIR(dtype)) CFS_RETURN_IF_ERROR(CheckDirMove(dst, sp));
  }
  auto set_child = [&](InodeId parent, const std::string& name, InodeId child, uint32_t type) {
    dentries_.find(DentryRef{parent, name})->second = DentryValue(child, type);
  };
  auto moved = [&](InodeId id, InodeId new_parent, bool is_dir) {
    if (!TouchMoved(id, new_parent) && is_dir && sp != dp) out->set_reparent_inode(id.value());
  };
  set_child(sp, sname, dst, dtype);
  set_child(dp, dname, src, stype);
  if (sp != dp && S_ISDIR(stype) != S_ISDIR(dtype)) {
    // The directory among the two changes parent: link counts follow it.
    Inode& gains = S_ISDIR(stype) ? *ddir : *sdir;
    Inode& loses = S_ISDIR(stype) ? *sdir : *ddir;
    ++gains.nlink;
    --loses.nlink;
  }
  sdir->mtime_ns = sdir->ctime_ns = ddir->mtime_ns = ddir->ctime_ns = now_ns_;
  moved(src, dp, S_ISDIR(stype));
  moved(dst, sp, S_ISDIR(dtype));
  return Status::OK();
}

}  // namespace cfs::metanode
