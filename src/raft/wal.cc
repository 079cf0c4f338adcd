// The write-ahead log: recovery, group commit, segment rolling and garbage
// collection. The frame format is raft/wal_format.h.
#include "raft/wal.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <utility>

#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>

#include "common/logging.h"
#include "raft/wal_format.h"

namespace cfs::raft {
namespace {

constexpr std::string_view kSegmentSuffix = ".wal";
constexpr std::string_view kTempSuffix = ".tmp";  // WriteFileAtomic's
constexpr size_t kSegmentDigits = 16;
// Room in a record for everything but its entries (type, group, tags).
constexpr size_t kRecordOverheadBytes = 64;
// What one entry adds to a record beyond its own bytes: tag and length.
constexpr size_t kEntryOverheadBytes = 11;

std::string SegmentName(uint64_t seq) { return fmt::format("{:016x}{}", seq, kSegmentSuffix); }

// The sequence number of a segment file name; nullopt for any other name.
// Only lowercase hex is accepted, so one number has one name.
std::optional<uint64_t> ParseSegmentName(std::string_view name) {
  if (name.size() != kSegmentDigits + kSegmentSuffix.size() || !name.ends_with(kSegmentSuffix)) return std::nullopt;
  uint64_t seq = 0;
  for (char c : name.substr(0, kSegmentDigits)) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    seq = seq << 4 | static_cast<uint64_t>(digit);
  }
  return seq;
}

std::string_view TypeName(proto::WalRecordType type) {
  switch (type) {
    case proto::WAL_ENTRIES: return "entries";
    case proto::WAL_HARD_STATE: return "hard state";
    case proto::WAL_SNAPSHOT: return "snapshot";
    case proto::WAL_REMOVE_GROUP: return "remove group";
    default: return "unknown";
  }
}

// Why a run of entries is not contiguous with indexes >= 1, or nullopt.
template <typename Entries>
std::optional<std::string> EntriesRunProblem(const Entries& entries) {
  uint64_t prev = 0;
  bool first = true;
  for (const proto::Entry& e : entries) {
    if (e.index() == 0) return std::string("entry with index 0");
    if (!first && e.index() != prev + 1) return fmt::format("entry {} follows entry {}", e.index(), prev);
    prev = e.index();
    first = false;
  }
  return std::nullopt;
}

}  // namespace

struct Wal::Impl {
  // One segment file and, for garbage collection, the highest entry index
  // each live group wrote in it.
  struct Segment {
    uint64_t seq = 0;
    absl::flat_hash_map<GroupId, uint64_t> max_index;
  };
  // What the synced records say about a live group: a checkpoint's content.
  struct Durable {
    proto::HardState hard_state;
    proto::SnapshotMeta snapshot;
  };
  // A group's log bounds counting buffered records, to validate appends.
  struct Tail {
    uint64_t mark = 0;  // snapshot mark
    uint64_t last = 0;  // last index: the last entry's, or the mark when above it
  };

  // The frames of one segment's checkpoint, by group.
  struct CheckpointGroup {
    std::optional<proto::HardState> hard_state;
    std::optional<proto::SnapshotMeta> snapshot;
  };
  using CheckpointFrames = std::map<GroupId, CheckpointGroup>;

  Impl(Env* env, std::string dir, WalOptions options) : env(env), dir(std::move(dir)), options(options) {}

  std::string SegmentPath(uint64_t seq) const { return fmt::format("{}/{}", dir, SegmentName(seq)); }

  Status Recover();
  Status ReplaySegment(uint64_t seq, bool last);
  static Status AddCheckpointFrame(const proto::WalRecord& record, CheckpointFrames* checkpoint);
  Status CheckCheckpoint(const CheckpointFrames& checkpoint, bool whole) const;
  Status Replay(const proto::WalRecord& record);
  void NoteDurable(const proto::WalRecord& record);
  Status CreateSegment(uint64_t seq);
  bool Deletable(const Segment& segment) const;
  Status Fail(Status s) {
    error = std::move(s).WithContext(fmt::format("wal {}", dir));
    return error;
  }

