#include "metanode/file_lock.h"

#include <algorithm>

#include <fmt/format.h>

namespace cfs::metanode {
namespace {

bool SameOwner(const proto::FileLock& a, const proto::FileLock& b) {
  return a.client_id() == b.client_id() && a.owner() == b.owner() && a.flock() == b.flock();
}

bool Overlap(const proto::FileLock& a, const proto::FileLock& b) { return a.start() <= b.end() && b.start() <= a.end(); }

// a and b are adjacent or overlap (so two of one type merge into one).
bool Touch(const proto::FileLock& a, const proto::FileLock& b) {
  return Overlap(a, b) || (a.end() != kLockToEnd && a.end() + 1 == b.start()) ||
         (b.end() != kLockToEnd && b.end() + 1 == a.start());
}

}  // namespace

Status ValidateLock(proto::FileLock* lock) {
  if (!proto::LockType_IsValid(lock->type())) {
    return Status::InvalidArgument(fmt::format("lock type {} is not known", static_cast<int>(lock->type())));
  }
  if (lock->flock()) {
    lock->set_start(0);
    lock->set_end(kLockToEnd);
  }
  if (lock->start() > lock->end()) {
    return Status::InvalidArgument(fmt::format("lock range {}-{} ends before it starts", lock->start(), lock->end()));
  }
  return Status::OK();
}

const proto::FileLock* FindConflict(const LockList& held, const proto::FileLock& want) {
  if (want.type() == proto::FILE_UNLOCK) return nullptr;
  for (const proto::FileLock& h : held) {
    if (h.flock() != want.flock() || SameOwner(h, want) || !Overlap(h, want)) continue;
    if (h.type() == proto::FILE_LOCK_WRITE || want.type() == proto::FILE_LOCK_WRITE) return &h;
  }
  return nullptr;
}

void ApplyLock(LockList* held, const proto::FileLock& want) {
  proto::FileLock add = want;
  LockList out;
  out.reserve(held->size() + 2);
  for (proto::FileLock& h : *held) {
    if (!SameOwner(h, want)) {
      out.push_back(std::move(h));
      continue;
    }
    if (want.flock()) continue;  // replaced (or dropped)
    if (want.type() != proto::FILE_UNLOCK && h.type() == want.type() && Touch(h, add)) {
      // Same type, touching: merge into the new lock.
      add.set_start(std::min(add.start(), h.start()));
      add.set_end(std::max(add.end(), h.end()));
      continue;
    }
    if (!Overlap(h, want)) {
      out.push_back(std::move(h));
      continue;
    }
    // Keep the parts outside [want.start, want.end].
    if (h.start() < want.start()) {
      proto::FileLock left = h;
      left.set_end(want.start() - 1);
      out.push_back(std::move(left));
    }
    if (h.end() > want.end()) {
      proto::FileLock right = h;
      right.set_start(want.end() + 1);
      out.push_back(std::move(right));
    }
  }
  if (want.type() != proto::FILE_UNLOCK) out.push_back(std::move(add));
  *held = std::move(out);
}

void DropClientLocks(LockList* held, uint64_t client_id) {
  std::erase_if(*held, [&](const proto::FileLock& l) { return l.client_id() == client_id; });
}

}  // namespace cfs::metanode
