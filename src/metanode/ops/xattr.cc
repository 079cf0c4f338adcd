// Extended attributes. Names are 1..255 bytes; values at most 64 KiB, and at
// most 256 KiB an inode. "trusted." names are root's; "user." names need
// write permission and a regular file or directory (as Linux); other
// namespaces need the owner or root.
#include <algorithm>

#include <fmt/format.h>

#include "metanode/access.h"
#include "metanode/partition.h"

namespace cfs::metanode {
namespace {

constexpr uint32_t kXattrCreate = 1;
constexpr uint32_t kXattrReplace = 2;

Status CheckXattrWrite(InodeId id, const Inode& n, std::string_view name, const proto::Caller& c) {
  if (name.empty() || name.size() > kMaxXattrNameBytes) {
    return Status(name.empty() ? Code::kInvalidArgument : Code::kNameTooLong,
                  fmt::format("xattr name of {} bytes", name.size()));
  }
  if (name.starts_with("trusted.")) {
    if (!IsRoot(c)) return Status(Code::kNotPermitted, fmt::format("inode {}: trusted.* is root's", id));
    return Status::OK();
  }
  if (name.starts_with("user.")) {
    if (!n.is_regular() && !n.is_dir()) {
      return Status(Code::kNotPermitted, fmt::format("inode {}: user.* only on files and directories", id));
    }
    return CheckAccess(id, n, c, kMayWrite);
  }
  if (!IsOwnerOrRoot(n, c)) return Status(Code::kNotPermitted, fmt::format("inode {}: uid {} may not set {}", id, c.uid(), name));
  return Status::OK();
}

}  // namespace

Status Partition::DoSetXattr(const proto::SetXattrOp& op) {
  const InodeId id(op.inode());
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  CFS_RETURN_IF_ERROR(CheckXattrWrite(id, *n, op.name(), *caller_));
  if ((op.flags() & ~(kXattrCreate | kXattrReplace)) != 0) {
    return Status::InvalidArgument(fmt::format("xattr flags {:#x}", op.flags()));
  }
  if (op.value().size() > kMaxXattrValueBytes) {
    return Status::TooLarge(fmt::format("xattr value of {} bytes (at most {})", op.value().size(), kMaxXattrValueBytes));
  }
  std::vector<Xattr>& xs = n->Extra().xattrs;
  auto it = std::lower_bound(xs.begin(), xs.end(), op.name(), [](const Xattr& x, const std::string& k) { return x.name < k; });
  const bool exists = it != xs.end() && it->name == op.name();
  if (exists && (op.flags() & kXattrCreate)) return Status::Exists(fmt::format("inode {}: xattr {} exists", id, op.name()));
  if (!exists && (op.flags() & kXattrReplace)) {
    return Status::NoAttribute(fmt::format("inode {}: no attribute {}", id, op.name()));
  }
  size_t total = op.name().size() + op.value().size();
  for (const Xattr& x : xs) {
    if (x.name != op.name()) total += x.name.size() + x.value.size();
  }
  if (total > kMaxXattrBytesPerInode) {
    return Status::NoSpace(fmt::format("inode {}: xattrs would take {} bytes (at most {})", id, total, kMaxXattrBytesPerInode));
  }
  if (exists) {
    it->value = op.value();
  } else {
    xs.insert(it, Xattr{op.name(), op.value()});
  }
  n->ctime_ns = now_ns_;
  return Status::OK();
}

Status Partition::DoRemoveXattr(const proto::RemoveXattrOp& op) {
  const InodeId id(op.inode());
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  CFS_RETURN_IF_ERROR(CheckXattrWrite(id, *n, op.name(), *caller_));
  if (n->extra) {
    std::vector<Xattr>& xs = n->extra->xattrs;
    auto it = std::find_if(xs.begin(), xs.end(), [&](const Xattr& x) { return x.name == op.name(); });
    if (it != xs.end()) {
      xs.erase(it);
      n->ctime_ns = now_ns_;
      return Status::OK();
    }
  }
  return Status::NoAttribute(fmt::format("inode {}: no attribute {}", id, op.name()));
}

}  // namespace cfs::metanode
