// SetAttr (chmod, chown, utimens, truncate) and Truncate, with the POSIX
// rules on who may change what: only root gives a file away; the owner may
// change its group to one of its groups; mode and explicit times
// need the owner or root; "now" times also allow a writer. A chown clears
// set-user-ID (and set-group-ID when group-executable) on non-directories;
// a chmod by someone outside the file's group clears set-group-ID. Every
// change sets ctime; a size change sets mtime.
#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/extents.h"
#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

constexpr uint32_t kMode = proto::SETATTR_MODE;
constexpr uint32_t kUid = proto::SETATTR_UID;
constexpr uint32_t kGid = proto::SETATTR_GID;
constexpr uint32_t kSize = proto::SETATTR_SIZE;
constexpr uint32_t kAtime = proto::SETATTR_ATIME;
constexpr uint32_t kMtime = proto::SETATTR_MTIME;
constexpr uint32_t kAtimeNow = proto::SETATTR_ATIME_NOW;
constexpr uint32_t kMtimeNow = proto::SETATTR_MTIME_NOW;
constexpr uint32_t kCtime = proto::SETATTR_CTIME;
constexpr uint32_t kParent = proto::SETATTR_PARENT;
constexpr uint32_t kKnown = kMode | kUid | kGid | kSize | kAtime | kMtime | kAtimeNow | kMtimeNow | kCtime | kParent;

}  // namespace

Status Partition::DoSetAttr(const proto::SetAttrOp& op, proto::MetaResponse* out) {
  const InodeId id(op.inode());
  const uint32_t v = op.valid();
  if ((v & ~kKnown) != 0) return Status::InvalidArgument(fmt::format("setattr fields {:#x}", v));
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  // A delegated directory's holder checks permissions on its attributes.
  if (n->is_dir()) CFS_RETURN_IF_ERROR(CheckNotDelegated(id));
  const proto::Caller& c = *caller_;
  const bool owner_or_root = IsOwnerOrRoot(*n, c);

  // Checks first: a refused setattr changes nothing.
  // Anyone may drop the set-user-ID and set-group-ID bits and nothing else:
  // the kernel does so for a writer who is not the owner (Linux's
  // file_remove_privs, sent by FUSE as a setattr of the writer).
  const uint32_t current = n->mode & 07777u;
  const bool drops_privileges_only =
      op.mode() == (current & ~uint32_t{S_ISUID | S_ISGID}) || op.mode() == (current & ~uint32_t{S_ISUID});
  if ((v & kMode) && !owner_or_root && !(drops_privileges_only && op.mode() != current)) {
    return Status(Code::kNotPermitted, fmt::format("inode {}: uid {} may not chmod", id, c.uid()));
  }
  if ((v & kMode) && (op.mode() & ~07777u) != 0) {
    return Status::InvalidArgument(fmt::format("mode {:o} has bits beyond permissions", op.mode()));
  }
  // As Linux's chown_ok/chgrp_ok: the owner may "change" the owner to
  // itself and the group to its own or the current one; anyone else
  // nothing, even to the same value.
  if ((v & kUid) && !IsRoot(c) && !(c.uid() == n->uid && op.uid() == n->uid)) {
    return Status(Code::kNotPermitted, fmt::format("inode {}: only root may change the owner", id));
  }
  if ((v & kGid) && !IsRoot(c) && !(c.uid() == n->uid && (op.gid() == n->gid || InGroup(c, op.gid())))) {
    return Status(Code::kNotPermitted, fmt::format("inode {}: uid {} may not change the group to {}", id, c.uid(), op.gid()));
  }
  if ((v & kSize)) {
    if (n->is_dir()) return Status(Code::kIsDirectory, fmt::format("inode {} is a directory", id));
    if (!n->is_regular()) return Status::InvalidArgument(fmt::format("inode {} is not a regular file", id));
    if (op.size() > kMaxFileSize) {
      return Status::TooLarge(fmt::format("size {} past the largest file size {}", op.size(), kMaxFileSize));
    }
    CFS_RETURN_IF_ERROR(CheckAccess(id, *n, c, kMayWrite));
  }
  if ((v & (kAtime | kMtime | kCtime)) && !owner_or_root) {
    return Status(Code::kNotPermitted, fmt::format("inode {}: uid {} may not set its times", id, c.uid()));
  }
  if ((v & (kAtimeNow | kMtimeNow)) && !owner_or_root) CFS_RETURN_IF_ERROR(CheckAccess(id, *n, c, kMayWrite));
  if ((v & kParent) && !n->is_dir()) return Status::InvalidArgument(fmt::format("inode {} is not a directory", id));

  if (v & kMode) {
    uint32_t mode = op.mode();
    if (!IsRoot(c) && !InGroup(c, n->gid)) mode &= ~static_cast<uint32_t>(S_ISGID);
    n->mode = (n->mode & S_IFMT) | mode;
  }
  const bool chown = ((v & kUid) && op.uid() != n->uid) || ((v & kGid) && op.gid() != n->gid);
  if (v & kUid) n->uid = op.uid();
  if (v & kGid) n->gid = op.gid();
  if (chown && !n->is_dir() && !(v & kMode)) {
    n->mode &= ~static_cast<uint32_t>(S_ISUID);
    if (n->mode & S_IXGRP) n->mode &= ~static_cast<uint32_t>(S_ISGID);
  }
  if ((v & kSize) && op.size() != n->size) {
    if (op.size() < n->size && n->extra) {
      std::vector<Extent> dropped;
      TruncateExtents(&n->extra->extents, op.size(), &dropped);
      QueueDeletions(dropped);
    }
    SetSize(*n, op.size());
    n->mtime_ns = now_ns_;
  } else if (v & kSize) {
    n->mtime_ns = now_ns_;  // truncate to the same size still marks the file changed
  }
  if (v & kAtimeNow) n->atime_ns = now_ns_;
  if (v & kMtimeNow) n->mtime_ns = now_ns_;
  if (v & kAtime) n->atime_ns = op.atime_ns();
  if (v & kMtime) n->mtime_ns = op.mtime_ns();
  if (v & kParent) n->Extra().parent = InodeId(op.parent());
  n->ctime_ns = (v & kCtime) ? op.ctime_ns() : now_ns_;
  InodeToAttr(id, *n, out->mutable_attr());
  return Status::OK();
}

Status Partition::DoTruncate(const proto::TruncateOp& op, proto::MetaResponse* out) {
  proto::SetAttrOp s;
  s.set_inode(op.inode());
  s.set_valid(proto::SETATTR_SIZE);
  s.set_size(op.size());
  return DoSetAttr(s, out);
}

}  // namespace cfs::metanode
