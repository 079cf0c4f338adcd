// AppendExtents: newly written data enters the file's visible extents
// (overlaying what it covers), or a client's merge of a fragmented file
// replaces them (rewrite); needles left without a visible extent go to the
// deletion queue.
#include <fmt/format.h>

#include "metanode/extents.h"
#include "metanode/partition.h"

namespace cfs::metanode {

// A file of at most this many visible extents has them in the answer: its
// writer keeps them (a file it created in a directory it holds opens for
// reading without asking).
constexpr size_t kExtentsInAnswer = 16;

Status Partition::DoAppendExtents(const proto::AppendExtentsOp& op, proto::MetaResponse* out) {
  const InodeId id(op.inode());
  CFS_ASSIGN_OR_RETURN(Inode * n, FindInode(id));
  if (n->is_dir()) return Status(Code::kIsDirectory, fmt::format("inode {} is a directory", id));
  if (!n->is_regular()) return Status::InvalidArgument(fmt::format("inode {} is not a regular file", id));
  if (op.size() > kMaxFileSize) return Status::TooLarge(fmt::format("size {} past the largest file size", op.size()));
  std::vector<Extent> incoming;
  incoming.reserve(static_cast<size_t>(op.extents_size()));
  uint64_t size = std::max(n->size, op.size());
  for (const proto::Extent& pe : op.extents()) {
    Extent e = ExtentFromProto(pe);
    CFS_RETURN_IF_ERROR(ValidateExtent(e).WithContext(fmt::format("inode {}", id)));
    size = std::max(size, e.end());
    incoming.push_back(e);
  }
  std::vector<Extent>& extents = n->Extra().extents;
  if (op.rewrite()) {
    // The same bytes, merged: only over the list the client read, inside
    // the file, and the file's size and times stay.
    if (DigestOf(extents) != op.rewrite_digest()) {
      return Status(Code::kAborted, fmt::format("inode {}: changed since its rewrite was read", id));
    }
    if (size != n->size) {
      return Status::InvalidArgument(fmt::format("inode {}: a rewrite past the end ({} > {})", id, size, n->size));
    }
  } else if (extents.size() + incoming.size() > kMaxExtentsPerInode) {
    return Status::TooLarge(fmt::format("inode {}: {} extents (at most {}): rewrite the file to merge them", id,
                                        extents.size() + incoming.size(), kMaxExtentsPerInode));
  }
  std::vector<Extent> dropped;
  OverlayExtents(&extents, incoming, &dropped);
  QueueDeletions(dropped);
  if (!op.rewrite()) {
    SetSize(*n, size);
    n->mtime_ns = n->ctime_ns = now_ns_;
  }
  InodeToAttr(id, *n, out->mutable_attr());
  out->set_extent_count(extents.size());
  if (extents.size() <= kExtentsInAnswer) {
    for (const Extent& e : extents) ExtentToProto(e, out->add_extents());
  }
  return Status::OK();
}

}  // namespace cfs::metanode
