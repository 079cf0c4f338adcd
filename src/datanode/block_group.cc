// BlockGroup: creation, opening with recovery, stats and close.
#include "datanode/block_group.h"

#include <cstdint>

#include <fmt/format.h>

#include "common/logging.h"
#include "datanode/dat_scanner.h"

namespace cfs::datanode {

double BlockGroupStats::GarbageRatio() const {
  uint64_t needles = size_bytes > kSuperBlockSize ? size_bytes - kSuperBlockSize : 0;
  return needles == 0 ? 0.0 : static_cast<double>(garbage_bytes) / static_cast<double>(needles);
}

std::string BlockGroup::BasePath(const std::string& dir, const std::string& collection, BlockGroupId id) {
  if (collection.empty()) return fmt::format("{}/{}", dir, id.value());
  return fmt::format("{}/{}_{}", dir, collection, id.value());
}

BlockGroup::BlockGroup(std::string dir, std::string collection, BlockGroupId id, BlockGroupOptions options)
    : dir_(std::move(dir)), collection_(std::move(collection)), id_(id), options_(options) {}

BlockGroup::~BlockGroup() {
  Status s = Close();
  if (!s.ok()) spdlog::warn("block group {}: close: {}", id_, s.ToString());
}

Result<std::unique_ptr<BlockGroup>> BlockGroup::Create(const std::string& dir, const std::string& collection,
                                                       BlockGroupId id, const SuperBlock& superblock,
                                                       uint64_t preallocate_bytes, BlockGroupOptions options) {
  if (options.read_only_files) return Status::InvalidArgument("cannot create a block group with read-only files");
  Env* env = options.env;
  std::unique_ptr<BlockGroup> bg(new BlockGroup(dir, collection, id, options));
  std::string base = bg->base_path();
  CFS_RETURN_IF_ERROR(env->CreateDirs(dir));
  if (env->Exists(base + ".dat")) return Status::Exists(fmt::format("block group {} already exists", id));
  auto dat = env->Open(base + ".dat", OpenMode::kCreateExclusive);
  if (!dat.ok()) {
    if (dat.status().Is(Code::kExists)) return Status::Exists(fmt::format("block group {} already exists", id));
    return dat.status().WithContext(fmt::format("create block group {}", id));
  }
  // Any failure from here on removes what was made: a half-created block
  // group must not be loaded as a real one at the next start.
  auto undo = [&](const Status& s) {
    (void)env->Remove(base + ".dat");
    (void)env->Remove(base + ".idx");
    return s.WithContext(fmt::format("create block group {}", id));
  };
  std::string sb = superblock.Encode();
  Status s = (*dat)->WriteAt(0, sb);
  if (s.ok()) s = (*dat)->Preallocate(preallocate_bytes);
  if (s.ok()) s = (*dat)->Sync();
  if (!s.ok()) return undo(s);
  auto idx = env->Open(base + ".idx", OpenMode::kTruncate);
  if (!idx.ok()) return undo(idx.status());
  if (s = env->SyncDir(dir); !s.ok()) return undo(s);
  bg->dat_ = std::move(*dat);
  bg->idx_ = std::move(*idx);
  bg->superblock_ = superblock;
  bg->superblock_.extra.clear();
  bg->dat_end_ = bg->dat_size_ = sb.size();
  return bg;
}

Result<std::unique_ptr<BlockGroup>> BlockGroup::Open(const std::string& dir, const std::string& collection,
                                                     BlockGroupId id, BlockGroupOptions options) {
  std::unique_ptr<BlockGroup> bg(new BlockGroup(dir, collection, id, options));
  Status s = bg->Load();
  if (!s.ok()) {
    bg->closed_ = true;  // nothing to flush
    return s.WithContext(fmt::format("open block group {}", id));
  }
  return bg;
}

Status BlockGroup::RecoverInterruptedVacuum(std::string* idx_path) {
  Env* env = options_.env;
  std::string base = base_path();
  bool has_cpd = env->Exists(base + ".cpd"), has_cpx = env->Exists(base + ".cpx");
  if (!has_cpd && has_cpx) {
    // The commit point (.cpd renamed over .dat) was passed: .cpx is the index.
    if (options_.read_only_files) {
      *idx_path = base + ".cpx";
      return Status::OK();
    }
    spdlog::info("block group {}: finishing an interrupted vacuum: {}.cpx becomes the index", id_, base);
    CFS_RETURN_IF_ERROR(env->Rename(base + ".cpx", base + ".idx"));
    return env->SyncDir(dir_);
  }
  if ((has_cpd || has_cpx) && !options_.read_only_files) {
    spdlog::info("block group {}: discarding an interrupted vacuum ({}.cpd/.cpx); the old files are whole", id_, base);
    if (has_cpd) CFS_RETURN_IF_ERROR(env->Remove(base + ".cpd"));
    if (has_cpx) CFS_RETURN_IF_ERROR(env->Remove(base + ".cpx"));
    return env->SyncDir(dir_);
  }
  return Status::OK();
}

Status BlockGroup::Load() {
  Env* env = options_.env;
  const bool ro = options_.read_only_files;
  std::string base = base_path();
  std::string dat_path = base + ".dat", idx_path = base + ".idx";
  if (!env->Exists(dat_path)) return Status::NotFound(fmt::format("{} does not exist", dat_path));
  CFS_RETURN_IF_ERROR(RecoverInterruptedVacuum(&idx_path));

  CFS_ASSIGN_OR_RETURN(dat_, env->Open(dat_path, ro ? OpenMode::kRead : OpenMode::kReadWrite));
  CFS_ASSIGN_OR_RETURN(uint64_t dat_size, dat_->Size());
  std::string sb_bytes(kSuperBlockSize, '\0');
  if (dat_size < kSuperBlockSize) {
    return Status::Corruption(fmt::format("{} is {} bytes: no superblock", dat_path, dat_size));
  }
  CFS_RETURN_IF_ERROR(ReadExact(*dat_, 0, sb_bytes));
  uint16_t extra = 0;
  CFS_RETURN_IF_ERROR(SuperBlock::Decode(sb_bytes, &extra));
  if (extra > 0) {
    sb_bytes.resize(kSuperBlockSize + extra);
    CFS_RETURN_IF_ERROR(ReadExact(*dat_, 0, sb_bytes));
  }
  CFS_ASSIGN_OR_RETURN(superblock_, SuperBlock::Decode(sb_bytes));

  uint64_t idx_size = 0;
  if (ro) {
    if (env->Exists(idx_path)) {
      CFS_ASSIGN_OR_RETURN(idx_, env->Open(idx_path, OpenMode::kRead));
      CFS_ASSIGN_OR_RETURN(idx_size, idx_->Size());
    }
  } else {
    if (!env->Exists(idx_path)) spdlog::warn("block group {}: {} is missing; rebuilding it from .dat", id_, idx_path);
    CFS_ASSIGN_OR_RETURN(idx_, env->Open(idx_path, OpenMode::kCreate));
    CFS_ASSIGN_OR_RETURN(idx_size, idx_->Size());
  }

  std::vector<IdxEntry> beyond_idx;
  CFS_RETURN_IF_ERROR(CheckTailAndCatchUp(&dat_size, &idx_size, &beyond_idx));

  auto apply = [this](const IdxEntry& e, uint64_t) {
    if (e.IsDeletion()) {
      map_.Delete(e.id);
    } else {
      map_.Set(e.id, NeedleValue{static_cast<uint32_t>(e.offset_units), e.size});
    }
  };
  if (idx_) CFS_RETURN_IF_ERROR(ScanIdxFile(*idx_, idx_size, 4, apply));
  for (const IdxEntry& e : beyond_idx) apply(e, 0);

  dat_end_ = dat_size_ = dat_size;
  idx_end_ = idx_size;
  last_append_ns_published_ = last_append_ns_;
  if (ro && damage_.empty()) read_only_reason_ = "files opened read-only";
  return Status::OK();
}

Status BlockGroup::CheckTailAndCatchUp(uint64_t* dat_size, uint64_t* idx_size, std::vector<IdxEntry>* beyond_idx) {
  const bool ro = options_.read_only_files;
  const uint64_t block = superblock_.BlockSize();
  const uint64_t idx_file_size = *idx_size;

  if (*idx_size % kIdxEntrySize != 0) {
    spdlog::warn("block group {}: .idx ends with a torn entry of {} bytes; ignoring it", id_, *idx_size % kIdxEntrySize);
    *idx_size -= *idx_size % kIdxEntrySize;
  }

  // Check the last indexed record, as SeaweedFS's CheckVolumeDataIntegrity does.
  uint64_t indexed_end = block;
  while (*idx_size >= kIdxEntrySize) {
    char raw[kIdxEntrySize];
    CFS_RETURN_IF_ERROR(ReadExact(*idx_, *idx_size - kIdxEntrySize, raw));
    IdxEntry e = DecodeIdxEntry(raw);
    if (e.offset_units == 0) {
      // An old-style deletion entry without a record: look further back.
      uint64_t pos = *idx_size - kIdxEntrySize;
      bool found = false;
      while (pos >= kIdxEntrySize) {
        pos -= kIdxEntrySize;
        CFS_RETURN_IF_ERROR(ReadExact(*idx_, pos, raw));
        IdxEntry prev = DecodeIdxEntry(raw);
        if (prev.offset_units != 0) {
          e = prev;
          found = true;
          break;
        }
      }
      if (!found) break;
    }
    const uint32_t body = e.IsDeletion() ? 0 : e.size;
    const uint64_t off = e.offset_bytes();
    const uint64_t end = off + NeedleRecordSize(body);
    if (off < block || end > *dat_size) {
      if (ro) {
        MarkDamaged(fmt::format("last .idx entry (needle {:x} at offset {}) points past the end of .dat ({} bytes)",
                                e.id.value(), off, *dat_size));
        indexed_end = *dat_size;
        break;
      }
      spdlog::warn("block group {}: .idx entry for needle {:x} at offset {} points past the end of .dat ({} bytes): "
                   ".dat lost an unsynced tail; dropping the entry",
                   id_, e.id.value(), off, *dat_size);
      *idx_size -= kIdxEntrySize;
      continue;
    }
    DatScanner scan(*dat_, off, *dat_size);
    ScannedRecord rec;
    CFS_ASSIGN_OR_RETURN(auto step, scan.Next(&rec));
    bool good = step == DatScanner::Step::kRecord && rec.decoded && rec.checksum_ok && rec.needle.id == e.id &&
                rec.needle.size == body;
    if (good) {
      indexed_end = end;
      last_append_ns_ = rec.needle.append_at_ns;
      break;
    }
    std::string why = rec.problem.ok() ? fmt::format("record at offset {} is needle {:x} of size {}, .idx says {:x} of size {}",
                                                     off, rec.needle.id.value(), rec.needle.size, e.id.value(), body)
                                       : rec.problem.message();
    if (end >= *dat_size && !ro) {
      spdlog::warn("block group {}: last needle is torn ({}); truncating .dat to {}", id_, why, off);
      CFS_RETURN_IF_ERROR(dat_->Truncate(off));
      *dat_size = off;
      *idx_size -= kIdxEntrySize;
      continue;
    }
    MarkDamaged(fmt::format("{}; {} bytes follow it", why, *dat_size - std::min(end, *dat_size)));
    indexed_end = std::min(end, *dat_size);
    break;
  }
  if (!ro && *idx_size != idx_file_size) CFS_RETURN_IF_ERROR(idx_->Truncate(*idx_size));

  // Needles in .dat beyond the last indexed one: the .idx is behind (or lost).
  if (indexed_end >= *dat_size || !damage_.empty()) return Status::OK();
  DatScanner scan(*dat_, indexed_end, *dat_size);
  uint64_t found = 0;
  std::string entries;
  for (;;) {
    ScannedRecord rec;
    CFS_ASSIGN_OR_RETURN(auto step, scan.Next(&rec));
    if (step == DatScanner::Step::kEnd) break;
    bool last = step == DatScanner::Step::kIncomplete || rec.offset + rec.record_size >= *dat_size;
    if (step == DatScanner::Step::kIncomplete || !rec.problem.ok()) {
      if (last && !ro) {
        spdlog::warn("block group {}: torn tail ({}); truncating .dat to {}", id_, rec.problem.message(), rec.offset);
        CFS_RETURN_IF_ERROR(dat_->Truncate(rec.offset));
        *dat_size = rec.offset;
      } else {
        MarkDamaged(fmt::format("{}; not indexed", rec.problem.message()));
      }
      break;
    }
    IdxEntry e{rec.needle.id, rec.offset / kNeedleAlignment, rec.needle.size == 0 ? kTombstoneSize : rec.needle.size};
    last_append_ns_ = rec.needle.append_at_ns;
    ++found;
    if (ro) {
      beyond_idx->push_back(e);
    } else {
      char raw[kIdxEntrySize];
      EncodeIdxEntry(e, raw);
      entries.append(raw, kIdxEntrySize);
    }
  }
  if (!entries.empty()) {
    CFS_RETURN_IF_ERROR(idx_->WriteAt(*idx_size, entries));
    *idx_size += entries.size();
  }
  if (found > 0) spdlog::warn("block group {}: indexed {} needle(s) found in .dat beyond .idx", id_, found);
  return Status::OK();
}

void BlockGroup::MarkDamaged(std::string reason) {
  spdlog::error("block group {} ({}): {}; it is read-only until repaired", id_, base_path(), reason);
  std::unique_lock l(mu_);
  if (damage_.empty()) damage_ = std::move(reason);
}

Status BlockGroup::WritableLocked() const {
  if (!damage_.empty()) return Status::ReadOnly(fmt::format("block group {} is read-only: damaged: {}", id_, damage_));
  if (options_.read_only_files) return Status::ReadOnly(fmt::format("block group {} is read-only: files opened read-only", id_));
  if (!read_only_reason_.empty()) return Status::ReadOnly(fmt::format("block group {} is read-only: {}", id_, read_only_reason_));
  if (closed_) return Status::ReadOnly(fmt::format("block group {} is closed", id_));
  return Status::OK();
}

void BlockGroup::SetReadOnly(std::string reason) {
  std::unique_lock l(mu_);
  read_only_reason_ = reason.empty() ? "marked read-only" : std::move(reason);
}

void BlockGroup::ClearReadOnly() {
  std::unique_lock l(mu_);
  if (!options_.read_only_files) read_only_reason_.clear();
}

bool BlockGroup::Expired() const {
  std::shared_lock l(mu_);
  if (superblock_.ttl.empty() || last_append_ns_published_ == 0) return false;
  // In seconds: the append time comes from disk and may be any u64.
  uint64_t last_s = last_append_ns_published_ / 1'000'000'000;
  uint64_t ttl_s = static_cast<uint64_t>(superblock_.ttl.Duration().count());
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(options_.clock->WallNow()).count();
  return now_s >= 0 && last_s <= UINT64_MAX - ttl_s && static_cast<uint64_t>(now_s) >= last_s + ttl_s;
}

SuperBlock BlockGroup::superblock() const {
  std::shared_lock l(mu_);
  return superblock_;
}

BlockGroupStats BlockGroup::Stats() const {
  std::shared_lock l(mu_);
  BlockGroupStats s;
  s.id = id_;
  s.collection = collection_;
  s.size_bytes = dat_size_;
  s.needle_count = map_.live_count();
  s.deleted_count = map_.deleted_count();
  uint64_t needles = dat_size_ - superblock_.BlockSize();
  s.garbage_bytes = needles > map_.live_bytes() ? needles - map_.live_bytes() : 0;
  Status w = WritableLocked();
  s.read_only = !w.ok();
  if (!damage_.empty()) {
    s.read_only_reason = "damaged: " + damage_;
  } else {
    s.read_only_reason = read_only_reason_;
  }
  s.compaction_revision = superblock_.compaction_revision;
  s.last_append_ns = last_append_ns_published_;
  return s;
}

Status BlockGroup::Close() {
  std::lock_guard c(compact_mu_);
  AbandonCompactionLocked();
  std::lock_guard a(append_mu_);
  std::unique_lock l(mu_);
  if (closed_) return Status::OK();
  closed_ = true;
  if (options_.read_only_files || !dat_) return Status::OK();
  Status s = dat_->Sync();
  if (s.ok() && idx_) s = idx_->Sync();
  return s.WithContext(fmt::format("close block group {}", id_));
}

}  // namespace cfs::datanode
