// Scrub: the offline checks an operator reaches for after a crash, behind
// `cfs blockgroup inspect` and `cfs blockgroup fix`. Files are opened
// read-only except by RebuildIdx.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/env.h"
#include "datanode/dat_scanner.h"
#include "datanode/superblock.h"

namespace cfs::datanode {

struct ScrubProblem {
  uint64_t offset = 0;  // in .dat, or in .idx for index problems
  std::string message;
};

struct ScrubReport {
  SuperBlock superblock;
  uint64_t dat_bytes = 0;
  uint64_t needles = 0;     // records with data
  uint64_t tombstones = 0;  // deletion records
  uint64_t idx_entries = 0;
  uint64_t idx_deletions = 0;
  uint64_t idx_live = 0;  // ids whose last entry is not a deletion
  std::vector<ScrubProblem> problems;
  bool clean() const { return problems.empty(); }
};

// Scans every record of a .dat, checking structure and checksums, then checks
// each entry of `idx_path` (if not empty) against the records it points at.
// `on_record` sees each record as it is scanned. Errors only for I/O or a
// missing superblock; damage goes into the report.
Result<ScrubReport> ScrubDat(Env* env, const std::string& dat_path, const std::string& idx_path,
                             const std::function<void(const ScannedRecord&)>& on_record = nullptr);

// Checks an index on its own: whole entries, and no two live records
// claiming overlapping bytes. `offset_bytes` is 4, or 5 for SeaweedFS's
// 5BytesOffset builds.
Result<ScrubReport> ScrubIdx(Env* env, const std::string& idx_path, int offset_bytes = 4);

// Rebuilds the .idx of a .dat by scanning it: one entry per whole record
// (damaged ones too: nothing is silently dropped), written to a temp file
// and renamed over `idx_path`. Returns the number of entries written.
Result<uint64_t> RebuildIdx(Env* env, const std::string& dat_path, const std::string& idx_path,
                            std::vector<ScrubProblem>* problems);

}  // namespace cfs::datanode
