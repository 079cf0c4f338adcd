// Rename with both parents in this partition: one entry, so it is atomic.
// POSIX rename(2) and Linux renameat2 rules: a directory replaces only an
// empty directory, a non-directory only a non-directory, a directory never
// moves into its own subtree, renaming onto another link of the same inode
// does nothing; RENAME_NOREPLACE refuses an existing target and
// RENAME_EXCHANGE swaps two existing entries.
#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

constexpr uint32_t kRenameNoReplace = 1;
constexpr uint32_t kRenameExchange = 2;

}  // namespace

Status Partition::DoRename(const proto::RenameOp& op, proto::MetaResponse* out) {
  const InodeId sp(op.src_parent());
  const InodeId dp(op.dst_parent());
  const std::string& sname = op.src_name();
  const std::string& dname = op.dst_name();
  if ((op.flags() & ~(kRenameNoReplace | kRenameExchange)) != 0 ||
      op.flags() == (kRenameNoReplace | kRenameExchange)) {
    return Status::InvalidArgument(fmt::format("rename flags {:#x}", op.flags()));
  }
  const bool exchange = op.flags() & kRenameExchange;
  if (sname == "." || sname == ".." || sname.empty()) return Status::InvalidArgument(fmt::format("cannot rename '{}'", sname));
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
  const bool sdir_moves = S_ISDIR(stype);
  auto di = dentries_.find(DentryRef{dp, dname});
  const bool dst_exists = di != dentries_.end();
  const InodeId dst = dst_exists ? di->second.child() : InodeId();
  const uint32_t dtype = dst_exists ? di->second.type() : 0;

  if (dst_exists && dst == src) return Status::OK();  // the same file under both names
  if (exchange && !dst_exists) return Status::NotFound(fmt::format("{}/{} not found", dp, dname));
  if ((op.flags() & kRenameNoReplace) && dst_exists) return Status::Exists(fmt::format("{}/{} exists", dp, dname));

  // The owner of an entry's inode, for the sticky-bit rule. An inode of
  // another partition is not known here: the rule is left to the kernel's
  // check on the client (a gap until cross-partition rename carries it).
  auto owner = [&](InodeId id) -> uint32_t {
    auto it = inodes_.find(id);
    return it == inodes_.end() ? caller_->uid() : it->second.uid;
  };
  CFS_RETURN_IF_ERROR(CheckRemove(sp, *sdir, owner(src), *caller_));
  if (dst_exists) {
    CFS_RETURN_IF_ERROR(CheckRemove(dp, *ddir, owner(dst), *caller_));
  } else {
    CFS_RETURN_IF_ERROR(CheckAccess(dp, *ddir, *caller_, kMayWrite | kMayExec));
  }
  // A directory moving to another parent rewrites its "..": it must be
  // writable by the caller (as Linux asks).
  auto check_moving_dir = [&](InodeId id) -> Status {
    auto it = inodes_.find(id);
    if (it != inodes_.end()) return CheckAccess(id, it->second, *caller_, kMayWrite);
    return Status::OK();
  };
  if (sp != dp) {
    if (sdir_moves) CFS_RETURN_IF_ERROR(check_moving_dir(src));
    if (exchange && S_ISDIR(dtype)) CFS_RETURN_IF_ERROR(check_moving_dir(dst));
  }

  if (!exchange && dst_exists) {
    if (sdir_moves && !S_ISDIR(dtype)) return Status(Code::kNotDirectory, fmt::format("{}/{} is not a directory", dp, dname));
    if (!sdir_moves && S_ISDIR(dtype)) return Status(Code::kIsDirectory, fmt::format("{}/{} is a directory", dp, dname));
    if (S_ISDIR(dtype)) {
      if (!inodes_.contains(dst)) {
        return Status::NotSupported(
            fmt::format("rename over directory {}/{} of another partition", dp, dname));
      }
      if (!DirEmpty(dst)) return Status::NotEmpty(fmt::format("directory {}/{} is not empty", dp, dname));
    }
  }
  // A directory may not move below itself: walk up from the new parent as
  // far as this partition holds the chain (the client checks the rest).
  auto moves_into_itself = [&](InodeId dir, InodeId new_parent) {
    InodeId at = new_parent;
    for (int depth = 0; depth < 4096; ++depth) {
      if (at == dir) return true;
      auto it = inodes_.find(at);
      if (it == inodes_.end() || at == kRootInode) return false;
      InodeId up = it->second.parent();
      if (up == InodeId() || up == at) return false;
      at = up;
    }
    return false;
  };
  if (sdir_moves && sp != dp && moves_into_itself(src, dp)) {
    return Status::InvalidArgument(fmt::format("cannot move directory {} into its own subtree ({})", src, dp));
  }
  if (exchange && S_ISDIR(dtype) && sp != dp && moves_into_itself(dst, sp)) {
    return Status::InvalidArgument(fmt::format("cannot move directory {} into its own subtree ({})", dst, sp));
  }

  // Checks done: change the trees. Iterators into dentries_ die with each
  // change, so entries are found again by key (the names are the op's).
  auto set_child = [&](InodeId parent, const std::string& name, InodeId child, uint32_t type) {
    dentries_.find(DentryRef{parent, name})->second = DentryValue(child, type);
  };
  auto moved = [&](InodeId id, InodeId new_parent, bool is_dir) {
    auto it = inodes_.find(id);
    if (it == inodes_.end()) {
      if (is_dir && sp != dp) out->set_reparent_inode(id.value());
      return;
    }
    it->second.ctime_ns = now_ns_;
    if (is_dir) it->second.Extra().parent = new_parent;
  };
  Inode& s = inodes_.find(sp)->second;
  Inode& d = inodes_.find(dp)->second;
  if (exchange) {
    set_child(sp, sname, dst, dtype);
    set_child(dp, dname, src, stype);
    if (sp != dp && S_ISDIR(stype) != S_ISDIR(dtype)) {
      // The directory among the two changes parent: link counts follow it.
      Inode& gains = S_ISDIR(stype) ? d : s;
      Inode& loses = S_ISDIR(stype) ? s : d;
      ++gains.nlink;
      --loses.nlink;
    }
    s.mtime_ns = s.ctime_ns = d.mtime_ns = d.ctime_ns = now_ns_;
    moved(src, dp, S_ISDIR(stype));
    moved(dst, sp, S_ISDIR(dtype));
    return Status::OK();
  }
  EraseDentry(dentries_.find(DentryRef{sp, sname}), s);
  if (dst_exists) EraseDentry(dentries_.find(DentryRef{dp, dname}), d);
  InsertDentry(dp, d, dname, src, stype);
  moved(src, dp, sdir_moves);
  if (dst_exists) {
    auto it = inodes_.find(dst);
    if (it != inodes_.end()) {
      DropLinks(dst, it->second, S_ISDIR(dtype) ? 2 : 1);  // may free it: the last tree change
    } else {
      out->set_unlink_inode(dst.value());
    }
  }
  return Status::OK();
}

}  // namespace cfs::metanode
