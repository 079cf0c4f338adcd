// FuseMount: a client::FileSystem mounted through libfuse 3.14's low-level
// API (DESIGN.md section 5). The session's /dev/fuse descriptor is read
// inside the client's event loop, on one strand: each request is decoded
// there, its operation runs as a coroutine on the same strand, and the reply
// is sent when the operation finishes, so many requests are in progress at
// once and no thread blocks on the network.
//
// Mount options: default_permissions (the kernel checks mode bits against
// the caller, so permissions hold for non-root users), allow_other when
// mounted by root, auto_unmount (fusermount3 unmounts if this process dies:
// a killed client leaves no dead mount), and a watchdog of our own for the
// same (a shell waiting on a pipe only this process holds), since
// fusermount3 alone left a dead mount after some SIGKILLs here. Attributes and entries are cached
// by the kernel for attr_timeout; file contents stay in the page cache
// across opens while the file's size and mtime are unchanged.
//
// Not yet: flock and POSIX record locks are the kernel's (node-local, not
// cluster-wide).
//
// Thread-safety: Start, Run and Unmount from one thread; the session runs on
// `strand`, which must be the one the FileSystem is used from.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/strand.hpp>

#include "client/file_system.h"
#include "common/status.h"

namespace cfs::fuse {

namespace asio = boost::asio;

struct MountOptions {
  std::string mountpoint;
  std::string fsname = "cfs";  // shown by mount(8) and df
  std::chrono::milliseconds attr_timeout{1000};
  bool debug = false;  // libfuse's request trace on stderr
  // Kernel readahead for the mount (root only; 0 leaves the kernel's 128
  // KiB): a sequential reader's requests are this large.
  uint32_t read_ahead_kb = 1024;
};

// The device ("major:minor") of the mount on top at `path` (canonical) in
// text of /proc/self/mountinfo's format, or "" when nothing is mounted there.
std::string MountDevice(std::string_view mountinfo, std::string_view path);

// Checks that `path` can be mounted on: an existing, empty directory that
// is not a mount point already. Errors: NotFound, NotDirectory, Busy.
Status CheckMountPoint(const std::string& path);

class FuseMount {
 public:
  ~FuseMount();

  // Mounts `fs` at options.mountpoint and starts serving on `strand`.
  static Result<std::unique_ptr<FuseMount>> Start(asio::strand<asio::any_io_executor> strand,
                                                  client::FileSystem& fs, MountOptions options);
  // Blocks until the file system is unmounted from outside (fusermount3
  // -u, umount) or Stop is called.
  void Wait();
  // Makes Wait return; any thread, does not block.
  void Stop();
  // Stops serving and unmounts. Blocks; not from a thread of the strand's
  // executor.
  void Unmount();

  struct Impl;

 private:
  explicit FuseMount(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cfs::fuse
