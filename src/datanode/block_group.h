// BlockGroup: one .dat + .idx pair, the datanode's unit of needle storage
// (SeaweedFS calls it a volume; the files keep its version-3 format).
//
// Writes append needles (and deletion tombstones) to .dat and entries to .idx;
// an in-memory NeedleMap built from .idx says where each live needle is.
// Needle bytes never change once written, so reads need no lock beyond the
// map lookup.
//
// Durability: Append returns when the needle is in the page cache and
// readable. Sync returns when every append and delete that completed before
// it was called is on disk; concurrent Syncs share one fdatasync (group
// commit). If an fdatasync fails, that Sync and every later one fail and the
// block group turns read-only: no caller is ever told its data is durable
// when it may not be.
//
// Open checks the tail of .dat against .idx (SeaweedFS's
// CheckVolumeDataIntegrity): a torn last needle is truncated away, needles
// found in .dat beyond the last .idx entry are indexed (so a lost .idx is
// rebuilt), and deeper damage makes the block group read-only with the
// reason logged and kept, never silently dropped.
//
// Vacuum copies live needles to .cpd/.cpx while reads and writes go on, then
// catches up what was written meanwhile and commits by rename with the
// compaction revision + 1. The rename of .cpd over .dat is the commit point;
// Open finishes or discards an interrupted vacuum, so a crash at any step
// leaves either the old or the new files whole.
//
// Thread-safety: all public methods may be called concurrently.
// Lock order: compact_mu_ -> append_mu_ -> mu_; sync_mu_ is taken alone.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "common/ids.h"
#include "common/status.h"
#include "datanode/idx.h"
#include "datanode/needle.h"
#include "datanode/needle_map.h"
#include "datanode/superblock.h"

namespace cfs::datanode {

struct BlockGroupOptions {
  Env* env = Env::Default();
  Clock* clock = Clock::Real();
  // Appends that would take .dat past this many bytes are refused (NoSpace)
  // and the block group becomes read-only ("full").
  uint64_t size_limit_bytes = kMaxBlockGroupBytes;
  // Open the files read-only: never write, never repair. For looking at
  // files that are not ours (fixtures, a copy under inspection).
  bool read_only_files = false;
  // Drop-behind: the pages of a record this large (a chunk of a streamed
  // file) leave the page cache once kDropBehindLagBytes more have been
  // appended behind it, after their writeback. Smaller records stay cached.
  // 0 keeps everything cached.
  uint64_t drop_behind_min_record = uint64_t{1} << 20;
  // A read of a record this large asks the kernel for all of it first
  // (File::WillNeed): a cold 4 MiB read then took 3.5 ms instead of 7 here.
  // 0: never.
  uint64_t will_need_min_read = uint64_t{256} << 10;
};

// How far behind the end of .dat a large record's pages are dropped.
inline constexpr uint64_t kDropBehindLagBytes = uint64_t{16} << 20;

// Where an append put a needle.
struct NeedleLocation {
  uint64_t offset = 0;       // byte offset of the record in .dat
  uint32_t size = 0;         // body size (the Size field)
  uint64_t record_bytes = 0; // bytes the record occupies, padding included
};

struct BlockGroupStats {
  BlockGroupId id;
  std::string collection;
  uint64_t size_bytes = 0;     // .dat size
  uint64_t needle_count = 0;   // live needles
  uint64_t deleted_count = 0;  // deleted needle ids still indexed
  uint64_t garbage_bytes = 0;  // .dat bytes vacuum would reclaim
  bool read_only = false;
  std::string read_only_reason;
  uint16_t compaction_revision = 0;
  uint64_t last_append_ns = 0;
  // Garbage as a fraction of the needle bytes, 0..1.
  double GarbageRatio() const;
};

class BlockGroup {
 public:
  // "dir/collection_7" or "dir/7" (no collection): the path without extension.
  static std::string BasePath(const std::string& dir, const std::string& collection, BlockGroupId id);

  // Creates the .dat (superblock written and synced) and an empty .idx.
  // Exists if a .dat is already there. `preallocate_bytes` reserves disk space.
  static Result<std::unique_ptr<BlockGroup>> Create(const std::string& dir, const std::string& collection,
                                                    BlockGroupId id, const SuperBlock& superblock,
                                                    uint64_t preallocate_bytes, BlockGroupOptions options = {});

  // Opens existing files, recovering as the class comment says. NotFound if
  // there is no .dat; Corruption if it has no valid superblock.
  static Result<std::unique_ptr<BlockGroup>> Open(const std::string& dir, const std::string& collection,
                                                  BlockGroupId id, BlockGroupOptions options = {});

  ~BlockGroup();
  BlockGroup(const BlockGroup&) = delete;
  BlockGroup& operator=(const BlockGroup&) = delete;

  // Appends a needle (id, cookie, data and optional fields of `n`). Empty data
  // is refused: on disk it is indistinguishable from a tombstone. If the
  // block group has a TTL and the needle none, the needle gets the block
  // group's. A later append of the same id replaces the earlier one.
  // Errors: ReadOnly (naming the block group and why), NoSpace when full,
  // InvalidArgument, IOError (nothing was appended). `data_checksum`, when
  // given, must be NeedleChecksum(n.data) (a caller that has verified the
  // data against it saves computing it twice).
  Result<NeedleLocation> Append(const NeedleView& n, std::optional<uint32_t> data_checksum = std::nullopt);

  // Makes every append and delete that completed before the call durable.
  Status Sync();

