// POSIX permission bits checked against a caller, shared by the metanode
// (metanode/access.h, on its inodes) and the client (answers it makes for
// a delegated directory): owner, group and other bits, root (uid 0)
// bypassing read and write and needing one execute bit to execute a
// non-directory.
//
// Thread-safety: pure functions.
#pragma once

#include <sys/stat.h>

#include <cstdint>

#include <fmt/format.h>

#include "common/status.h"
#include "proto/metanode.pb.h"

namespace cfs::proto {

inline constexpr int kMayExec = 1;
inline constexpr int kMayWrite = 2;
inline constexpr int kMayRead = 4;

inline bool IsRoot(const Caller& caller) { return caller.uid() == 0; }

// The caller's primary or a supplementary group is `gid`.
inline bool InGroup(const Caller& caller, uint32_t gid) {
  if (caller.gid() == gid) return true;
  for (uint32_t g : caller.groups()) {
    if (g == gid) return true;
  }
  return false;
}

// Every bit of `mask` (kMay*) is allowed on inode `id` of `mode`, owned by
// uid:gid. Errors: PermissionDenied naming the inode and the access.
inline Status CheckModeAccess(uint64_t id, uint32_t mode, uint32_t uid, uint32_t gid, const Caller& caller,
                              int mask) {
  if (IsRoot(caller)) {
    // Root reads and writes anything; it executes a file only if someone may.
    if ((mask & kMayExec) && !S_ISDIR(mode) && (mode & (S_IXUSR | S_IXGRP | S_IXOTH)) == 0) {
      return Status(Code::kPermissionDenied, fmt::format("inode {}: no execute bit", id));
    }
    return Status::OK();
  }
  uint32_t bits;
  if (caller.uid() == uid) {
    bits = (mode >> 6) & 7;
  } else if (InGroup(caller, gid)) {
    bits = (mode >> 3) & 7;
  } else {
    bits = mode & 7;
  }
  if ((static_cast<uint32_t>(mask) & ~bits) != 0) {
    return Status(Code::kPermissionDenied,
                  fmt::format("inode {}: uid {} may not {}{}{} (mode {:o})", id, caller.uid(),
                              (mask & kMayRead) ? "r" : "", (mask & kMayWrite) ? "w" : "",
                              (mask & kMayExec) ? "x" : "", mode & 07777));
  }
  return Status::OK();
}

}  // namespace cfs::proto
