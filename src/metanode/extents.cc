#include "metanode/extents.h"

#include <algorithm>
#include <utility>

#include <absl/container/flat_hash_set.h>

#include <fmt/format.h>

namespace cfs::metanode {
namespace {

using NeedleKey = std::pair<uint32_t, uint64_t>;  // (block group, needle id)
NeedleKey KeyOf(const Extent& e) { return {e.block_group, e.needle_id}; }

// Appends to `dropped` each needle of `candidates` that no extent of
// `extents` refers to, once.
void ReportUnreferenced(const std::vector<Extent>& candidates, const std::vector<Extent>& extents,
                        std::vector<Extent>* dropped) {
  if (candidates.empty()) return;
  absl::flat_hash_set<NeedleKey> seen;
  for (const Extent& e : extents) seen.insert(KeyOf(e));
  for (const Extent& c : candidates) {
    if (seen.insert(KeyOf(c)).second) dropped->push_back(c);
  }
}

// The part of `e` in [from, to), which must overlap it.
Extent Piece(const Extent& e, uint64_t from, uint64_t to) {
  Extent p = e;
  const uint64_t start = std::max(from, e.file_offset);
  const uint64_t end = std::min(to, e.end());
  p.needle_offset = e.needle_offset + static_cast<uint32_t>(start - e.file_offset);
  p.file_offset = start;
  p.length = static_cast<uint32_t>(end - start);
  return p;
}

// The first extent ending after `offset`.
std::vector<Extent>::iterator FirstEndingAfter(std::vector<Extent>* extents, uint64_t offset) {
  return std::partition_point(extents->begin(), extents->end(), [&](const Extent& e) { return e.end() <= offset; });
}

}  // namespace

Status ValidateExtent(const Extent& e) {
  if (e.length == 0) return Status::InvalidArgument(fmt::format("extent at offset {}: empty", e.file_offset));
  if (static_cast<uint64_t>(e.needle_offset) + e.length > e.needle_size) {
    return Status::InvalidArgument(fmt::format("extent at offset {}: bytes {}+{} outside the needle's {} bytes",
                                               e.file_offset, e.needle_offset, e.length, e.needle_size));
  }
  if (e.file_offset >= kMaxFileSize || kMaxFileSize - e.file_offset < e.length) {
    return Status::TooLarge(fmt::format("extent at offset {} length {}: past the largest file size {}", e.file_offset,
                                        e.length, kMaxFileSize));
  }
  if (e.block_group == 0 || e.needle_id == 0) {
    return Status::InvalidArgument(fmt::format("extent at offset {}: no needle", e.file_offset));
  }
  return Status::OK();
}

void OverlayExtent(std::vector<Extent>* extents, const Extent& e, std::vector<Extent>* dropped) {
  auto first = FirstEndingAfter(extents, e.file_offset);
  auto last = first;
  std::vector<Extent> replaced;
  std::vector<Extent> pieces;
  while (last != extents->end() && last->file_offset < e.end()) {
    if (last->file_offset < e.file_offset) pieces.push_back(Piece(*last, last->file_offset, e.file_offset));
    replaced.push_back(*last);
    ++last;
  }
  pieces.push_back(e);
  if (!replaced.empty() && replaced.back().end() > e.end()) {
    pieces.push_back(Piece(replaced.back(), e.end(), replaced.back().end()));
  }
  auto at = extents->erase(first, last);
  extents->insert(at, pieces.begin(), pieces.end());
  ReportUnreferenced(replaced, *extents, dropped);
}

void TruncateExtents(std::vector<Extent>* extents, uint64_t size, std::vector<Extent>* dropped) {
  auto first = FirstEndingAfter(extents, size);
  if (first == extents->end()) return;
  std::vector<Extent> replaced(first, extents->end());
  const bool keep_head = first->file_offset < size;
  Extent head = keep_head ? Piece(*first, first->file_offset, size) : Extent();
  extents->erase(first, extents->end());
  if (keep_head) extents->push_back(head);
  ReportUnreferenced(replaced, *extents, dropped);
}

void AllNeedles(const std::vector<Extent>& extents, std::vector<Extent>* out) {
  ReportUnreferenced(extents, {}, out);
}

}  // namespace cfs::metanode