  // Reads a live needle into *buffer and returns a view into it, after
  // checking the id, the cookie and the checksum. NotFound when absent,
  // deleted, expired (TTL), or when the cookie does not match (the caller
  // learns nothing of another needle); Corruption when the bytes fail a check.
  // The view's checksum is the raw CRC-32C of its data, whichever form
  // (raw or masked) the record stores.
  Result<NeedleView> Read(NeedleId id, Cookie cookie, std::string* buffer) const;

  // Appends a tombstone for a live needle whose cookie matches. Returns the
  // body size of the deleted needle. NotFound as Read.
  Result<uint32_t> Delete(NeedleId id, Cookie cookie);

  // Compacts: Compact then CommitCompact. Refused (ReadOnly) on a block
  // group whose files are damaged or opened read-only.
  Status Vacuum();
  // Phase 1: copies live needles to .cpd/.cpx; appends, deletes and reads go on.
  Status Compact();
  // Phase 2: catches up what changed since Compact started, then commits by
  // rename. Appends and deletes wait for it; reads go on.
  Status CommitCompact();

  // Turns the block group read-only for writes, with a reason shown in stats.
  void SetReadOnly(std::string reason);
  // Lifts a read-only state set by SetReadOnly; damage and a failed sync stay.
  void ClearReadOnly();

  // True when the block group has a TTL and its last append is older.
  bool Expired() const;

  BlockGroupStats Stats() const;
  BlockGroupId id() const { return id_; }
  const std::string& collection() const { return collection_; }
  SuperBlock superblock() const;
  std::string base_path() const { return BasePath(dir_, collection_, id_); }

  // Files are closed when the object goes away; this makes the last writes
  // and the .idx durable first.
  Status Close();

 private:
  BlockGroup(std::string dir, std::string collection, BlockGroupId id, BlockGroupOptions options);
  Status Load();
  Status RecoverInterruptedVacuum(std::string* idx_path);
  Status CheckTailAndCatchUp(uint64_t* dat_size, uint64_t* idx_size, std::vector<IdxEntry>* beyond_idx);
  // Writes the record record_head_, data, record_tail_ at dat_end_ (one
  // gather write) and its entry at idx_end_, undoing both on failure. Caller
  // holds append_mu_. Returns the record's offset.
  Result<uint64_t> WriteRecordLocked(std::string_view data, IdxEntry entry);
  // Starts the writeback of a large record just written and drops the pages
  // of those now kDropBehindLagBytes behind dat_end_. Caller holds append_mu_.
  void DropBehindLocked(uint64_t offset, uint64_t length);
  // Records damage: the block group stays read-only. Takes mu_.
  void MarkDamaged(std::string reason);
  // ReadOnly naming the block group and why, or OK. Caller holds mu_.
  Status WritableLocked() const;
  void AbandonCompactionLocked();

  // State of a vacuum between Compact and CommitCompact.
  struct Compaction {
    std::unique_ptr<File> cpd, cpx;
    std::string cpd_path, cpx_path;
    SuperBlock superblock;
    NeedleMap map;
    uint64_t start_idx_end = 0;  // .idx entries from here on are replayed at commit
    uint64_t cpd_end = 0, cpx_end = 0;
    std::string dat_buf, idx_buf;  // buffered writes, flushed in large pieces

    // Buffers one record (bytes without padding) and its entry; the entry's
    // offset is filled in.
    Status Add(std::string_view record_bytes, uint64_t record_size, IdxEntry entry);
    Status Flush();
  };

  const std::string dir_;
  const std::string collection_;
  const BlockGroupId id_;
  const BlockGroupOptions options_;

  // Serializes compactions.
  std::mutex compact_mu_;
  std::unique_ptr<Compaction> compaction_;  // guarded by compact_mu_

  // Serializes appends, deletes and the commit of a vacuum.
  std::mutex append_mu_;
  uint64_t dat_end_ = 0;         // guarded by append_mu_
  uint64_t idx_end_ = 0;         // guarded by append_mu_
  uint64_t last_append_ns_ = 0;  // guarded by append_mu_
  std::string record_head_, record_tail_;  // a record around its data; guarded by append_mu_
  // Large records written back but still cached, oldest first: {offset,
  // length} in the current dat_. Guarded by append_mu_.
  std::deque<std::pair<uint64_t, uint64_t>> drop_behind_;
  bool drop_behind_off_ = false;  // after a failure; guarded by append_mu_

  // Guards the map, the file handles and the state below. dat_ and idx_ are
  // replaced only with append_mu_ held too, so appenders may use them
  // without mu_.
  mutable std::shared_mutex mu_;
  NeedleMap map_;
  std::shared_ptr<File> dat_;
  std::shared_ptr<File> idx_;
  SuperBlock superblock_;
  uint64_t dat_size_ = 0;  // mirrors dat_end_ for readers of Stats
  std::string read_only_reason_;  // set by SetReadOnly or when full
  std::string damage_;            // files damaged: never writable again
  bool closed_ = false;
  std::atomic<uint64_t> last_append_ns_published_{0};  // last_append_ns_ for readers

  // Group commit. Every append and delete takes a sequence number;
  // synced_seq_ is the highest one known durable.
  std::atomic<uint64_t> written_seq_{0};
  std::mutex sync_mu_;
  std::condition_variable sync_cv_;
  bool syncing_ = false;     // guarded by sync_mu_
  uint64_t synced_seq_ = 0;  // guarded by sync_mu_
  Status sync_error_;        // guarded by sync_mu_; sticky
};

}  // namespace cfs::datanode
