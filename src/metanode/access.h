// POSIX permission checks for metadata operations, as the kernel makes them
// (inode_permission, may_delete): owner, group and other bits, root
// (uid 0) bypassing read and write, and needing one execute bit to execute
// a non-directory.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "common/ids.h"
#include "common/status.h"
#include "metanode/inode.h"
#include "proto/access.h"
#include "proto/metanode.pb.h"

namespace cfs::metanode {

using proto::InGroup;
using proto::IsRoot;
using proto::kMayExec;
using proto::kMayRead;
using proto::kMayWrite;

bool IsOwnerOrRoot(const Inode& inode, const proto::Caller& caller);

// Every bit of `mask` (kMay*) is allowed. Errors: PermissionDenied naming the
// inode and the access.
Status CheckAccess(InodeId id, const Inode& inode, const proto::Caller& caller, int mask);

// Removing or renaming an entry of `dir` whose child is owned by
// `child_uid`: needs write and search permission on the directory, and in a
// sticky directory the caller must be root or own the directory or the
// child. Errors: PermissionDenied, NotPermitted (the sticky rule, EPERM as
// Linux answers).
Status CheckRemove(InodeId dir_id, const Inode& dir, uint32_t child_uid, const proto::Caller& caller);

}  // namespace cfs::metanode
