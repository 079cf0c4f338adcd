// BlockGroup: appends, deletes and group commit.
#include <fmt/format.h>

#include "common/logging.h"
#include "datanode/block_group.h"

namespace cfs::datanode {

Result<uint64_t> BlockGroup::WriteRecordLocked(std::string_view data, IdxEntry entry) {
  const uint64_t offset = dat_end_;
  const std::string_view parts[] = {record_head_, data, record_tail_};
  const uint64_t record_size = record_head_.size() + data.size() + record_tail_.size();
  Status s = dat_->WritevAt(offset, parts);
  if (s.ok()) {
    char raw[kIdxEntrySize];
    entry.offset_units = offset / kNeedleAlignment;
    EncodeIdxEntry(entry, raw);
    s = idx_->WriteAt(idx_end_, std::string_view(raw, kIdxEntrySize));
    if (!s.ok()) (void)idx_->Truncate(idx_end_);
  }
  if (!s.ok()) {
    // Undo the partial record so the next append starts clean; if even that
    // fails, the next append overwrites it at the same offset anyway.
    (void)dat_->Truncate(offset);
    return s.WithContext(fmt::format("block group {}: write of needle {:x} at offset {}", id_, entry.id.value(), offset));
  }
  dat_end_ += record_size;
  idx_end_ += kIdxEntrySize;
  written_seq_.fetch_add(1, std::memory_order_release);
  if (options_.drop_behind_min_record != 0 && record_size >= options_.drop_behind_min_record) {
    DropBehindLocked(offset, record_size);
  }
  return offset;
}

void BlockGroup::DropBehindLocked(uint64_t offset, uint64_t length) {
  if (drop_behind_off_) return;
  // A failure turns drop-behind off for this group, logged once: the data is
  // written either way, and pages left cached cost memory, not correctness.
  auto failed = [&](const Status& s) {
    spdlog::warn("block group {}: {}; pages of large needles stay cached", id_, s.ToString());
    drop_behind_off_ = true;
    drop_behind_.clear();
  };
  // (A writeback error also reaches the next Sync: fdatasync reports it
  // whoever started the writeback.)
  if (Status s = dat_->StartWriteback(offset, length); !s.ok()) return failed(s);
  drop_behind_.emplace_back(offset, length);
  while (!drop_behind_.empty() &&
         drop_behind_.front().first + drop_behind_.front().second + kDropBehindLagBytes <= dat_end_) {
    auto [off, len] = drop_behind_.front();
    drop_behind_.pop_front();
    // Waits for the pages' writeback, begun 16 MiB of appends ago.
    if (Status s = dat_->DropCache(off, len); !s.ok()) return failed(s);
  }
}

Result<NeedleLocation> BlockGroup::Append(const NeedleView& in, std::optional<uint32_t> data_checksum) {
  if (in.data.empty()) {
    return Status::InvalidArgument(fmt::format(
        "block group {}: needle {:x} has no data (an empty needle would read back as a deletion)", id_, in.id.value()));
  }
  NeedleView n = in;
  std::lock_guard a(append_mu_);
  Ttl group_ttl;
  {
    std::shared_lock l(mu_);
    CFS_RETURN_IF_ERROR(WritableLocked());
    group_ttl = superblock_.ttl;
  }
  const auto now = options_.clock->WallNow();
  if (!(n.flags & kFlagTtl) && !group_ttl.empty()) {
    n.ttl = group_ttl;
    n.flags |= kFlagTtl;
  }
  if ((n.flags & kFlagTtl) && !(n.flags & kFlagLastModified)) {
    // Expiry counts from the last-modified time: a TTL needs one.
    n.last_modified = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
    n.flags |= kFlagLastModified;
  }
  uint64_t ts = std::max<uint64_t>(static_cast<uint64_t>(now.count()), last_append_ns_ + 1);
  CFS_ASSIGN_OR_RETURN(uint32_t size, EncodeNeedleAround(n, ts, data_checksum ? *data_checksum : NeedleChecksum(n.data),
                                                         &record_head_, &record_tail_));
  const uint64_t record_size = NeedleRecordSize(size);
  if (dat_end_ + record_size > options_.size_limit_bytes) {
    std::string why = fmt::format("full: {} bytes of {}", dat_end_, options_.size_limit_bytes);
    {
      std::unique_lock l(mu_);
      read_only_reason_ = why;
    }
    return Status::NoSpace(fmt::format("block group {} is {}: a {}-byte needle does not fit", id_, why,
                                       record_size));
  }
  CFS_ASSIGN_OR_RETURN(uint64_t offset, WriteRecordLocked(n.data, IdxEntry{n.id, 0, size}));
  last_append_ns_ = ts;
  last_append_ns_published_ = ts;
  {
    std::unique_lock l(mu_);
    map_.Set(n.id, NeedleValue{static_cast<uint32_t>(offset / kNeedleAlignment), size});
    dat_size_ = dat_end_;
  }
  return NeedleLocation{offset, size, record_size};
}

Result<uint32_t> BlockGroup::Delete(NeedleId id, Cookie cookie) {
  std::lock_guard a(append_mu_);
  NeedleValue v;
  {
    std::shared_lock l(mu_);
    CFS_RETURN_IF_ERROR(WritableLocked());
    auto got = map_.Get(id);
    if (!got || got->deleted()) {
      return Status::NotFound(fmt::format("block group {}: needle {:x} not found", id_, id.value()));
    }
    v = *got;
  }
  char raw[kNeedleHeaderSize];
  CFS_RETURN_IF_ERROR(ReadExact(*dat_, uint64_t{v.offset_units} * kNeedleAlignment, raw));
  NeedleHeader h = DecodeNeedleHeader(raw);
  if (h.id != id) {
    return Status::Corruption(fmt::format("block group {}: index points needle {:x} at offset {}, which holds needle {:x}",
                                          id_, id.value(), uint64_t{v.offset_units} * kNeedleAlignment, h.id.value()));
  }
  if (h.cookie != cookie) {
    return Status::NotFound(fmt::format("block group {}: needle {:x} not found", id_, id.value()));
  }
  NeedleView tombstone;
  tombstone.id = id;
  tombstone.cookie = cookie;
  uint64_t ts = std::max<uint64_t>(static_cast<uint64_t>(options_.clock->WallNow().count()), last_append_ns_ + 1);
  CFS_RETURN_IF_ERROR(EncodeNeedleAround(tombstone, ts, NeedleChecksum({}), &record_head_, &record_tail_));
  CFS_RETURN_IF_ERROR(WriteRecordLocked({}, IdxEntry{id, 0, kTombstoneSize}));
  last_append_ns_ = ts;
  {
    std::unique_lock l(mu_);
    map_.Delete(id);
    dat_size_ = dat_end_;
  }
  return v.size;
}

Status BlockGroup::Sync() {
  // Everything that completed before this point must be durable on return.
  const uint64_t target = written_seq_.load(std::memory_order_acquire);
  std::unique_lock l(sync_mu_);
  for (;;) {
    if (!sync_error_.ok()) return sync_error_;
    if (synced_seq_ >= target) return Status::OK();
    if (syncing_) {
      sync_cv_.wait(l);
      continue;
    }
    // Lead one fdatasync for everything written so far; others wait for it.
    syncing_ = true;
    const uint64_t covering = written_seq_.load(std::memory_order_acquire);
    std::shared_ptr<File> dat;
    {
      std::shared_lock ml(mu_);
      dat = dat_;
    }
    l.unlock();
    Status s = dat ? dat->Sync() : Status::ReadOnly(fmt::format("block group {} is closed", id_));
    if (!s.ok()) {
      s = s.WithContext(fmt::format("block group {}: fsync failed; writes since the last good fsync may be lost", id_));
      MarkDamaged(s.message());
    }
    l.lock();
    syncing_ = false;
    if (s.ok()) {
      synced_seq_ = std::max(synced_seq_, covering);
    } else if (sync_error_.ok()) {
      sync_error_ = s;
    }
    sync_cv_.notify_all();
  }
}

}  // namespace cfs::datanode