  Env* env;
  std::string dir;
  WalOptions options;
  std::map<GroupId, WalGroupState> recovered;

  std::deque<Segment> segments;   // oldest first; back() is appended to
  std::unique_ptr<File> file;     // segments.back()
  uint64_t file_size = 0;         // bytes of whole frames in `file`
  uint64_t checkpoint_bytes = 0;  // of them, the checkpoint's

  std::map<GroupId, Durable> durable;        // live groups, as synced
  absl::flat_hash_map<GroupId, Tail> tails;  // live groups, as buffered
  std::vector<proto::WalRecord> pending;     // buffered, in order
  Status error;                              // sticky
};

Status Wal::Impl::Recover() {
  CFS_RETURN_IF_ERROR(env->CreateDirs(dir));
  CFS_ASSIGN_OR_RETURN(std::vector<std::string> names, env->ListDir(dir));
  std::vector<uint64_t> seqs;
  for (const std::string& name : names) {
    std::string_view n(name);
    if (n.ends_with(kTempSuffix) && ParseSegmentName(n.substr(0, n.size() - kTempSuffix.size()))) {
      // A segment whose creation did not finish: never renamed into the
      // log, so it holds nothing the log needs.
      CFS_RETURN_IF_ERROR(env->Remove(fmt::format("{}/{}", dir, name)));
      continue;
    }
    if (auto seq = ParseSegmentName(n)) seqs.push_back(*seq);
  }
  std::sort(seqs.begin(), seqs.end());
  for (size_t i = 1; i < seqs.size(); ++i) {
    // Garbage collection deletes only the oldest segments, so the rest are
    // consecutive: a gap is a segment lost.
    if (seqs[i] != seqs[i - 1] + 1) {
      return Status::Corruption(fmt::format("wal {}: segment {} is missing (between {} and {})", dir,
                                            SegmentName(seqs[i - 1] + 1), SegmentName(seqs[i - 1]),
                                            SegmentName(seqs[i])));
    }
  }
  for (size_t i = 0; i < seqs.size(); ++i) CFS_RETURN_IF_ERROR(ReplaySegment(seqs[i], i + 1 == seqs.size()));

  for (const auto& [group, state] : recovered) {
    // A hole after the mark is tolerated while replaying (the entries were
    // in collected segments, covered by a mark recorded later); at the end
    // every group's log must continue right after its mark.
    if (!state.entries.empty() && state.entries.front().index() != state.snapshot.index() + 1) {
      return Status::Corruption(fmt::format(
          "wal {}: group {}: entries resume at {} but the snapshot mark is {}: entries {} to {} are missing", dir,
          group, state.entries.front().index(), state.snapshot.index(), state.snapshot.index() + 1,
          state.entries.front().index() - 1));
    }
    Tail& tail = tails[group];
    tail.mark = state.snapshot.index();
    tail.last = state.entries.empty() ? tail.mark : state.entries.back().index();
  }
  if (seqs.empty()) CFS_RETURN_IF_ERROR(CreateSegment(1));
  return Status::OK();
}

