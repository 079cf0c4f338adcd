// The dentry tree's key and value: (parent inode, name) -> (child inode,
// type). Ordered by parent, then name bytewise, so a directory's entries are
// one contiguous range and a listing is one range scan, paged by name.
//
// A Name owns its bytes in one heap block [u8 length][bytes] behind one
// pointer: 8 bytes in the tree instead of std::string's 32, which is most of
// a dentry's cost (names are 1..255 bytes, so the length fits a byte).
#pragma once

#include <sys/stat.h>

#include <compare>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string_view>

#include "common/ids.h"

namespace cfs::metanode {

class Name {
 public:
  Name() = default;
  // `name` is at most 255 bytes (the caller validated it).
  explicit Name(std::string_view name) : data_(name.empty() ? nullptr : new char[name.size() + 1]) {
    if (!data_) return;
    data_[0] = static_cast<char>(static_cast<uint8_t>(name.size()));
    std::memcpy(data_.get() + 1, name.data(), name.size());
  }
  Name(const Name& o) : Name(o.view()) {}
  Name& operator=(const Name& o) {
    if (this != &o) *this = Name(o.view());
    return *this;
  }
  Name(Name&&) noexcept = default;
  Name& operator=(Name&&) noexcept = default;

  std::string_view view() const {
    if (!data_) return {};
    return {data_.get() + 1, static_cast<uint8_t>(data_[0])};
  }

 private:
  std::unique_ptr<char[]> data_;
};

struct DentryKey {
  InodeId parent;
  Name name;
};

// A key to search with, without allocating.
struct DentryRef {
  InodeId parent;
  std::string_view name;
};

struct DentryLess {
  using is_transparent = void;
  static DentryRef Ref(const DentryKey& k) { return {k.parent, k.name.view()}; }
  static DentryRef Ref(const DentryRef& k) { return k; }
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    DentryRef x = Ref(a);
    DentryRef y = Ref(b);
    if (x.parent != y.parent) return x.parent < y.parent;
    return x.name < y.name;
  }
};

// The child's id and its file type (S_IFMT bits) in one word: ids stay
// below 2^60.
class DentryValue {
 public:
  static constexpr uint64_t kMaxInode = (uint64_t{1} << 60) - 1;
  DentryValue() = default;
  DentryValue(InodeId child, uint32_t mode)
      : bits_(child.value() | (static_cast<uint64_t>((mode & S_IFMT) >> 12) << 60)) {}
  InodeId child() const { return InodeId(bits_ & kMaxInode); }
  uint32_t type() const { return static_cast<uint32_t>(bits_ >> 60) << 12; }  // S_IFMT bits
  bool is_dir() const { return S_ISDIR(type()); }

 private:
  uint64_t bits_ = 0;
};

}  // namespace cfs::metanode
