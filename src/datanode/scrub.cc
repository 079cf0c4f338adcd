#include "datanode/scrub.h"

#include <algorithm>
#include <filesystem>

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <fmt/format.h>

#include "datanode/idx.h"

namespace cfs::datanode {
namespace {

Result<SuperBlock> ReadSuperBlock(const File& dat, uint64_t dat_size) {
  if (dat_size < kSuperBlockSize) {
    return Status::Corruption(fmt::format("{} is {} bytes: no superblock", dat.path(), dat_size));
  }
  std::string sb(kSuperBlockSize, '\0');
  CFS_RETURN_IF_ERROR(ReadExact(dat, 0, sb));
  uint16_t extra = 0;
  CFS_RETURN_IF_ERROR(SuperBlock::Decode(sb, &extra).status().WithContext(dat.path()));
  if (extra > 0) {
    if (dat_size < kSuperBlockSize + extra) {
      return Status::Corruption(fmt::format("{}: superblock extra of {} bytes runs past the end", dat.path(), extra));
    }
    sb.resize(kSuperBlockSize + extra);
    CFS_RETURN_IF_ERROR(ReadExact(dat, 0, sb));
  }
  return SuperBlock::Decode(sb);
}

struct RecordInfo {
  NeedleId id;
  uint32_t size;
};

}  // namespace

Result<ScrubReport> ScrubDat(Env* env, const std::string& dat_path, const std::string& idx_path,
                             const std::function<void(const ScannedRecord&)>& on_record) {
  CFS_ASSIGN_OR_RETURN(auto dat, env->Open(dat_path, OpenMode::kRead));
  ScrubReport report;
  CFS_ASSIGN_OR_RETURN(report.dat_bytes, dat->Size());
  CFS_ASSIGN_OR_RETURN(report.superblock, ReadSuperBlock(*dat, report.dat_bytes));

  absl::flat_hash_map<uint64_t, RecordInfo> records;  // by offset
  DatScanner scan(*dat, report.superblock.BlockSize(), report.dat_bytes);
  for (;;) {
    ScannedRecord rec;
    CFS_ASSIGN_OR_RETURN(auto step, scan.Next(&rec));
    if (step == DatScanner::Step::kEnd) break;
    if (step == DatScanner::Step::kIncomplete) {
      report.problems.push_back({rec.offset, rec.problem.message()});
      break;
    }
    if (on_record) on_record(rec);
    if (!rec.problem.ok()) report.problems.push_back({rec.offset, rec.problem.message()});
    if (rec.needle.size == 0) {
      ++report.tombstones;
    } else {
      ++report.needles;
    }
    records[rec.offset] = RecordInfo{rec.needle.id, rec.needle.size};
  }

  if (idx_path.empty()) return report;
  CFS_ASSIGN_OR_RETURN(auto idx, env->Open(idx_path, OpenMode::kRead));
  CFS_ASSIGN_OR_RETURN(uint64_t idx_size, idx->Size());
  absl::flat_hash_map<uint64_t, bool> live;  // id -> live after replay
  absl::flat_hash_set<uint64_t> referenced;  // record offsets named by .idx
  CFS_ASSIGN_OR_RETURN(size_t torn, ScanIdxFile(*idx, idx_size, 4, [&](const IdxEntry& e, uint64_t i) {
    ++report.idx_entries;
    live[e.id.value()] = !e.IsDeletion();
    if (e.IsDeletion()) ++report.idx_deletions;
    if (e.offset_units == 0) return;  // old-style deletion: no record to check
    uint32_t body = e.IsDeletion() ? 0 : e.size;
    auto it = records.find(e.offset_bytes());
    if (it == records.end()) {
      report.problems.push_back({i * kIdxEntrySize, fmt::format(".idx entry {} (needle {:x}) points at offset {}, where no "
                                                                "record starts",
                                                                i, e.id.value(), e.offset_bytes())});
    } else if (it->second.id != e.id || it->second.size != body) {
      report.problems.push_back({i * kIdxEntrySize,
                                 fmt::format(".idx entry {} says needle {:x} of size {} at offset {}, .dat has needle "
                                             "{:x} of size {}",
                                             i, e.id.value(), body, e.offset_bytes(), it->second.id.value(),
                                             it->second.size)});
    }
    referenced.insert(e.offset_bytes());
  }));
  if (torn > 0) report.problems.push_back({idx_size - torn, fmt::format(".idx ends with a torn entry of {} bytes", torn)});
  for (const auto& [id, is_live] : live) report.idx_live += is_live ? 1 : 0;
  uint64_t unindexed = 0, first_unindexed = UINT64_MAX;
  for (const auto& [offset, info] : records) {
    if (!referenced.contains(offset)) {
      ++unindexed;
      first_unindexed = std::min(first_unindexed, offset);
    }
  }
  if (unindexed > 0) {
    report.problems.push_back({first_unindexed, fmt::format("{} record(s) in .dat have no .idx entry, the first at offset {} "
                                                            "(.idx is behind: `cfs blockgroup fix` rebuilds it)",
                                                            unindexed, first_unindexed)});
  }
  return report;
}

Result<ScrubReport> ScrubIdx(Env* env, const std::string& idx_path, int offset_bytes) {
  if (offset_bytes != 4 && offset_bytes != 5) {
    return Status::InvalidArgument(fmt::format("offset bytes must be 4 or 5, not {}", offset_bytes));
  }
  CFS_ASSIGN_OR_RETURN(auto idx, env->Open(idx_path, OpenMode::kRead));
  CFS_ASSIGN_OR_RETURN(uint64_t idx_size, idx->Size());
  ScrubReport report;
  absl::flat_hash_map<uint64_t, bool> live;
  struct Span {
    uint64_t start, end, entry;
  };
  std::vector<Span> spans;
  const size_t entry_size = IdxEntrySize(offset_bytes);
  CFS_ASSIGN_OR_RETURN(size_t torn, ScanIdxFile(*idx, idx_size, offset_bytes, [&](const IdxEntry& e, uint64_t i) {
    ++report.idx_entries;
    live[e.id.value()] = !e.IsDeletion();
    if (e.IsDeletion()) {
      ++report.idx_deletions;
    } else {
      spans.push_back({e.offset_bytes(), e.offset_bytes() + NeedleRecordSize(e.size), i});
    }
  }));
  if (torn > 0) report.problems.push_back({idx_size - torn, fmt::format("index ends with a torn entry of {} bytes", torn)});
  for (const auto& [id, is_live] : live) report.idx_live += is_live ? 1 : 0;
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.start < b.start; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].start < spans[i - 1].end) {
      report.problems.push_back({spans[i].entry * entry_size,
                                 fmt::format("entries {} and {} claim overlapping records at offsets {} and {}",
                                             spans[i - 1].entry, spans[i].entry, spans[i - 1].start, spans[i].start)});
    }
  }
  return report;
}

