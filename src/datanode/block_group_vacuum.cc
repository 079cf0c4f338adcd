// BlockGroup: vacuum (compaction).
//
// Compact copies the needles that are live at their offset into .cpd/.cpx
// while writes go on. CommitCompact replays the .idx entries written since
// Compact began (appends and deletes), syncs, and commits:
//   1. rename .cpd -> .dat   (the commit point)  2. fsync dir
//   3. rename .cpx -> .idx                        4. fsync dir
// Open treats ".cpx without .cpd" as "committed: finish step 3" and any
// other leftover .cpd/.cpx as "not committed: discard".
#include <fmt/format.h>

#include "common/logging.h"
#include "datanode/block_group.h"
#include "datanode/dat_scanner.h"

namespace cfs::datanode {

constexpr size_t kVacuumFlushBytes = 1 << 20;

Status BlockGroup::Compaction::Add(std::string_view record_bytes, uint64_t record_size, IdxEntry entry) {
  entry.offset_units = (cpd_end + dat_buf.size()) / kNeedleAlignment;
  dat_buf.append(record_bytes);
  dat_buf.append(record_size - record_bytes.size(), '\0');  // padding
  char raw[kIdxEntrySize];
  EncodeIdxEntry(entry, raw);
  idx_buf.append(raw, kIdxEntrySize);
  if (entry.IsDeletion()) {
    map.Delete(entry.id);
  } else {
    map.Set(entry.id, NeedleValue{static_cast<uint32_t>(entry.offset_units), entry.size});
  }
  return dat_buf.size() >= kVacuumFlushBytes ? Flush() : Status::OK();
}

Status BlockGroup::Compaction::Flush() {
  CFS_RETURN_IF_ERROR(cpd->WriteAt(cpd_end, dat_buf));
  CFS_RETURN_IF_ERROR(cpx->WriteAt(cpx_end, idx_buf));
  cpd_end += dat_buf.size();
  cpx_end += idx_buf.size();
  dat_buf.clear();
  idx_buf.clear();
  return Status::OK();
}

void BlockGroup::AbandonCompactionLocked() {
  if (!compaction_) return;
  std::string cpd = compaction_->cpd_path, cpx = compaction_->cpx_path;
  compaction_.reset();
  // Best effort: a leftover pair is discarded by the next Open anyway.
  (void)options_.env->Remove(cpd);
  (void)options_.env->Remove(cpx);
}

Status BlockGroup::Vacuum() {
  CFS_RETURN_IF_ERROR(Compact());
  return CommitCompact();
}

Status BlockGroup::Compact() {
  std::lock_guard c(compact_mu_);
  AbandonCompactionLocked();
  auto ctx = [&](const Status& s) { return s.WithContext(fmt::format("vacuum block group {}", id_)); };
  {
    std::shared_lock l(mu_);
    if (!damage_.empty()) return Status::ReadOnly(fmt::format("block group {} is damaged ({}): not vacuuming", id_, damage_));
    if (options_.read_only_files || closed_) {
      return Status::ReadOnly(fmt::format("block group {}: files are read-only: not vacuuming", id_));
    }
  }
  auto comp = std::make_unique<Compaction>();
  uint64_t start_dat_end;
  std::shared_ptr<File> old_dat;
  {
    std::lock_guard a(append_mu_);
    std::shared_lock l(mu_);
    start_dat_end = dat_end_;
    comp->start_idx_end = idx_end_;
    comp->superblock = superblock_;
    old_dat = dat_;
  }
  const uint64_t old_block = comp->superblock.BlockSize();
  comp->superblock.compaction_revision++;
  std::string base = base_path();
  comp->cpd_path = base + ".cpd";
  comp->cpx_path = base + ".cpx";
  Env* env = options_.env;
  // .cpd is created before .cpx, so ".cpx without .cpd" can only mean
  // "committed" to Open.
  auto cpd = env->Open(comp->cpd_path, OpenMode::kTruncate);
  if (!cpd.ok()) return ctx(cpd.status());
  comp->cpd = std::move(*cpd);
  auto cpx = env->Open(comp->cpx_path, OpenMode::kTruncate);
  if (!cpx.ok()) {
    comp->cpd.reset();
    (void)env->Remove(comp->cpd_path);
    return ctx(cpx.status());
  }
  comp->cpx = std::move(*cpx);
  compaction_ = std::move(comp);
  Compaction& cp = *compaction_;

  auto fail = [&](const Status& s) {
    AbandonCompactionLocked();
    return ctx(s);
  };
  std::string sb = cp.superblock.Encode();
  if (Status s = cp.cpd->WriteAt(0, sb); !s.ok()) return fail(s);
  cp.cpd_end = sb.size();

  DatScanner scan(*old_dat, old_block, start_dat_end);
  uint64_t copied = 0;
  for (;;) {
    ScannedRecord rec;
    auto step = scan.Next(&rec);
    if (!step.ok()) return fail(step.status());
    if (*step == DatScanner::Step::kEnd) break;
    if (*step == DatScanner::Step::kIncomplete) return fail(rec.problem);
    if (rec.needle.size == 0) continue;  // tombstone: what it deleted is not copied
    std::optional<NeedleValue> v;
    {
      std::shared_lock l(mu_);
      v = map_.Get(rec.needle.id);
    }
    if (!v || v->deleted() || uint64_t{v->offset_units} * kNeedleAlignment != rec.offset) continue;
    // Copied byte for byte, even if damaged: vacuum never drops a live needle.
    if (Status s = cp.Add(rec.bytes, rec.record_size, IdxEntry{rec.needle.id, 0, rec.needle.size}); !s.ok()) {
      return fail(s);
    }
    ++copied;
  }
  Status s = cp.Flush();
  if (s.ok()) s = cp.cpd->Sync();
  if (s.ok()) s = cp.cpx->Sync();
  if (!s.ok()) return fail(s);
  spdlog::info("block group {}: vacuum copied {} live needle(s), {} -> {} bytes", id_, copied, start_dat_end, cp.cpd_end);
  return Status::OK();
}

Status BlockGroup::CommitCompact() {
  std::lock_guard c(compact_mu_);
  if (!compaction_) return Status::InvalidArgument(fmt::format("block group {}: no vacuum to commit", id_));
  auto ctx = [&](const Status& s) { return s.WithContext(fmt::format("commit vacuum of block group {}", id_)); };
  auto fail = [&](const Status& s) {
    AbandonCompactionLocked();
    return ctx(s);
  };
  std::lock_guard a(append_mu_);
  Compaction& cp = *compaction_;

  // Catch up appends and deletes made while Compact ran.
  std::string entries(idx_end_ - cp.start_idx_end, '\0');
  if (Status s = ReadExact(*idx_, cp.start_idx_end, entries); !s.ok()) return fail(s);
  Status replay;
  std::string rec;
  ForEachIdxEntry(entries, 4, [&](const IdxEntry& e, uint64_t) {
    if (!replay.ok()) return;
    uint32_t body = e.IsDeletion() ? 0 : e.size;
    if (e.IsDeletion()) {
      auto v = cp.map.Get(e.id);
      if (!v || v->deleted() || e.offset_units == 0) return;  // nothing copied to delete
    }
    rec.resize(NeedleRecordSize(body));
    replay = ReadExact(*dat_, e.offset_bytes(), rec);
    if (!replay.ok()) return;
    NeedleHeader h = DecodeNeedleHeader(rec.data());
    if (h.id != e.id || h.size != body) {
      replay = Status::Corruption(fmt::format(".idx entry for needle {:x} at offset {} finds needle {:x} of size {}",
                                              e.id.value(), e.offset_bytes(), h.id.value(), h.size));
      return;
    }
    replay = cp.Add(std::string_view(rec).substr(0, NeedleReadSize(body)), rec.size(), IdxEntry{e.id, 0, e.size});
  });
  if (!replay.ok()) return fail(replay);
  Status s = cp.Flush();
  if (s.ok()) s = cp.cpd->Sync();
  if (s.ok()) s = cp.cpx->Sync();
  if (!s.ok()) return fail(s);
  cp.cpd.reset();
  cp.cpx.reset();

  Env* env = options_.env;
  std::string base = base_path();
  if (Status r = env->Rename(cp.cpd_path, base + ".dat"); !r.ok()) return fail(r);
  // Past the commit point: the new .dat is in place. A failure from here on
  // is finished by the next Open; until then this object must not write.
  auto after_commit = [&](const Status& err) {
    compaction_.reset();
    MarkDamaged(fmt::format("vacuum failed after its commit point ({}); reopen to finish it", err.ToString()));
    return ctx(err);
  };
  if (Status r = env->SyncDir(dir_); !r.ok()) return after_commit(r);
  if (Status r = env->Rename(cp.cpx_path, base + ".idx"); !r.ok()) return after_commit(r);
  if (Status r = env->SyncDir(dir_); !r.ok()) return after_commit(r);
  auto new_dat = env->Open(base + ".dat", OpenMode::kReadWrite);
  if (!new_dat.ok()) return after_commit(new_dat.status());
  auto new_idx = env->Open(base + ".idx", OpenMode::kReadWrite);
  if (!new_idx.ok()) return after_commit(new_idx.status());

  uint64_t before = dat_end_;
  {
    std::unique_lock l(mu_);
    dat_ = std::move(*new_dat);
    idx_ = std::move(*new_idx);
    map_ = std::move(cp.map);
    superblock_ = cp.superblock;
    dat_end_ = dat_size_ = cp.cpd_end;
    drop_behind_.clear();  // offsets in the old .dat
    idx_end_ = cp.cpx_end;
  }
  {
    // Everything written so far is in the synced new files.
    std::lock_guard sl(sync_mu_);
    synced_seq_ = std::max(synced_seq_, written_seq_.load());
  }
  compaction_.reset();
  spdlog::info("block group {}: vacuum committed: {} -> {} bytes, compaction revision {}", id_, before, dat_end_,
               superblock_.compaction_revision);
  return Status::OK();
}

}  // namespace cfs::datanode
