// A page of a directory listing as the client uses it, decoded from a
// ReadDir answer, and the packed form of a page without attributes
// (MetaResponse.packed_entries): one bytes field instead of a message per
// entry, which cost an allocation or more per entry on both sides (a plain
// page of 4,096 took 4 ms).
//
// Packed form, per entry: varint inode, varint type (S_IFMT bits), varint
// name length, the name.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "common/coding.h"
#include "common/status.h"
#include "proto/metanode.pb.h"
#include "proto/names.h"

namespace cfs::proto {

struct ListedEntry {
  uint64_t inode = 0;
  uint32_t type = 0;  // S_IFMT bits
  std::string name;
  // Readdirplus: the child's attributes (when in the directory's partition).
  std::unique_ptr<InodeAttr> attr;
};

struct DirListing {
  std::vector<ListedEntry> entries;  // in name order
  bool more = false;                 // entries after the last one
};

inline void PackListedEntry(std::string* out, uint64_t inode, uint32_t type, std::string_view name) {
  PutVarint64(out, inode);
  PutVarint64(out, type);
  PutVarint64(out, name.size());
  out->append(name);
}

// The page of a ReadDir answer: its packed entries, or its entries (with
// attributes). Corruption if the packed form is cut or holds a bad name.
inline Result<DirListing> ListingOf(MetaResponse& answer) {
  DirListing l;
  l.more = answer.more();
  std::string_view in = answer.packed_entries();
  l.entries.reserve(in.size() / 12 + answer.entries_size());  // 12: a short name's entry
  while (!in.empty()) {
    auto inode = GetVarint64(&in);
    auto type = inode ? GetVarint64(&in) : std::nullopt;
    auto len = type ? GetVarint64(&in) : std::nullopt;
    if (!len || *len > in.size() || *type > UINT32_MAX) {
      return Status::Corruption(fmt::format("listing cut after {} entries", l.entries.size()));
    }
    std::string_view name = in.substr(0, *len);
    in.remove_prefix(*len);
    if (Status s = ValidateName(name); !s.ok()) {
      return Status::Corruption(fmt::format("listing entry {}: {}", l.entries.size(), s.message()));
    }
    l.entries.push_back(ListedEntry{*inode, static_cast<uint32_t>(*type), std::string(name), nullptr});
  }
  for (DirEntry& e : *answer.mutable_entries()) {
    ListedEntry le{e.inode(), e.mode(), std::move(*e.mutable_name()), nullptr};
    if (e.has_attr()) le.attr = std::make_unique<InodeAttr>(std::move(*e.mutable_attr()));
    l.entries.push_back(std::move(le));
  }
  return l;
}

}  // namespace cfs::proto
