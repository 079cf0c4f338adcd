// The Env file seam. Domain code reaches files only through an Env, so tests
// can inject faults (testing/fault_injection_env.h) without #ifdef hooks.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace cfs {

enum class OpenMode {
  kRead,            // existing file, read only
  kReadWrite,       // existing file, read and write
  kCreate,          // read and write, created if missing
  kCreateExclusive, // read and write, fails with Exists if present
  kTruncate,        // read and write, created or emptied
};

// An open file read and written at explicit offsets.
// Thread-safety: ReadAt may run concurrently with itself and with one writer
// (WriteAt/Sync/Truncate); writers are serialized by the caller.
class File {
 public:
  virtual ~File() = default;
  // Reads up to out.size() bytes at `offset` and returns how many were read;
  // fewer only when the file ends first.
  virtual Result<size_t> ReadAt(uint64_t offset, std::span<char> out) const = 0;
  // Writes all of `data` at `offset` or fails. Durable only after Sync.
  virtual Status WriteAt(uint64_t offset, std::string_view data) = 0;
  // Writes the parts back to back from `offset`, as WriteAt of their
  // concatenation would (a gather write: no buffer joins them). The default
  // writes them one at a time with WriteAt.
  virtual Status WritevAt(uint64_t offset, std::span<const std::string_view> parts);
  // Makes every completed write durable (fdatasync).
  virtual Status Sync() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() const = 0;
  // Reserves disk space for `size` bytes without changing the file size.
  virtual Status Preallocate(uint64_t size) = 0;
  // Hints for data written once and not soon read again. Neither changes the
  // contents or makes anything durable (that is Sync's work).
  // StartWriteback: begin writing the range back to disk without waiting.
  virtual Status StartWriteback(uint64_t offset, uint64_t length) = 0;
  // DropCache: write the range back, wait for it, then let the kernel drop
  // the range's whole pages from its cache (a later read goes to the disk).
  virtual Status DropCache(uint64_t offset, uint64_t length) = 0;
  // A hint for data about to be read: start reading the range into the
  // cache without waiting. A read of a large range then waits for one
  // request of it all instead of a readahead window at a time.
  virtual Status WillNeed(uint64_t offset, uint64_t length) const = 0;
  virtual const std::string& path() const = 0;
};

// Reads exactly out.size() bytes at `offset`; a short read is Corruption
// naming the file and range (the caller expected the bytes to be there).
Status ReadExact(const File& file, uint64_t offset, std::span<char> out);

class Env {
 public:
  virtual ~Env() = default;
  // The real file system.
  static Env* Default();

  virtual Result<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) = 0;
  virtual bool Exists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Atomically replaces `to` with `from`. Durable after SyncDir of the parent.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  virtual Status Remove(const std::string& path) = 0;
  // Creates the directory and its missing parents.
  virtual Status CreateDirs(const std::string& path) = 0;
  // Names (not paths) of the entries of a directory, without "." and "..".
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  // Makes renames, creations and removals in the directory durable.
  virtual Status SyncDir(const std::string& path) = 0;
};

// Reads a whole file into memory.
Result<std::string> ReadFileToString(Env* env, const std::string& path);
// Writes a whole file atomically: temp file, fsync, rename, fsync directory.
Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data);

}  // namespace cfs
