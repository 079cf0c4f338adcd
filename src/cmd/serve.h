// What every long-running subcommand (master, datanode, server) shares.
#pragma once

#include <string>
#include <vector>

#include "rpc/runtime.h"

namespace cfs::cmd {

// Blocks until SIGINT or SIGTERM arrives, handled on `runtime`.
void WaitForShutdownSignal(rpc::Runtime& runtime);

// "a,b,c" -> {"a","b","c"}, empty parts dropped.
std::vector<std::string> SplitList(const std::string& s);

// The HTTP address a role serves /metrics and /status on when not given:
// the RPC port + 10000 on the same host (SeaweedFS's gRPC/HTTP pairing, the
// other way round). Empty if that port does not exist.
std::string DefaultHttpAddress(const std::string& rpc_address);

}  // namespace cfs::cmd