Status Wal::Impl::ReplaySegment(uint64_t seq, bool last) {
  std::string path = SegmentPath(seq);
  CFS_ASSIGN_OR_RETURN(std::string image, ReadFileToString(env, path));
  // The oldest segment's checkpoint is where recovery starts. A later one
  // restates what the segments before it say, and must agree: collection
  // relies on it once those segments are gone.
  const bool restates = !segments.empty();
  segments.push_back(Segment{seq, {}});
  CheckpointFrames checkpoint;
  bool in_checkpoint = true;
  uint64_t checkpoint_end = 0;
  uint64_t valid_end = 0;
  proto::WalRecord record;
  Status s = ScanWalSegment(
      image, last,
      [&](uint64_t offset, const WalFrame& frame) -> Status {
        if (frame.kind == WalFrameKind::kCheckpoint) {
          if (!in_checkpoint) return Status::Corruption("checkpoint frame after log frames");
          checkpoint_end = offset + frame.size;
        } else if (in_checkpoint) {
          in_checkpoint = false;
          if (restates) CFS_RETURN_IF_ERROR(CheckCheckpoint(checkpoint, /*whole=*/true));
        }
        if (!record.ParseFromArray(frame.payload.data(), static_cast<int>(frame.payload.size()))) {
          return Status::Corruption(fmt::format("{} payload bytes do not parse as a WalRecord", frame.payload.size()));
        }
        if (frame.kind == WalFrameKind::kCheckpoint) {
          if (record.type() != proto::WAL_HARD_STATE && record.type() != proto::WAL_SNAPSHOT) {
            return Status::Corruption(fmt::format("checkpoint holds a {} record", TypeName(record.type())));
          }
          if (restates) return AddCheckpointFrame(record, &checkpoint);
        }
        CFS_RETURN_IF_ERROR(Replay(record));
        NoteDurable(record);
        return Status::OK();
      },
      &valid_end);
  if (s.ok() && restates && in_checkpoint) {
    // A segment holding only its checkpoint, or torn inside it (then only
    // the frames that survived can be checked).
    s = CheckCheckpoint(checkpoint, /*whole=*/valid_end == image.size());
  }
  if (!s.ok()) return std::move(s).WithContext(fmt::format("wal segment {}", path));
  if (!last) return Status::OK();

  if (valid_end < image.size() && in_checkpoint) {
    // Torn before any log frame: the damage may be inside the checkpoint,
    // which garbage collection relies on being whole once older segments
    // go. The segment holds nothing else, so write it again whole from the
    // recovered state (which its surviving checkpoint frames are part of).
    spdlog::warn("wal segment {}: damaged at offset {} before any log record; rewriting its checkpoint", path,
                 valid_end);
    segments.pop_back();
    return CreateSegment(seq);
  }
  // The last segment is appended to from where its whole frames end.
  CFS_ASSIGN_OR_RETURN(file, env->Open(path, OpenMode::kReadWrite));
  if (valid_end < image.size()) {
    spdlog::warn("wal segment {}: truncating a torn tail of {} bytes at offset {}", path, image.size() - valid_end,
                 valid_end);
    CFS_RETURN_IF_ERROR(file->Truncate(valid_end));
    CFS_RETURN_IF_ERROR(file->Sync());
  }
  file_size = valid_end;
  checkpoint_bytes = checkpoint_end;
  return Status::OK();
}

Status Wal::Impl::AddCheckpointFrame(const proto::WalRecord& record, CheckpointFrames* checkpoint) {
  GroupId group(record.group());
  CheckpointGroup& g = (*checkpoint)[group];
  bool duplicate = record.type() == proto::WAL_HARD_STATE ? g.hard_state.has_value() : g.snapshot.has_value();
  if (duplicate) {
    return Status::Corruption(fmt::format("checkpoint holds two {} records of group {}", TypeName(record.type()), group));
  }
  if (record.type() == proto::WAL_HARD_STATE) {
    g.hard_state = record.hard_state();
  } else {
    g.snapshot = record.snapshot();
  }
  return Status::OK();
}

