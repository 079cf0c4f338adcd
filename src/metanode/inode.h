// The in-memory inode of a meta partition, and its data extents.
//
// Memory is what decides how many files a metanode holds (DESIGN.md
// section 9), so the common case is small: an Inode is 56 bytes, its id is
// the tree's key, and whatever most files lack (extents, a symlink target,
// xattrs, a device number, a directory's parent) lives in InodeExtra,
// allocated only when needed.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/ids.h"
#include "common/status.h"
#include "proto/metanode.pb.h"

namespace cfs::metanode {

// A piece of file data: `length` bytes at `file_offset` are the bytes at
// `needle_offset` of needle (block_group, needle_id, cookie), whose whole
// data is `needle_size` bytes with checksum `crc32c`.
struct Extent {
  uint64_t file_offset = 0;
  uint64_t needle_id = 0;
  uint32_t length = 0;
  uint32_t block_group = 0;
  uint32_t cookie = 0;
  uint32_t needle_offset = 0;
  uint32_t needle_size = 0;
  uint32_t crc32c = 0;

  uint64_t end() const { return file_offset + length; }
  bool SameNeedle(const Extent& o) const { return block_group == o.block_group && needle_id == o.needle_id; }
  friend bool operator==(const Extent&, const Extent&) = default;
};

Extent ExtentFromProto(const proto::Extent& e);
void ExtentToProto(const Extent& e, proto::Extent* out);

struct Xattr {
  std::string name;
  std::string value;
};

struct InodeExtra {
  std::vector<Extent> extents;  // visible: sorted by file_offset, disjoint
  std::string symlink_target;
  std::vector<Xattr> xattrs;  // sorted by name
  uint64_t rdev = 0;
  InodeId parent;  // directories: the directory holding their dentry
};

struct Inode {
  uint32_t mode = 0;  // st_mode
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  std::unique_ptr<InodeExtra> extra;

  bool is_dir() const { return S_ISDIR(mode); }
  bool is_regular() const { return S_ISREG(mode); }
  bool is_symlink() const { return S_ISLNK(mode); }
  // The extra part, allocated on first use.
  InodeExtra& Extra() {
    if (!extra) extra = std::make_unique<InodeExtra>();
    return *extra;
  }
  const std::vector<Extent>* extents() const { return extra ? &extra->extents : nullptr; }
  InodeId parent() const { return extra ? extra->parent : InodeId(); }
  // Bytes of data stored (sum of extent lengths).
  uint64_t StoredBytes() const;
};

// The most links an inode may have (EMLINK past it).
inline constexpr uint32_t kMaxLinks = 65000;

void InodeToAttr(InodeId id, const Inode& inode, proto::InodeAttr* out);
void InodeToRecord(InodeId id, const Inode& inode, proto::InodeRecord* out);
// Errors: Corruption naming what is wrong.
Result<std::pair<InodeId, Inode>> InodeFromRecord(const proto::InodeRecord& record);

}  // namespace cfs::metanode
