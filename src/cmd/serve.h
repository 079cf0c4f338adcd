// What every long-running subcommand (master, datanode, server) shares.
#pragma once

#include <string>
#include <vector>

#include <functional>
#include <memory>

#include "common/status.h"
#include "rpc/http_server.h"
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

// Serves /metrics and /status on `http_address` ("off": none; empty: the
// default for `rpc_address`). An address given explicitly that cannot be
// bound is an error; a default one that cannot is logged and skipped.
Result<std::unique_ptr<rpc::HttpServer>> StartHttp(rpc::Runtime& runtime, const std::string& http_address,
                                                   const std::string& rpc_address,
                                                   std::function<std::string()> status_json);

}  // namespace cfs::cmd
