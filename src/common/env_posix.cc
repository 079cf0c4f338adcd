// The real Env: POSIX files with pread/pwrite/fdatasync.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include <fmt/format.h>

#include "common/env.h"

namespace cfs {
namespace {

class PosixFile final : public File {
 public:
  PosixFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFile() override { ::close(fd_); }

  Result<size_t> ReadAt(uint64_t offset, std::span<char> out) const override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, fmt::format("pread {} at {}", path_, offset + done));
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  Status WriteAt(uint64_t offset, std::string_view data) override {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, fmt::format("pwrite {} at {}", path_, offset + done));
      }
      done += static_cast<size_t>(n);
    }
    return Status::OK();
  }

  Status WritevAt(uint64_t offset, std::span<const std::string_view> parts) override {
    constexpr size_t kMaxParts = 8;
    if (parts.size() > kMaxParts) return File::WritevAt(offset, parts);
    iovec iov[kMaxParts];
    size_t count = 0, total = 0;
    for (std::string_view part : parts) {
      if (part.empty()) continue;
      iov[count++] = iovec{const_cast<char*>(part.data()), part.size()};
      total += part.size();
    }
    size_t done = 0;
    iovec* next = iov;
    while (done < total) {
      ssize_t n = ::pwritev(fd_, next, static_cast<int>(count - (next - iov)), static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return Status::FromErrno(errno, fmt::format("pwritev {} at {}", path_, offset + done));
      }
      done += static_cast<size_t>(n);
      // Skip what was written: whole parts, then into the next one.
      for (size_t left = static_cast<size_t>(n); left > 0;) {
        if (left >= next->iov_len) {
          left -= next->iov_len;
          ++next;
        } else {
          next->iov_base = static_cast<char*>(next->iov_base) + left;
          next->iov_len -= left;
          left = 0;
        }
      }
    }
    return Status::OK();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return Status::FromErrno(errno, fmt::format("fdatasync {}", path_));
    return Status::OK();
  }

  Status Truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return Status::FromErrno(errno, fmt::format("ftruncate {} to {}", path_, size));
    }
    return Status::OK();
  }

  Result<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return Status::FromErrno(errno, fmt::format("fstat {}", path_));
    return static_cast<uint64_t>(st.st_size);
  }

  Status Preallocate(uint64_t size) override {
    if (size == 0) return Status::OK();
    int rc = ::fallocate(fd_, FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(size));
    if (rc != 0 && errno != EOPNOTSUPP) {
      return Status::FromErrno(errno, fmt::format("fallocate {} bytes for {}", size, path_));
    }
    return Status::OK();
  }

  Status StartWriteback(uint64_t offset, uint64_t length) override {
    if (::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), SYNC_FILE_RANGE_WRITE) != 0) {
      return Status::FromErrno(errno, fmt::format("sync_file_range {} [{}, +{})", path_, offset, length));
    }
    return Status::OK();
  }

  Status DropCache(uint64_t offset, uint64_t length) override {
    constexpr unsigned kWriteAndWait =
        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    if (::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), kWriteAndWait) != 0) {
      return Status::FromErrno(errno, fmt::format("sync_file_range {} [{}, +{})", path_, offset, length));
    }
    // Returns the error number rather than setting errno.
    if (int rc = ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_DONTNEED);
        rc != 0) {
      return Status::FromErrno(rc, fmt::format("posix_fadvise {} [{}, +{})", path_, offset, length));
    }
    return Status::OK();
  }

  Status WillNeed(uint64_t offset, uint64_t length) const override {
    if (int rc = ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_WILLNEED);
        rc != 0) {
      return Status::FromErrno(rc, fmt::format("posix_fadvise {} [{}, +{})", path_, offset, length));
    }
    return Status::OK();
  }

  const std::string& path() const override { return path_; }

 private:
  std::string path_;
  int fd_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<File>> Open(const std::string& path, OpenMode mode) override {
    int flags = O_CLOEXEC;
    switch (mode) {
      case OpenMode::kRead: flags |= O_RDONLY; break;
      case OpenMode::kReadWrite: flags |= O_RDWR; break;
      case OpenMode::kCreate: flags |= O_RDWR | O_CREAT; break;
      case OpenMode::kCreateExclusive: flags |= O_RDWR | O_CREAT | O_EXCL; break;
      case OpenMode::kTruncate: flags |= O_RDWR | O_CREAT | O_TRUNC; break;
    }
    int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) return Status::FromErrno(errno, fmt::format("open {}", path));
    return std::unique_ptr<File>(new PosixFile(path, fd));
  }

  bool Exists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, fmt::format("stat {}", path));
    return static_cast<uint64_t>(st.st_size);
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return Status::FromErrno(errno, fmt::format("rename {} to {}", from, to));
    }
    return Status::OK();
  }

  Status Remove(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return Status::FromErrno(errno, fmt::format("unlink {}", path));
    return Status::OK();
  }

  Status CreateDirs(const std::string& path) override {
    std::error_code ec;
    std::filesystem::create_directories(path, ec);
    if (ec) return Status::FromErrno(ec.value(), fmt::format("mkdir -p {}", path));
    return Status::OK();
  }

  Result<std::vector<std::string>> ListDir(const std::string& path) override {
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return Status::FromErrno(errno, fmt::format("opendir {}", path));
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view n(e->d_name);
      if (n != "." && n != "..") names.emplace_back(n);
    }
    ::closedir(d);
    return names;
  }

  Status SyncDir(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return Status::FromErrno(errno, fmt::format("open dir {}", path));
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return Status::FromErrno(err, fmt::format("fsync dir {}", path));
    return Status::OK();
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

Status File::WritevAt(uint64_t offset, std::span<const std::string_view> parts) {
  for (std::string_view part : parts) {
    CFS_RETURN_IF_ERROR(WriteAt(offset, part));
    offset += part.size();
  }
  return Status::OK();
}

Status ReadExact(const File& file, uint64_t offset, std::span<char> out) {
  CFS_ASSIGN_OR_RETURN(size_t n, file.ReadAt(offset, out));
  if (n != out.size()) {
    return Status::Corruption(
        fmt::format("{}: short read at offset {}: wanted {} bytes, file ends after {}", file.path(), offset,
                    out.size(), n));
  }
  return Status::OK();
}

Result<std::string> ReadFileToString(Env* env, const std::string& path) {
  CFS_ASSIGN_OR_RETURN(auto file, env->Open(path, OpenMode::kRead));
  CFS_ASSIGN_OR_RETURN(uint64_t size, file->Size());
  std::string data(size, '\0');
  CFS_RETURN_IF_ERROR(ReadExact(*file, 0, data));
  return data;
}

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  {
    CFS_ASSIGN_OR_RETURN(auto file, env->Open(tmp, OpenMode::kTruncate));
    CFS_RETURN_IF_ERROR(file->WriteAt(0, data));
    CFS_RETURN_IF_ERROR(file->Sync());
  }
  CFS_RETURN_IF_ERROR(env->Rename(tmp, path));
  std::string dir = std::filesystem::path(path).parent_path().string();
  return env->SyncDir(dir.empty() ? "." : dir);
}

}  // namespace cfs
