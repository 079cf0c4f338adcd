// FaultInjectionEnv: an Env that wraps another and fails on command, for
// tests of error and crash paths.
//
// Faults:
//  - FailNextWrite / FailNextSync: the next WriteAt / Sync of a file whose path
//    contains `path_part` returns IOError and changes nothing.
//  - TearNextWrite(n): the next WriteAt writes only its first n bytes (all of
//    them when n covers the write), then returns IOError (a torn write).
//  - CrashAfter(n): the n-th mutating call from now (write, sync, truncate,
//    preallocate, rename, remove, create, dir sync) and every one after it fail
//    as if the process had died at that point: nothing more reaches the disk.
//  - DropUnsyncedData(): truncates each file written through this env back to
//    its size at its last successful Sync, as a power cut loses the page
//    cache. Exact for append-only files, which is how ContainerFS writes.
//    Bytes a file held when this env first opened it for writing count as
//    synced; a file never synced through this env otherwise drops to 0.
//  - FlipByte(path, offset): corrupts one byte on disk (bit rot).
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "common/env.h"

namespace cfs::testing {

class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base = Env::Default()) : base_(base) {}

  void FailNextWrite(std::string path_part = "");
  void FailNextSync(std::string path_part = "");
  void TearNextWrite(size_t keep_bytes, std::string path_part = "");
  // The n-th (1-based) mutating call from now fails and the env stays crashed.
  void CrashAfter(int n);
  bool crashed() const;
  // Counts mutating calls since construction or ResetCounters.
  int mutations() const;
  void ResetCounters();
  // Clears every pending fault and the crashed state.
  void Heal();
  Status DropUnsyncedData();
  Status FlipByte(const std::string& path, uint64_t offset);

  Result<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override;
  bool Exists(const std::string& path) override { return base_->Exists(path); }
  Result<uint64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Status Rename(const std::string& from, const std::string& to) override;
  Status Remove(const std::string& path) override;
  Status CreateDirs(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override { return base_->ListDir(path); }
  Status SyncDir(const std::string& path) override;

 private:
  friend class FaultFile;
  enum class Kind { kWrite, kSync, kOther };
  // Decides the fate of one mutating call: nullopt to go ahead, else the error.
  // For a torn write, *keep is set to the number of bytes to write first.
  std::optional<Status> Intercept(Kind kind, const std::string& path, size_t* keep = nullptr);
  void NoteWrite(const std::string& path, uint64_t end);
  void NoteSync(const std::string& path, uint64_t size);

  struct PendingFault {
    std::string path_part;
    size_t keep_bytes = 0;
  };

  Env* base_;
  mutable std::mutex mu_;
  std::optional<PendingFault> fail_write_, fail_sync_, tear_write_;
  int crash_countdown_ = 0;  // 0: not armed
  bool crashed_ = false;
  int mutations_ = 0;
  std::map<std::string, uint64_t> synced_size_;  // files written through this env
};

}  // namespace cfs::testing
