#include "fuse/dir_entries.h"

#include <linux/fuse.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

namespace cfs::fuse {

namespace {

// struct fuse_dirent without its name.
struct RecordHead {
  uint64_t ino;
  uint64_t off;
  uint32_t namelen;
  uint32_t type;
};
static_assert(sizeof(RecordHead) == FUSE_NAME_OFFSET &&
              offsetof(struct fuse_dirent, ino) == offsetof(RecordHead, ino) &&
              offsetof(struct fuse_dirent, off) == offsetof(RecordHead, off) &&
              offsetof(struct fuse_dirent, namelen) == offsetof(RecordHead, namelen) &&
              offsetof(struct fuse_dirent, type) == offsetof(RecordHead, type));

static_assert(DirEntries::kSmallestRecord == FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + 1) &&
              DirEntries::kSmallestRecord == FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + 8));

RecordHead HeadAt(const std::string& records, size_t start) {
  RecordHead h;
  std::memcpy(&h, records.data() + start, sizeof(h));
  return h;
}

}  // namespace

DirEntries::DirEntries(uint64_t dir, std::string buffer) : records_(std::move(buffer)) {
  records_.clear();
  starts_.push_back(0);
  Add(dir, S_IFDIR, ".");
  Add(dir, S_IFDIR, "..");
}

void DirEntries::Add(uint64_t inode, uint32_t type, std::string_view name,
                     std::unique_ptr<proto::InodeAttr> attr) {
  const size_t i = size();
  const size_t start = records_.size();
  const size_t length = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + name.size());
  // Grown by doubling; the padding after the name is zeros.
  records_.resize(start + length);
  const RecordHead h{inode, i + 1, static_cast<uint32_t>(name.size()), (type & S_IFMT) >> 12};
  std::memcpy(records_.data() + start, &h, sizeof(h));
  std::memcpy(records_.data() + start + FUSE_NAME_OFFSET, name.data(), name.size());
  starts_.push_back(records_.size());
  if (attr) {
    attrs_.resize(i + 1);
    attrs_[i] = std::move(attr);
  }
}

uint64_t DirEntries::Inode(size_t i) const { return HeadAt(records_, starts_[i]).ino; }

uint32_t DirEntries::Type(size_t i) const { return HeadAt(records_, starts_[i]).type << 12; }

std::string_view DirEntries::Name(size_t i) const {
  return std::string_view(records_.data() + starts_[i] + FUSE_NAME_OFFSET, HeadAt(records_, starts_[i]).namelen);
}

std::string_view DirEntries::Records(size_t first, size_t max_bytes, size_t* end) const {
  if (first >= size()) {
    *end = first;
    return {};
  }
  // The last start within max_bytes of entry first's is where the slice ends.
  auto last =
      std::upper_bound(starts_.begin() + static_cast<ptrdiff_t>(first), starts_.end(), starts_[first] + max_bytes);
  *end = static_cast<size_t>(last - starts_.begin()) - 1;
  return std::string_view(records_.data() + starts_[first], starts_[*end] - starts_[first]);
}

std::string DirEntries::Release() {
  std::string out = std::move(records_);
  records_.clear();
  starts_.assign(1, 0);
  attrs_.clear();
  return out;
}

}  // namespace cfs::fuse