Status Wal::Impl::CheckCheckpoint(const CheckpointFrames& checkpoint, bool whole) const {
  auto disagree = [](GroupId group, std::string_view what) {
    return Status::Corruption(
        fmt::format("checkpoint disagrees with the segments before it: group {}: {}", group, what));
  };
  for (const auto& [group, frames] : checkpoint) {
    auto it = durable.find(group);
    if (it == durable.end()) return disagree(group, "not a live group");
    if (frames.hard_state && frames.hard_state->SerializeAsString() != it->second.hard_state.SerializeAsString()) {
      return disagree(group, "hard state differs");
    }
    if (frames.snapshot && frames.snapshot->SerializeAsString() != it->second.snapshot.SerializeAsString()) {
      return disagree(group, "snapshot mark differs");
    }
    if (whole && (!frames.hard_state || !frames.snapshot)) return disagree(group, "a record is missing");
  }
  if (whole) {
    for (const auto& [group, state] : durable) {
      if (!checkpoint.contains(group)) return disagree(group, "missing");
    }
  }
  return Status::OK();
}

Status Wal::Impl::Replay(const proto::WalRecord& record) {
  GroupId group(record.group());
  switch (record.type()) {
    case proto::WAL_ENTRIES: {
      if (record.entries().empty()) return Status::Corruption(fmt::format("group {}: entries record is empty", group));
      if (auto problem = EntriesRunProblem(record.entries())) {
        return Status::Corruption(fmt::format("group {}: entries record: {}", group, *problem));
      }
      WalGroupState& state = recovered[group];
      std::vector<proto::Entry>& entries = state.entries;
      uint64_t mark = state.snapshot.index();
      uint64_t first = record.entries(0).index();
      // A run starting at or below the last index replaces the log from
      // there: a new leader overwrote the suffix (§3.5).
      if (!entries.empty() && first <= entries.back().index()) {
        if (first <= entries.front().index()) {
          entries.clear();
        } else {
          entries.resize(first - entries.front().index());
        }
      }
      uint64_t last = entries.empty() ? mark : entries.back().index();
      if (first > last + 1 && !entries.empty()) {
        return Status::Corruption(fmt::format("group {}: entries jump from {} to {}", group, last, first));
      }
      // (first > last + 1 with no entries left is a hole right after the
      // mark; Recover checks that a later mark closed it.)
      for (const proto::Entry& e : record.entries()) {
        if (e.index() > mark) entries.push_back(e);  // at or below the mark: compacted (§5.1)
      }
      return Status::OK();
    }
    case proto::WAL_HARD_STATE:
      recovered[group].hard_state = record.hard_state();
      return Status::OK();
    case proto::WAL_SNAPSHOT: {
      WalGroupState& state = recovered[group];
      uint64_t mark = record.snapshot().index();
      if (mark < state.snapshot.index()) {
        return Status::Corruption(
            fmt::format("group {}: snapshot mark moves back from {} to {}", group, state.snapshot.index(), mark));
      }
      state.snapshot = record.snapshot();
      // The snapshot holds everything through the mark (§5.1): drop those
      // entries; the ones after it stay.
      std::vector<proto::Entry>& entries = state.entries;
      if (!entries.empty() && mark >= entries.front().index()) {
        size_t drop = std::min<uint64_t>(mark - entries.front().index() + 1, entries.size());
        entries.erase(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(drop));
      }
      return Status::OK();
    }
    case proto::WAL_REMOVE_GROUP:
      recovered.erase(group);
      return Status::OK();
    default:
      return Status::Corruption(fmt::format("group {}: unknown record type {}", group, static_cast<int>(record.type())));
  }
}

// Keeps `durable` and the current segment's entry bounds in step with a
// record that is now on disk.
void Wal::Impl::NoteDurable(const proto::WalRecord& record) {
  GroupId group(record.group());
  switch (record.type()) {
    case proto::WAL_ENTRIES: {
      durable.try_emplace(group);
      uint64_t& max = segments.back().max_index[group];
      max = std::max(max, record.entries(record.entries_size() - 1).index());
      break;
    }
    case proto::WAL_HARD_STATE: durable[group].hard_state = record.hard_state(); break;
    case proto::WAL_SNAPSHOT: durable[group].snapshot = record.snapshot(); break;
    case proto::WAL_REMOVE_GROUP:
      durable.erase(group);
      // The group's entries anywhere are dead: they hold no segment back.
      for (Segment& segment : segments) segment.max_index.erase(group);
      break;
    default: break;
  }
}

