// File locks of one inode, held cluster-wide by its partition: flock locks
// (the whole file) and POSIX record locks (byte ranges), with Linux's rules
// for a local file (fs/locks.c), where an owner is the pair (client id,
// the kernel's lock owner):
// - the two kinds never conflict with each other;
// - two locks of different owners conflict when their ranges overlap and
//   one of them is a write lock; an owner never conflicts with itself;
// - a POSIX lock replaces the owner's POSIX locks in its range (splitting
//   those that stick out, merging with touching ones of the same type), an
//   unlock cuts them; an flock lock replaces the owner's flock lock.
// Locks last while their client holds a lease of the inode (partition.h).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "common/status.h"
#include "proto/metanode.pb.h"

namespace cfs::metanode {

inline constexpr uint64_t kLockToEnd = std::numeric_limits<uint64_t>::max();

using LockList = std::vector<proto::FileLock>;

// Checks a lock from a client: a known type, start <= end. An flock lock
// is made to cover the whole file. Errors: InvalidArgument.
Status ValidateLock(proto::FileLock* lock);

// The first lock of `held` that conflicts with `want`; null when none does.
const proto::FileLock* FindConflict(const LockList& held, const proto::FileLock& want);

// Applies `want` (take or, type FILE_UNLOCK, drop) for its owner. The caller
// has checked FindConflict first.
void ApplyLock(LockList* held, const proto::FileLock& want);

// Drops every lock of `client_id` (its lease ended).
void DropClientLocks(LockList* held, uint64_t client_id);

}  // namespace cfs::metanode
