// EnvWrapper and FileWrapper: an Env and a File that forward every call to
// another, for test Envs that change one or two behaviours (count syncs, hold
// them, skip them) and inherit the rest. As LevelDB's EnvWrapper.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/env.h"

namespace cfs::testing {

class FileWrapper : public File {
 public:
  explicit FileWrapper(std::unique_ptr<File> target) : target_(std::move(target)) {}
  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) const override { return target_->ReadAt(offset, out); }
  Status WriteAt(uint64_t offset, std::string_view data) override { return target_->WriteAt(offset, data); }
  Status WritevAt(uint64_t offset, std::span<const std::string_view> parts) override {
    return target_->WritevAt(offset, parts);
  }
  Status Sync() override { return target_->Sync(); }
  Status Truncate(uint64_t size) override { return target_->Truncate(size); }
  Result<uint64_t> Size() const override { return target_->Size(); }
  Status Preallocate(uint64_t size) override { return target_->Preallocate(size); }
  Status StartWriteback(uint64_t offset, uint64_t length) override { return target_->StartWriteback(offset, length); }
  Status DropCache(uint64_t offset, uint64_t length) override { return target_->DropCache(offset, length); }
  Status WillNeed(uint64_t offset, uint64_t length) const override { return target_->WillNeed(offset, length); }
  const std::string& path() const override { return target_->path(); }

 protected:
  File& target() { return *target_; }

 private:
  std::unique_ptr<File> target_;
};

class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target = Env::Default()) : target_(target) {}
  Result<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override {
    CFS_ASSIGN_OR_RETURN(auto f, target_->Open(path, mode));
    return WrapFile(std::move(f));
  }
  bool Exists(const std::string& path) override { return target_->Exists(path); }
  Result<uint64_t> FileSize(const std::string& path) override { return target_->FileSize(path); }
  Status Rename(const std::string& from, const std::string& to) override { return target_->Rename(from, to); }
  Status Remove(const std::string& path) override { return target_->Remove(path); }
  Status CreateDirs(const std::string& path) override { return target_->CreateDirs(path); }
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return target_->ListDir(path); }
  Status SyncDir(const std::string& path) override { return target_->SyncDir(path); }

 protected:
  // What Open hands out for a file the target opened; override to wrap it.
  virtual std::unique_ptr<File> WrapFile(std::unique_ptr<File> f) { return f; }

 private:
  Env* target_;
};

}  // namespace cfs::testing
