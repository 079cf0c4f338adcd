// `cfs metanode`: meta partitions (inode and dentry trees) on Raft, served
// over RPC, with heartbeats to the master. The first start registers with
// the master for an id; later starts serve the partitions in --dir at once.
#include <malloc.h>

#include <future>
#include <iostream>

#include <fmt/format.h>

#include "cmd/commands.h"
#include "cmd/serve.h"
#include "common/logging.h"
#include "common/strings.h"
#include "metanode/service.h"
#include "rpc/server.h"

namespace cfs::cmd {
namespace {

struct MetanodeArgs {
  std::string dir;
  std::string addr = "127.0.0.1:9400";
  std::string masters = "127.0.0.1:9333";
  std::string http;
  std::string memory_limit;
  int threads = 2;
  int heartbeat_interval_ms = 3000;
  int raft_tick_ms = 100;
  int raft_election_ticks = 10;
  uint64_t raft_snapshot_entries = 50000;
  int register_timeout_s = 60;
  int housekeeping_interval_ms = 1000;
  int expire_interval_ms = 10000;
  int orphan_grace_s = 300;
  int deletion_grace_ms = 10000;
};

int RunMetanode(const MetanodeArgs& a) {
  // glibc's default of 8 malloc arenas per core keeps freed Raft entries and
  // RPC buffers in many arenas: measured with 200,000 files, 433 bytes per
  // file resident with the default and 302 with two arenas
  // (docs/benchmarks.md). The trees are allocated by one thread anyway.
  mallopt(M_ARENA_MAX, 2);
  auto endpoint = rpc::ParseEndpoint(a.addr);
  if (!endpoint.ok() || endpoint->port() == 0) {
    std::cerr << "cfs metanode: --addr needs HOST:PORT with a fixed port: the address is the node's identity\n";
    return 2;
  }
  metanode::MetanodeOptions o;
  o.dir = a.dir;
  o.address = a.addr;
  o.masters = SplitList(a.masters);
  o.heartbeat_interval = std::chrono::milliseconds(a.heartbeat_interval_ms);
  o.raft_tick = std::chrono::milliseconds(a.raft_tick_ms);
  o.raft_election_ticks = a.raft_election_ticks;
  o.raft_snapshot_entries = a.raft_snapshot_entries;
  o.housekeeping_interval = std::chrono::milliseconds(a.housekeeping_interval_ms);
  o.expire_interval = std::chrono::milliseconds(a.expire_interval_ms);
  o.orphan_grace = std::chrono::seconds(a.orphan_grace_s);
  o.deletion_grace = std::chrono::milliseconds(a.deletion_grace_ms);
  if (!a.memory_limit.empty()) {
    auto limit = ParseSize(a.memory_limit);
    if (!limit.ok()) {
      std::cerr << "cfs metanode: --memory-limit: " << limit.status().message() << "\n";
      return 2;
    }
    o.memory_limit_bytes = *limit;
  }
  rpc::Runtime runtime(a.threads);
  rpc::ChannelPool pool(runtime.executor());
  auto id = runtime.Run(metanode::MetanodeService::ObtainNodeId(pool, o, std::chrono::seconds(a.register_timeout_s)));
  if (!id.ok()) {
    std::cerr << "cfs metanode: " << id.status().ToString() << "\n";
    runtime.Stop();
    return 2;
  }
  auto service = metanode::MetanodeService::Open(pool, o, *id);
  if (!service.ok()) {
    std::cerr << "cfs metanode: " << service.status().ToString() << "\n";
    runtime.Stop();
    return 2;
  }
  rpc::Server server(runtime.executor());
  (*service)->Register(server);
  auto bound = server.Listen(a.addr);
  if (!bound.ok()) {
    std::cerr << "cfs metanode: cannot serve: " << bound.status().message() << "\n";
    runtime.Stop();
    return 2;
  }
  auto http = StartHttp(runtime, a.http, *bound, [s = service->get()] { return s->StatusJson(); });
  if (!http.ok()) {
    std::cerr << "cfs metanode: " << http.status().ToString() << "\n";
    runtime.Stop();
    return 2;
  }
  (*service)->Start(runtime.executor());
  spdlog::info("metanode {} started (id {}, dir {}, {} meta partition(s), masters {})", *bound, *id, a.dir,
               (*service)->Partitions().size(), a.masters);
  WaitForShutdownSignal(runtime);
  if (*http) (*http)->Stop();
  (*service)->Stop();
  server.Stop();
  runtime.Stop();
  return 0;
}

}  // namespace

std::function<int()> SetupMetanode(CLI::App* app) {
  auto a = std::make_shared<MetanodeArgs>();
  app->add_option("--dir", a->dir, "where the metanode keeps its partitions (Raft log and snapshots)")->required();
  app->add_option("--addr", a->addr, "HOST:PORT to serve RPC on (the node's identity)")->capture_default_str();
  app->add_option("--master", a->masters, "HOST:PORT[,HOST:PORT...] of the masters")->capture_default_str();
  app->add_option("--http", a->http, "HOST:PORT for /metrics and /status (default: RPC port + 10000; off: none)");
  app->add_option("--memory-limit", a->memory_limit, "memory the master may fill with partitions (default: all)");
  app->add_option("--threads", a->threads, "event loop threads")->capture_default_str();
  app->add_option("--heartbeat-interval-ms", a->heartbeat_interval_ms, "heartbeats to the master")->capture_default_str();
  app->add_option("--raft-tick-ms", a->raft_tick_ms, "Raft tick")->capture_default_str();
  app->add_option("--raft-election-ticks", a->raft_election_ticks, "ticks without a leader before an election")
      ->capture_default_str();
  app->add_option("--raft-snapshot-entries", a->raft_snapshot_entries, "snapshot a partition after this many entries")
      ->capture_default_str();
  app->add_option("--register-timeout-s", a->register_timeout_s, "first start: how long to wait for the master")
      ->capture_default_str();
  app->add_option("--housekeeping-interval-ms", a->housekeeping_interval_ms,
                  "how often a partition leader checks orphans, renames left by clients and deletions")
      ->capture_default_str();
  app->add_option("--expire-interval-ms", a->expire_interval_ms, "how often a partition leader expires leases")
      ->capture_default_str();
  app->add_option("--orphan-grace-s", a->orphan_grace_s, "an inode without a dentry is reclaimed after this")
      ->capture_default_str();
  app->add_option("--deletion-grace-ms", a->deletion_grace_ms,
                  "a freed needle is deleted on its datanodes no sooner than this (readers may hold it)")
      ->capture_default_str();
  return [a] { return RunMetanode(*a); };
}

}  // namespace cfs::cmd
