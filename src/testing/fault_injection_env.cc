#include "testing/fault_injection_env.h"

#include <algorithm>

#include <fmt/format.h>

namespace cfs::testing {

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectionEnv* env, std::unique_ptr<File> base) : env_(env), base_(std::move(base)) {}

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) const override { return base_->ReadAt(offset, out); }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    size_t keep = 0;  // set by Intercept for a torn write only
    if (auto err = env_->Intercept(FaultInjectionEnv::Kind::kWrite, path(), &keep)) {
      // The torn prefix (all of `data` when keep covers it) reaches the file,
      // unsynced: note it so DropUnsyncedData can take it back.
      if (keep > 0 && base_->WriteAt(offset, data.substr(0, keep)).ok()) {
        env_->NoteWrite(path(), offset + std::min(keep, data.size()));
      }
      return *err;
    }
    CFS_RETURN_IF_ERROR(base_->WriteAt(offset, data));
    env_->NoteWrite(path(), offset + data.size());
    return Status::OK();
  }

  // One write of the joined parts: a fault or tear applies to the whole.
  Status WritevAt(uint64_t offset, std::span<const std::string_view> parts) override {
    std::string joined;
    for (std::string_view part : parts) joined.append(part);
    return WriteAt(offset, joined);
  }

  Status Sync() override {
    if (auto err = env_->Intercept(FaultInjectionEnv::Kind::kSync, path())) return *err;
    CFS_RETURN_IF_ERROR(base_->Sync());
    CFS_ASSIGN_OR_RETURN(uint64_t size, base_->Size());
    env_->NoteSync(path(), size);
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    if (auto err = env_->Intercept(FaultInjectionEnv::Kind::kOther, path())) return *err;
    return base_->Truncate(size);
  }

  Result<uint64_t> Size() const override { return base_->Size(); }

  Status Preallocate(uint64_t size) override {
    if (auto err = env_->Intercept(FaultInjectionEnv::Kind::kOther, path())) return *err;
    return base_->Preallocate(size);
  }

  Status StartWriteback(uint64_t offset, uint64_t length) override { return base_->StartWriteback(offset, length); }
  Status DropCache(uint64_t offset, uint64_t length) override { return base_->DropCache(offset, length); }
  Status WillNeed(uint64_t offset, uint64_t length) const override { return base_->WillNeed(offset, length); }

  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv* env_;
  std::unique_ptr<File> base_;
};

void FaultInjectionEnv::FailNextWrite(std::string path_part) {
  std::lock_guard l(mu_);
  fail_write_ = PendingFault{std::move(path_part), 0};
}

void FaultInjectionEnv::FailNextSync(std::string path_part) {
  std::lock_guard l(mu_);
  fail_sync_ = PendingFault{std::move(path_part), 0};
}

void FaultInjectionEnv::TearNextWrite(size_t keep_bytes, std::string path_part) {
  std::lock_guard l(mu_);
  tear_write_ = PendingFault{std::move(path_part), keep_bytes};
}

void FaultInjectionEnv::CrashAfter(int n) {
  std::lock_guard l(mu_);
  crash_countdown_ = n;
}

bool FaultInjectionEnv::crashed() const {
  std::lock_guard l(mu_);
  return crashed_;
}

int FaultInjectionEnv::mutations() const {
  std::lock_guard l(mu_);
  return mutations_;
}

void FaultInjectionEnv::ResetCounters() {
  std::lock_guard l(mu_);
  mutations_ = 0;
}

void FaultInjectionEnv::Heal() {
  std::lock_guard l(mu_);
  fail_write_.reset();
  fail_sync_.reset();
  tear_write_.reset();
  crash_countdown_ = 0;
  crashed_ = false;
}

