#include "metanode/extents.h"

#include <algorithm>
#include <utility>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <fmt/format.h>

#include "proto/extents_digest.h"

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
  OverlayExtents(extents, std::span<const Extent>(&e, 1), dropped);
}

void OverlayExtents(std::vector<Extent>* extents, std::span<const Extent> incoming, std::vector<Extent>* dropped) {
  if (incoming.empty()) return;
  // 1. The batch on its own, in order (later over earlier): small, so the
  //    shifting of a sorted vector costs little.
  std::vector<Extent> overlay;
  std::vector<Extent> candidates;  // extents cut or hidden: their needles may be garbage now
  for (const Extent& e : incoming) {
    auto first = FirstEndingAfter(&overlay, e.file_offset);
    auto last = first;
    std::vector<Extent> pieces;
    while (last != overlay.end() && last->file_offset < e.end()) {
      if (last->file_offset < e.file_offset) pieces.push_back(Piece(*last, last->file_offset, e.file_offset));
      if (last->end() > e.end()) pieces.push_back(Piece(*last, e.end(), last->end()));
      candidates.push_back(*last);
      ++last;
    }
    // Keep order: the left piece, e, the right piece.
    std::vector<Extent> placed;
    for (const Extent& p : pieces) {
      if (p.file_offset < e.file_offset) placed.push_back(p);
    }
    placed.push_back(e);
    for (const Extent& p : pieces) {
      if (p.file_offset >= e.end()) placed.push_back(p);
    }
    auto at = overlay.erase(first, last);
    overlay.insert(at, placed.begin(), placed.end());
  }
  // 2. One merge of the disjoint, sorted overlay over the file's extents:
  //    linear in both, however many extents the file has.
  std::vector<Extent> out;
  out.reserve(extents->size() + 2 * overlay.size());
  auto old = extents->begin();
  const auto old_end = extents->end();
  for (const Extent& e : overlay) {
    while (old != old_end && old->end() <= e.file_offset) out.push_back(*old++);
    while (old != old_end && old->file_offset < e.end()) {
      candidates.push_back(*old);
      if (old->file_offset < e.file_offset) out.push_back(Piece(*old, old->file_offset, e.file_offset));
      if (old->end() > e.end()) {
        *old = Piece(*old, e.end(), old->end());  // its tail may meet the next overlay extent
        break;
      }
      ++old;
    }
    out.push_back(e);
  }
  out.insert(out.end(), old, old_end);
  *extents = std::move(out);
  // 3. The needles of the candidates that no extent names any more, once each.
  if (candidates.empty()) return;
  absl::flat_hash_map<NeedleKey, const Extent*> unreferenced;
  for (const Extent& c : candidates) unreferenced.try_emplace(KeyOf(c), &c);
  for (const Extent& e : *extents) {
    if (unreferenced.empty()) break;
    unreferenced.erase(KeyOf(e));
  }
  // In the candidates' order, so that every replica reports the same.
  for (const Extent& c : candidates) {
    auto it = unreferenced.find(KeyOf(c));
    if (it == unreferenced.end()) continue;
    dropped->push_back(c);
    unreferenced.erase(it);
  }
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

uint64_t DigestOf(const std::vector<Extent>& extents) {
  proto::ExtentsDigest d;
  for (const Extent& e : extents) d.Add(e.file_offset, e.length, e.block_group, e.needle_id, e.needle_offset);
  return d.value();
}

}  // namespace cfs::metanode