Status Wal::Impl::CreateSegment(uint64_t seq) {
  std::string image;
  proto::WalRecord record;
  for (const auto& [group, state] : durable) {
    record.Clear();
    record.set_type(proto::WAL_HARD_STATE);
    record.set_group(group.value());
    *record.mutable_hard_state() = state.hard_state;
    AppendWalFrame(&image, WalFrameKind::kCheckpoint, record.SerializeAsString());
    record.Clear();
    record.set_type(proto::WAL_SNAPSHOT);
    record.set_group(group.value());
    *record.mutable_snapshot() = state.snapshot;
    AppendWalFrame(&image, WalFrameKind::kCheckpoint, record.SerializeAsString());
  }
  // Created whole (temp file, sync, rename, directory sync): a segment in
  // the log always has its complete checkpoint, which collection relies on.
  std::string path = SegmentPath(seq);
  CFS_RETURN_IF_ERROR(WriteFileAtomic(env, path, image));
  CFS_ASSIGN_OR_RETURN(auto f, env->Open(path, OpenMode::kReadWrite));
  file = std::move(f);
  file_size = checkpoint_bytes = image.size();
  segments.push_back(Segment{seq, {}});
  return Status::OK();
}

bool Wal::Impl::Deletable(const Segment& segment) const {
  for (const auto& [group, max] : segment.max_index) {
    auto it = durable.find(group);
    // (Removed groups are no longer tracked; a tracked group is live.)
    if (it == durable.end() || it->second.snapshot.index() < max) return false;
  }
  return true;
}

