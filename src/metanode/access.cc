#include "metanode/access.h"

#include <fmt/format.h>

namespace cfs::metanode {

bool IsOwnerOrRoot(const Inode& inode, const proto::Caller& caller) {
  return IsRoot(caller) || caller.uid() == inode.uid;
}

Status CheckAccess(InodeId id, const Inode& inode, const proto::Caller& caller, int mask) {
  return proto::CheckModeAccess(id.value(), inode.mode, inode.uid, inode.gid, caller, mask);
}

Status CheckRemove(InodeId dir_id, const Inode& dir, uint32_t child_uid, const proto::Caller& caller) {
  CFS_RETURN_IF_ERROR(CheckAccess(dir_id, dir, caller, kMayWrite | kMayExec));
  if ((dir.mode & S_ISVTX) && !IsRoot(caller) && caller.uid() != dir.uid && caller.uid() != child_uid) {
    return Status(Code::kNotPermitted,
                  fmt::format("directory {} is sticky: uid {} owns neither it nor the entry", dir_id, caller.uid()));
  }
  return Status::OK();
}

}  // namespace cfs::metanode
