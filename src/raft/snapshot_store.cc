#include "raft/snapshot_store.h"

#include <fmt/format.h>

#include "common/coding.h"
#include "common/crc32c.h"

namespace cfs::raft {
namespace {

constexpr std::string_view kMagic = "CFSS";
constexpr std::string_view kFileName = "snapshot";
constexpr std::string_view kStagedName = "snapshot.staged";
constexpr size_t kFixedBytes = 4 + 4 + 4;  // magic, meta length, checksum

}  // namespace

SnapshotStore::SnapshotStore(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}

std::string SnapshotStore::GroupDir(GroupId group) const { return fmt::format("{}/{}", dir_, group.value()); }

Status SnapshotStore::EnsureGroupDir(GroupId group) {
  std::string group_dir = GroupDir(group);
  if (env_->Exists(group_dir)) return Status::OK();
  CFS_RETURN_IF_ERROR(env_->CreateDirs(group_dir));
  // The new directory's own entry must be durable too, or a crash could
  // take the whole group directory, snapshot and all.
  return env_->SyncDir(dir_);
}

std::string SnapshotStore::Encode(const proto::SnapshotMeta& meta, std::string_view data) {
  std::string meta_bytes = meta.SerializeAsString();
  std::string file;
  file.reserve(kFixedBytes + meta_bytes.size() + data.size());
  file.append(kMagic);
  PutBE32(&file, static_cast<uint32_t>(meta_bytes.size()));
  file.append(meta_bytes);
  file.append(data);
  PutBE32(&file, crc32c::Mask(crc32c::Value(file)));
  return file;
}

Status SnapshotStore::Save(GroupId group, const proto::SnapshotMeta& meta, std::string_view data) {
  Status s = EnsureGroupDir(group);
  // Temp file, fsync, rename, fsync directory: the old snapshot or the new
  // one survives a crash, never a mix.
  if (s.ok()) s = WriteFileAtomic(env_, fmt::format("{}/{}", GroupDir(group), kFileName), Encode(meta, data));
  if (!s.ok()) return std::move(s).WithContext(fmt::format("save snapshot of group {}", group));
  return Status::OK();
}

Status SnapshotStore::Stage(GroupId group, const proto::SnapshotMeta& meta, std::string_view data) {
  Status s = EnsureGroupDir(group);
  if (s.ok()) {
    auto file = env_->Open(fmt::format("{}/{}", GroupDir(group), kStagedName), OpenMode::kTruncate);
    s = file.ok() ? (*file)->WriteAt(0, Encode(meta, data)) : file.status();
    if (s.ok()) s = (*file)->Sync();
  }
  if (!s.ok()) return std::move(s).WithContext(fmt::format("stage snapshot of group {}", group));
  return Status::OK();
}

Status SnapshotStore::Promote(GroupId group) {
  const std::string group_dir = GroupDir(group);
  Status s = env_->Rename(fmt::format("{}/{}", group_dir, kStagedName), fmt::format("{}/{}", group_dir, kFileName));
  if (s.ok()) s = env_->SyncDir(group_dir);
  if (!s.ok()) return std::move(s).WithContext(fmt::format("promote staged snapshot of group {}", group));
  return Status::OK();
}

Status SnapshotStore::Discard(GroupId group) {
  const std::string path = fmt::format("{}/{}", GroupDir(group), kStagedName);
  if (!env_->Exists(path)) return Status::OK();
  return env_->Remove(path);
}

Result<StoredSnapshot> SnapshotStore::Load(GroupId group) const {
  std::string path = fmt::format("{}/{}", GroupDir(group), kFileName);
  auto read = ReadFileToString(env_, path);
  if (!read.ok()) {
    if (read.status().Is(Code::kNotFound)) return Status::NotFound(fmt::format("group {} has no snapshot", group));
    return read.status().WithContext(fmt::format("load snapshot of group {}", group));
  }
  const std::string& file = *read;
  auto corrupt = [&](std::string what) {
    return Status::Corruption(fmt::format("snapshot {} ({} bytes): {}", path, file.size(), what));
  };
  if (file.size() < kFixedBytes) return corrupt("shorter than its fixed fields");
  if (std::string_view(file).substr(0, 4) != kMagic) return corrupt("bad magic");
  uint32_t stored = crc32c::Unmask(DecodeBE32(file.data() + file.size() - 4));
  uint32_t computed = crc32c::Value(file.data(), file.size() - 4);
  if (stored != computed) {
    return corrupt(fmt::format("checksum mismatch: stored {:#010x}, computed {:#010x}", stored, computed));
  }
  uint32_t meta_len = DecodeBE32(file.data() + 4);
  if (meta_len > file.size() - kFixedBytes) return corrupt(fmt::format("meta length {} runs past the end", meta_len));
  StoredSnapshot snapshot;
  if (!snapshot.meta.ParseFromArray(file.data() + 8, static_cast<int>(meta_len))) {
    return corrupt("meta does not parse");
  }
  snapshot.data.assign(file, 8 + meta_len, file.size() - kFixedBytes - meta_len);
  return snapshot;
}

Status SnapshotStore::Remove(GroupId group) {
  std::string group_dir = GroupDir(group);
  bool removed = false;
  for (std::string path : {fmt::format("{}/{}", group_dir, kFileName), fmt::format("{}/{}.tmp", group_dir, kFileName),
                           fmt::format("{}/{}", group_dir, kStagedName)}) {
    if (!env_->Exists(path)) continue;
    Status s = env_->Remove(path);
    if (!s.ok()) return std::move(s).WithContext(fmt::format("remove snapshot of group {}", group));
    removed = true;
  }
  // (The Env cannot remove directories: the empty group directory stays,
  // and a later Load finds no snapshot in it.)
  if (removed) CFS_RETURN_IF_ERROR(env_->SyncDir(group_dir));
  return Status::OK();
}

}  // namespace cfs::raft
