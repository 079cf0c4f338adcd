// A file's visible extents: sorted by file offset, disjoint. Writes overlay
// (a later extent hides what it covers: DESIGN.md section 2), truncation
// cuts; both report the needles no visible extent refers to any more, which
// go to the partition's deletion queue. A needle is referenced by pieces of
// one inode only (a writer makes its needles for one file), so a needle
// dropped from the list is garbage.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/status.h"
#include "metanode/inode.h"

namespace cfs::metanode {

// Files may not extend past this (the kernel's limit for FUSE is larger;
// 2^50 bytes, a petabyte, keeps offsets far from overflow).
inline constexpr uint64_t kMaxFileSize = uint64_t{1} << 50;

// Checks an extent from a client: a non-empty length inside the needle's
// data and below kMaxFileSize. Errors: InvalidArgument naming the problem.
Status ValidateExtent(const Extent& e);

// Lays `e` over `extents`: the parts under [e.file_offset, e.end()) are cut
// away (pieces on either side keep their bytes, with needle offsets moved
// accordingly), then `e` is inserted. Needles that end up with no extent
// are appended to `dropped` (one extent each, naming the needle).
void OverlayExtent(std::vector<Extent>* extents, const Extent& e, std::vector<Extent>* dropped);

// OverlayExtent for each of `incoming` in order, in one pass over
// `extents` (linear in both: a batch of small writes into a fragmented
// file does not shift the whole list once per extent).
void OverlayExtents(std::vector<Extent>* extents, std::span<const Extent> incoming, std::vector<Extent>* dropped);

// Cuts everything at or past `size`; the same report as OverlayExtent.
void TruncateExtents(std::vector<Extent>* extents, uint64_t size, std::vector<Extent>* dropped);

// proto::ExtentsDigest of `extents` (a rewrite's precondition).
uint64_t DigestOf(const std::vector<Extent>& extents);

// Every needle of `extents` once (for freeing a whole inode).
void AllNeedles(const std::vector<Extent>& extents, std::vector<Extent>* out);

}  // namespace cfs::metanode
