#include "metanode/inode.h"

#include <fmt/format.h>

#include "metanode/dentry.h"

namespace cfs::metanode {

Extent ExtentFromProto(const proto::Extent& e) {
  Extent x;
  x.file_offset = e.file_offset();
  x.length = e.length();
  x.block_group = e.block_group();
  x.needle_id = e.needle_id();
  x.cookie = e.cookie();
  x.needle_offset = e.needle_offset();
  x.needle_size = e.needle_size();
  x.crc32c = e.crc32c();
  return x;
}

void ExtentToProto(const Extent& e, proto::Extent* out) {
  out->set_file_offset(e.file_offset);
  out->set_length(e.length);
  out->set_block_group(e.block_group);
  out->set_needle_id(e.needle_id);
  out->set_cookie(e.cookie);
  out->set_needle_offset(e.needle_offset);
  out->set_needle_size(e.needle_size);
  out->set_crc32c(e.crc32c);
}

uint64_t Inode::StoredBytes() const {
  uint64_t n = 0;
  if (extra) {
    for (const Extent& e : extra->extents) n += e.length;
  }
  return n;
}

void InodeToAttr(InodeId id, const Inode& inode, proto::InodeAttr* out) {
  out->set_inode(id.value());
  out->set_mode(inode.mode);
  out->set_uid(inode.uid);
  out->set_gid(inode.gid);
  out->set_nlink(inode.nlink);
  out->set_size(inode.size);
  out->set_atime_ns(inode.atime_ns);
  out->set_mtime_ns(inode.mtime_ns);
  out->set_ctime_ns(inode.ctime_ns);
  out->set_rdev(inode.extra ? inode.extra->rdev : 0);
  out->set_blocks((inode.StoredBytes() + 511) / 512);
  out->set_parent(inode.parent().value());
}

void InodeToRecord(InodeId id, const Inode& inode, proto::InodeRecord* out) {
  InodeToAttr(id, inode, out->mutable_attr());
  if (!inode.extra) return;
  const InodeExtra& x = *inode.extra;
  for (const Extent& e : x.extents) ExtentToProto(e, out->add_extents());
  out->set_symlink_target(x.symlink_target);
  for (const Xattr& a : x.xattrs) {
    proto::Xattr* p = out->add_xattrs();
    p->set_name(a.name);
    p->set_value(a.value);
  }
}

Result<std::pair<InodeId, Inode>> InodeFromRecord(const proto::InodeRecord& r) {
  const proto::InodeAttr& a = r.attr();
  if (a.inode() == 0 || a.inode() > DentryValue::kMaxInode) {
    return Status::Corruption(fmt::format("inode record with id {}", a.inode()));
  }
  if ((a.mode() & S_IFMT) == 0) return Status::Corruption(fmt::format("inode {}: no file type in mode {:o}", a.inode(), a.mode()));
  Inode n;
  n.mode = a.mode();
  n.uid = a.uid();
  n.gid = a.gid();
  n.nlink = a.nlink();
  n.size = a.size();
  n.atime_ns = a.atime_ns();
  n.mtime_ns = a.mtime_ns();
  n.ctime_ns = a.ctime_ns();
  const bool needs_extra = r.extents_size() > 0 || !r.symlink_target().empty() || r.xattrs_size() > 0 ||
                           a.rdev() != 0 || a.parent() != 0;
  if (needs_extra) {
    InodeExtra& x = n.Extra();
    x.rdev = a.rdev();
    x.parent = InodeId(a.parent());
    x.symlink_target = r.symlink_target();
    uint64_t end = 0;
    for (const proto::Extent& pe : r.extents()) {
      Extent e = ExtentFromProto(pe);
      if (e.file_offset < end || e.length == 0) {
        return Status::Corruption(fmt::format("inode {}: extents out of order at offset {}", a.inode(), e.file_offset));
      }
      end = e.end();
      x.extents.push_back(e);
    }
    for (const proto::Xattr& px : r.xattrs()) {
      if (!x.xattrs.empty() && x.xattrs.back().name >= px.name()) {
        return Status::Corruption(fmt::format("inode {}: xattrs out of order at {}", a.inode(), px.name()));
      }
      x.xattrs.push_back({px.name(), px.value()});
    }
  }
  return std::make_pair(InodeId(a.inode()), std::move(n));
}

}  // namespace cfs::metanode
