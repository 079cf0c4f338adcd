// The dentry tree's key and value: (parent inode, name) -> (child inode,
// type). Ordered by parent, then name bytewise, so a directory's entries are
// one contiguous range and a listing is one range scan, paged by name.
//
// A Name holds a name of up to 15 bytes inline, a longer one in a heap
// block behind a pointer: 16 bytes in the tree (std::string takes 32). A
// listing then reads most names where the tree keeps its keys, not through
// a pointer each (a cache miss per entry: 84% of a 10,000-entry listing's
// time in the metanode went on loading names from the heap).
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
  static constexpr size_t kInline = 15;

  Name() = default;
  // `name` is at most 255 bytes (the caller validated it).
  explicit Name(std::string_view name) {
    b_[0] = static_cast<char>(static_cast<uint8_t>(name.size()));
    if (name.size() <= kInline) {
      std::memcpy(b_ + 1, name.data(), name.size());
    } else {
      char* heap = new char[name.size()];
      std::memcpy(heap, name.data(), name.size());
      std::memcpy(b_ + 8, &heap, sizeof(heap));
    }
  }
  ~Name() { Free(); }
  Name(const Name& o) : Name(o.view()) {}
  Name& operator=(const Name& o) {
    if (this != &o) *this = Name(o.view());
    return *this;
  }
  Name(Name&& o) noexcept {
    std::memcpy(b_, o.b_, sizeof(b_));
    o.b_[0] = 0;
  }
  Name& operator=(Name&& o) noexcept {
    if (this != &o) {
      Free();
      std::memcpy(b_, o.b_, sizeof(b_));
      o.b_[0] = 0;
    }
    return *this;
  }

  std::string_view view() const {
    const size_t n = size();
    if (n <= kInline) return {b_ + 1, n};
    return {Heap(), n};
  }

 private:
  size_t size() const { return static_cast<uint8_t>(b_[0]); }
  char* Heap() const {
    char* p;
    std::memcpy(&p, b_ + 8, sizeof(p));
    return p;
  }
  void Free() {
    if (size() > kInline) delete[] Heap();
    b_[0] = 0;
  }

  // b_[0]: the length; then the bytes (up to 15), or at b_[8] the pointer.
  alignas(8) char b_[16] = {};
};
static_assert(sizeof(Name) == 16);

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
