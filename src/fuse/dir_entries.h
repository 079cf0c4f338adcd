// The entries of an open directory, kept as the kernel is answered them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proto/metanode.pb.h"

namespace cfs::fuse {

// Entry i of an open directory is at readdir offset i + 1: "." and ".." (0
// and 1), then the listing in the order it was fetched. Each is kept as
// the fuse_dirent record (the kernel's ABI, <linux/fuse.h>) a plain
// readdir answers, with that offset in it, so a plain reply is a slice of
// one buffer: nothing is built per request. Entries fetched with their
// attributes (readdirplus) keep them too.
class DirEntries {
 public:
  // `dir` is the directory's inode ("." and ".." carry it: the kernel
  // answers ".." itself). `buffer` is memory to reuse (see Release).
  explicit DirEntries(uint64_t dir, std::string buffer = {});

  // Appends an entry: `type` in S_IFMT bits, `name` a valid name (no NUL,
  // no '/', 1-255 bytes).
  void Add(uint64_t inode, uint32_t type, std::string_view name, std::unique_ptr<proto::InodeAttr> attr = nullptr);

  // The smallest record: one of a name of 1-8 bytes.
  static constexpr size_t kSmallestRecord = 32;

  size_t size() const { return starts_.size() - 1; }  // "." and ".." included
  uint64_t Inode(size_t i) const;
  uint32_t Type(size_t i) const;  // S_IFMT bits
  std::string_view Name(size_t i) const;
  const proto::InodeAttr* Attr(size_t i) const { return i < attrs_.size() ? attrs_[i].get() : nullptr; }

  // The records of entries [first, *end): as many as fit in `max_bytes`
  // (none when first >= size()).
  std::string_view Records(size_t first, size_t max_bytes, size_t* end) const;

  // The records' buffer, for the next directory opened (its pages stay
  // mapped: a fresh one costs a page fault per 4 KiB). Leaves this empty.
  std::string Release();

 private:
  std::string records_;
  std::vector<size_t> starts_;  // entry i's record: records_[starts_[i], starts_[i + 1])
  std::vector<std::unique_ptr<proto::InodeAttr>> attrs_;  // by entry, up to the last one with them
};

}  // namespace cfs::fuse
