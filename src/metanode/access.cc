#include "metanode/access.h"

#include <fmt/format.h>

namespace cfs::metanode {

bool IsRoot(const proto::Caller& caller) { return caller.uid() == 0; }

bool InGroup(const proto::Caller& caller, uint32_t gid) {
  if (caller.gid() == gid) return true;
  for (uint32_t g : caller.groups()) {
    if (g == gid) return true;
  }
  return false;
}

bool IsOwnerOrRoot(const Inode& inode, const proto::Caller& caller) {
  return IsRoot(caller) || caller.uid() == inode.uid;
}

Status CheckAccess(InodeId id, const Inode& inode, const proto::Caller& caller, int mask) {
  if (IsRoot(caller)) {
    // Root reads and writes anything; it executes a file only if someone may.
    if ((mask & kMayExec) && !inode.is_dir() && (inode.mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
      return Status(Code::kPermissionDenied, fmt::format("inode {}: no execute bit", id));
    }
    return Status::OK();
  }
  uint32_t bits;
  if (caller.uid() == inode.uid) {
    bits = (inode.mode >> 6) & 7;
  } else if (InGroup(caller, inode.gid)) {
    bits = (inode.mode >> 3) & 7;
  } else {
    bits = inode.mode & 7;
  }
  if ((static_cast<uint32_t>(mask) & ~bits) != 0) {
    return Status(Code::kPermissionDenied,
                  fmt::format("inode {}: uid {} may not {}{}{} (mode {:o})", id, caller.uid(),
                              (mask & kMayRead) ? "r" : "", (mask & kMayWrite) ? "w" : "",
                              (mask & kMayExec) ? "x" : "", inode.mode & 07777));
  }
  return Status::OK();
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
