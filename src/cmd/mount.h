// Mounting a volume, shared by `cfs mount` and `cfs server --mount`.
#pragma once

#include <string>

#include "client/file_system.h"
#include "rpc/runtime.h"

namespace cfs::cmd {

// Mounts options.volume at `mountpoint` and serves it until SIGINT/SIGTERM
// or an unmount from outside; then flushes open files and unmounts. The exit
// code (0, or 2 with the reason on stderr). `on_mounted` runs once it is
// mounted.
int MountAndServe(rpc::Runtime& runtime, rpc::ChannelPool& pool, const client::FileSystemOptions& options,
                  const std::string& mountpoint, const std::function<void()>& on_mounted = {});

}  // namespace cfs::cmd