Result<uint64_t> RebuildIdx(Env* env, const std::string& dat_path, const std::string& idx_path,
                            std::vector<ScrubProblem>* problems) {
  CFS_ASSIGN_OR_RETURN(auto dat, env->Open(dat_path, OpenMode::kRead));
  CFS_ASSIGN_OR_RETURN(uint64_t dat_size, dat->Size());
  CFS_ASSIGN_OR_RETURN(SuperBlock sb, ReadSuperBlock(*dat, dat_size));
  std::string entries;
  uint64_t count = 0;
  DatScanner scan(*dat, sb.BlockSize(), dat_size);
  for (;;) {
    ScannedRecord rec;
    CFS_ASSIGN_OR_RETURN(auto step, scan.Next(&rec));
    if (step == DatScanner::Step::kEnd) break;
    if (step == DatScanner::Step::kIncomplete) {
      problems->push_back({rec.offset, rec.problem.message() + " (left out of the index)"});
      break;
    }
    if (!rec.problem.ok()) problems->push_back({rec.offset, rec.problem.message() + " (indexed anyway)"});
    char raw[kIdxEntrySize];
    EncodeIdxEntry({rec.needle.id, rec.offset / kNeedleAlignment, rec.needle.size == 0 ? kTombstoneSize : rec.needle.size},
                   raw);
    entries.append(raw, kIdxEntrySize);
    ++count;
  }
  CFS_RETURN_IF_ERROR(WriteFileAtomic(env, idx_path, entries));
  return count;
}

}  // namespace cfs::datanode
