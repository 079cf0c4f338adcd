// `cfs datanode`: block groups on local disks, served over RPC, with
// heartbeats to the master. Runs until SIGINT or SIGTERM, then stops
// serving and closes every block group (synced) before exiting.
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cmd/commands.h"
#include "cmd/serve.h"
#include "common/logging.h"
#include "datanode/service.h"
#include "datanode/store.h"
#include "rpc/runtime.h"
#include "rpc/server.h"

namespace cfs::cmd {
namespace {

struct DatanodeArgs {
  std::vector<std::string> dirs;
  int max_block_groups = 8;
  std::string addr = "127.0.0.1:8080";
  std::vector<std::string> masters = {"127.0.0.1:9333"};
  std::string dc = "dc1";
  std::string rack = "rack1";
  int threads = 1;
  int heartbeat_interval_ms = 3000;
  std::string http;
};

int RunDatanode(const DatanodeArgs& a) {
  auto endpoint = rpc::ParseEndpoint(a.addr);
  if (!endpoint.ok()) {
    std::cerr << "cfs datanode: --addr: " << endpoint.status().message() << "\n";
    return 2;
  }
  if (endpoint->port() == 0) {
    std::cerr << "cfs datanode: --addr needs a fixed port: the address is the node's identity in the cluster\n";
    return 2;
  }

  std::vector<datanode::DiskLocationSpec> specs;
  for (const auto& d : a.dirs) specs.push_back({d, a.max_block_groups});
  auto store = datanode::Store::Open(specs);
  if (!store.ok()) {
    std::cerr << "cfs datanode: " << store.status().ToString() << "\n";
    return 2;
  }
  // Block groups that failed to load are logged by the store and left out;
  // the others are served.
  for (const auto& e : (*store)->load_errors()) spdlog::warn("datanode: not serving {}", e);

  rpc::Runtime runtime(a.threads);
  rpc::ChannelPool channels(runtime.executor());
  datanode::DatanodeServiceOptions options;
  options.address = a.addr;
  options.data_center = a.dc;
  options.rack = a.rack;
  options.masters = a.masters;
  options.heartbeat_interval = std::chrono::milliseconds(a.heartbeat_interval_ms);
  auto service = std::make_unique<datanode::DatanodeService>(**store, channels, options);
  rpc::Server server(runtime.executor());
  service->Register(server);
  auto bound = server.Listen(a.addr);
  if (!bound.ok()) {
    std::cerr << "cfs datanode: cannot serve: " << bound.status().message() << "\n";
    runtime.Stop();
    return 2;
  }

  datanode::Store* st = store->get();
  auto http = StartHttp(runtime, a.http, *bound, [st, addr = *bound] {
    auto groups = st->BlockGroupStatsAll();
    uint64_t bytes = 0, needles = 0;
    for (const auto& g : groups) {
      bytes += g.size_bytes;
      needles += g.needle_count;
    }
    return fmt::format(R"({{"role":"datanode","address":"{}","block_groups":{},"free_slots":{},"bytes":{},"needles":{}}})",
                       addr, groups.size(), st->FreeSlots(), bytes, needles);
  });
  if (!http.ok()) {
    std::cerr << "cfs datanode: " << http.status().ToString() << "\n";
    server.Stop();
    runtime.Stop();
    return 2;
  }
  service->StartHeartbeats(runtime.executor());
  spdlog::info("datanode {} serving {} block groups from {} (dc {}, rack {}, masters {})", *bound,
               (*store)->BlockGroupStatsAll().size(), fmt::join(a.dirs, ","), a.dc, a.rack, fmt::join(a.masters, ","));

  WaitForShutdownSignal(runtime);
  if (*http) (*http)->Stop();
  server.Stop();
  service->Stop();
  channels.CloseAll();
  runtime.Stop();
  service.reset();
  // Closing every block group syncs its .dat and .idx.
  store->reset();
  spdlog::info("datanode {}: stopped", *bound);
  return 0;
}

}  // namespace

std::function<int()> SetupDatanode(CLI::App* app) {
  auto a = std::make_shared<DatanodeArgs>();
  app->add_option("--dir", a->dirs, "directories that hold block groups, comma-separated (created if missing)")
      ->required()
      ->delimiter(',');
  app->add_option("--max-block-groups", a->max_block_groups, "block groups each directory may hold")
      ->check(CLI::Range(0, 100'000))
      ->capture_default_str();
  app->add_option("--addr", a->addr, "HOST:PORT to serve RPC on; also the node's identity to the master and peers")
      ->capture_default_str();
  app->add_option("--master", a->masters, "the masters' RPC addresses, comma-separated")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--http", a->http, "HOST:PORT for /metrics and /status (default: RPC port + 10000; off: none)");
  app->add_option("--dc", a->dc, "data center of this node, for replica placement")->capture_default_str();
  app->add_option("--rack", a->rack, "rack of this node, for replica placement")->capture_default_str();
  app->add_option("--threads", a->threads, "event-loop threads for RPC")->check(CLI::Range(1, 256))->capture_default_str();
  app->add_option("--heartbeat-interval-ms", a->heartbeat_interval_ms, "milliseconds between heartbeats to the master")
      ->check(CLI::Range(10, 3'600'000))
      ->capture_default_str();
  app->footer("Runs until SIGINT or SIGTERM, then closes every block group (synced). Exit status 2 when it cannot "
              "start (bad directory, address in use).");
  return [a] { return RunDatanode(*a); };
}

}  // namespace cfs::cmd