Wal::Wal(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Wal::~Wal() = default;

Result<std::unique_ptr<Wal>> Wal::Open(Env* env, std::string dir, WalOptions options) {
  auto impl = std::make_unique<Impl>(env, std::move(dir), options);
  CFS_RETURN_IF_ERROR(impl->Recover());
  return std::unique_ptr<Wal>(new Wal(std::move(impl)));
}

const std::map<GroupId, WalGroupState>& Wal::recovered() const { return impl_->recovered; }

std::map<GroupId, WalGroupState> Wal::TakeRecovered() { return std::exchange(impl_->recovered, {}); }

Status Wal::AppendEntries(GroupId group, const std::vector<proto::Entry>& entries) {
  Impl& w = *impl_;
  if (!w.error.ok()) return w.error;
  if (entries.empty()) return Status::OK();
  if (auto problem = EntriesRunProblem(entries)) {
    return Status::InvalidArgument(fmt::format("group {}: append: {}", group, *problem));
  }
  auto it = w.tails.find(group);
  Impl::Tail tail = it == w.tails.end() ? Impl::Tail{} : it->second;
  if (entries.front().index() > tail.last + 1) {
    return Status::InvalidArgument(fmt::format("group {}: append: entries start at {} but the log ends at {}", group,
                                               entries.front().index(), tail.last));
  }
  constexpr size_t kBudget = kWalMaxPayloadBytes - kRecordOverheadBytes;
  for (const proto::Entry& e : entries) {
    if (e.ByteSizeLong() + kEntryOverheadBytes > kBudget) {
      return Status::TooLarge(fmt::format("group {}: entry {} is {} bytes, over the log record bound", group,
                                          e.index(), e.ByteSizeLong()));
    }
  }
  // Split so no record passes the frame bound. Each later piece starts right
  // after the one before, so only the first overwrites anything at replay.
  proto::WalRecord* record = nullptr;
  size_t record_bytes = 0;
  for (const proto::Entry& e : entries) {
    size_t bytes = e.ByteSizeLong() + kEntryOverheadBytes;
    if (record == nullptr || record_bytes + bytes > kBudget) {
      record = &w.pending.emplace_back();
      record->set_type(proto::WAL_ENTRIES);
      record->set_group(group.value());
      record_bytes = 0;
    }
    *record->add_entries() = e;
    record_bytes += bytes;
  }
  Impl::Tail& t = w.tails[group];
  t.last = std::max(entries.back().index(), t.mark);
  return Status::OK();
}

Status Wal::SaveHardState(GroupId group, const proto::HardState& state) {
  Impl& w = *impl_;
  if (!w.error.ok()) return w.error;
  proto::WalRecord& record = w.pending.emplace_back();
  record.set_type(proto::WAL_HARD_STATE);
  record.set_group(group.value());
  *record.mutable_hard_state() = state;
  w.tails.try_emplace(group);
  return Status::OK();
}

Status Wal::MarkSnapshot(GroupId group, const proto::SnapshotMeta& meta) {
  Impl& w = *impl_;
  if (!w.error.ok()) return w.error;
  Impl::Tail& t = w.tails[group];
  if (meta.index() < t.mark) {
    return Status::InvalidArgument(
        fmt::format("group {}: snapshot mark {} is below the current mark {}", group, meta.index(), t.mark));
  }
  t.mark = meta.index();
  t.last = std::max(t.last, t.mark);
  proto::WalRecord& record = w.pending.emplace_back();
  record.set_type(proto::WAL_SNAPSHOT);
  record.set_group(group.value());
  *record.mutable_snapshot() = meta;
  return Status::OK();
}

Status Wal::RemoveGroup(GroupId group) {
  Impl& w = *impl_;
  if (!w.error.ok()) return w.error;
  proto::WalRecord& record = w.pending.emplace_back();
  record.set_type(proto::WAL_REMOVE_GROUP);
  record.set_group(group.value());
  w.tails.erase(group);
  return Status::OK();
}

Status Wal::Sync() {
  Impl& w = *impl_;
  if (!w.error.ok()) return w.error;
  if (w.pending.empty()) return Status::OK();
  // Roll before the batch, so the new checkpoint is exactly the synced
  // state; a segment holding only its checkpoint never rolls (many groups
  // and a small segment_bytes would otherwise roll on every Sync).
  if (w.file_size >= w.options.segment_bytes && w.file_size > w.checkpoint_bytes) {
    Status s = w.CreateSegment(w.segments.back().seq + 1);
    if (!s.ok()) return w.Fail(std::move(s).WithContext("roll segment"));
  }
  std::string batch;
  for (const proto::WalRecord& record : w.pending) {
    AppendWalFrame(&batch, WalFrameKind::kLog, record.SerializeAsString());
  }
  // One write and one fdatasync for every group's records: the group commit.
  Status s = w.file->WriteAt(w.file_size, batch);
  if (s.ok()) s = w.file->Sync();
  // After a failed write or sync the file's state is unknown (a prefix of
  // the batch may or may not be on disk): stop here, as LevelDB does.
  if (!s.ok()) return w.Fail(std::move(s));
  w.file_size += batch.size();
  for (const proto::WalRecord& record : w.pending) w.NoteDurable(record);
  w.pending.clear();
  return Status::OK();
}

Result<int> Wal::CollectGarbage() {
  Impl& w = *impl_;
  if (!w.error.ok()) return w.error;
  int removed = 0;
  while (w.segments.size() > 1 && w.Deletable(w.segments.front())) {
    std::string path = w.SegmentPath(w.segments.front().seq);
    CFS_RETURN_IF_ERROR(w.env->Remove(path));
    w.segments.pop_front();
    ++removed;
    // Each removal is durable before the next, so a crash leaves the oldest
    // segments gone, never a gap that recovery would call a lost segment.
    Status s = w.env->SyncDir(w.dir);
    if (!s.ok()) return w.Fail(std::move(s).WithContext("collect garbage"));
  }
  return removed;
}

size_t Wal::segment_count() const { return impl_->segments.size(); }

}  // namespace cfs::raft
