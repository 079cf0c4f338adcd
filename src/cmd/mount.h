// Mounting a volume, shared by `cfs mount` and `cfs server --mount`.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "client/file_system.h"
#include "fuse/mount.h"
#include "rpc/runtime.h"

namespace cfs::cmd {

// How long the mount's idle network thread polls before it sleeps
// (rpc::Runtime): most FUSE requests and metadata answers then arrive
// while it polls. Measured here against no spin: creates 8-13 k/s instead
// of 2.3-6 k/s, small files read 2,050-2,650/s instead of 1,100-1,450/s,
// for about 1.7 times the mount's CPU while it is busy (none when idle).
inline constexpr int kMountSpinMicros = 200;

// Mounts options.volume at `mountpoint` and serves it until SIGINT/SIGTERM
// or an unmount from outside; then flushes open files and unmounts. The exit
// code (0, or 2 with the reason on stderr). `on_mounted` runs once it is
// mounted; `read_ahead_kb` is fuse::MountOptions's.
int MountAndServe(rpc::Runtime& runtime, rpc::ChannelPool& pool, const client::FileSystemOptions& options,
                  const std::string& mountpoint, const std::function<void()>& on_mounted = {},
                  uint32_t read_ahead_kb = fuse::MountOptions{}.read_ahead_kb);

}  // namespace cfs::cmd