std::optional<Status> FaultInjectionEnv::Intercept(Kind kind, const std::string& path, size_t* keep) {
  std::lock_guard l(mu_);
  ++mutations_;
  if (crashed_) return Status::IOError(fmt::format("injected: crashed before touching {}", path));
  if (crash_countdown_ > 0 && --crash_countdown_ == 0) {
    crashed_ = true;
    if (keep) *keep = 0;
    return Status::IOError(fmt::format("injected: crash at {}", path));
  }
  auto matches = [&](const std::optional<PendingFault>& f) {
    return f && path.find(f->path_part) != std::string::npos;
  };
  if (kind == Kind::kWrite && matches(tear_write_)) {
    *keep = tear_write_->keep_bytes;
    tear_write_.reset();
    return Status::IOError(fmt::format("injected: torn write to {} after {} bytes", path, *keep));
  }
  if (kind == Kind::kWrite && matches(fail_write_)) {
    fail_write_.reset();
    if (keep) *keep = 0;
    return Status::IOError(fmt::format("injected: write to {} failed", path));
  }
  if (kind == Kind::kSync && matches(fail_sync_)) {
    fail_sync_.reset();
    return Status::IOError(fmt::format("injected: sync of {} failed", path));
  }
  return std::nullopt;
}

void FaultInjectionEnv::NoteWrite(const std::string& path, uint64_t) {
  std::lock_guard l(mu_);
  synced_size_.try_emplace(path, 0);
}

void FaultInjectionEnv::NoteSync(const std::string& path, uint64_t size) {
  std::lock_guard l(mu_);
  synced_size_[path] = size;
}

Result<std::unique_ptr<File>> FaultInjectionEnv::Open(const std::string& path, OpenMode mode) {
  bool creates = mode == OpenMode::kCreate || mode == OpenMode::kCreateExclusive || mode == OpenMode::kTruncate;
  if (creates) {
    if (auto err = Intercept(Kind::kOther, path)) return *err;
  }
  CFS_ASSIGN_OR_RETURN(auto file, base_->Open(path, mode));
  if (mode == OpenMode::kTruncate) {
    std::lock_guard l(mu_);
    synced_size_[path] = 0;
  } else if (mode != OpenMode::kRead) {
    // Bytes a file already holds when this env first opens it for writing
    // were written before it: count them as synced.
    CFS_ASSIGN_OR_RETURN(uint64_t size, file->Size());
    std::lock_guard l(mu_);
    synced_size_.try_emplace(path, size);
  }
  return std::unique_ptr<File>(new FaultFile(this, std::move(file)));
}

Status FaultInjectionEnv::Rename(const std::string& from, const std::string& to) {
  if (auto err = Intercept(Kind::kOther, from)) return *err;
  CFS_RETURN_IF_ERROR(base_->Rename(from, to));
  std::lock_guard l(mu_);
  auto it = synced_size_.find(from);
  if (it != synced_size_.end()) {
    synced_size_[to] = it->second;
    synced_size_.erase(it);
  } else {
    synced_size_.erase(to);
  }
  return Status::OK();
}

Status FaultInjectionEnv::Remove(const std::string& path) {
  if (auto err = Intercept(Kind::kOther, path)) return *err;
  CFS_RETURN_IF_ERROR(base_->Remove(path));
  std::lock_guard l(mu_);
  synced_size_.erase(path);
  return Status::OK();
}

Status FaultInjectionEnv::CreateDirs(const std::string& path) {
  if (auto err = Intercept(Kind::kOther, path)) return *err;
  return base_->CreateDirs(path);
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  if (auto err = Intercept(Kind::kOther, path)) return *err;
  return base_->SyncDir(path);
}

Status FaultInjectionEnv::DropUnsyncedData() {
  std::map<std::string, uint64_t> sizes;
  {
    std::lock_guard l(mu_);
    sizes = synced_size_;
  }
  for (const auto& [path, size] : sizes) {
    if (!base_->Exists(path)) continue;
    CFS_ASSIGN_OR_RETURN(auto file, base_->Open(path, OpenMode::kReadWrite));
    CFS_ASSIGN_OR_RETURN(uint64_t now, file->Size());
    if (now > size) CFS_RETURN_IF_ERROR(file->Truncate(size));
  }
  return Status::OK();
}

Status FaultInjectionEnv::FlipByte(const std::string& path, uint64_t offset) {
  CFS_ASSIGN_OR_RETURN(auto file, base_->Open(path, OpenMode::kReadWrite));
  char b;
  CFS_RETURN_IF_ERROR(ReadExact(*file, offset, std::span<char>(&b, 1)));
  b = static_cast<char>(b ^ 0xff);
  return file->WriteAt(offset, std::string_view(&b, 1));
}

}  // namespace cfs::testing
