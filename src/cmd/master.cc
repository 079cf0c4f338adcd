// `cfs master`: the master (volume manager): topology from datanode
// heartbeats, Assign with block group growth, lookups, cluster status,
// metanodes and volumes (meta partitions: creation, split, replica moves);
// one master alone or a Raft group of masters (--peers).
#include <iostream>

#include <fmt/format.h>

#include "cmd/commands.h"
#include "cmd/serve.h"
#include "common/logging.h"
#include "master/service.h"
#include "rpc/server.h"

namespace cfs::cmd {
namespace {

struct MasterArgs {
  std::string dir;
  std::string addr = "127.0.0.1:9333";
  std::string peers;
  std::string http;
  std::string default_replication = "000";
  uint64_t size_limit_mb = 30 * 1024;
  int heartbeat_interval_ms = 3000;
  double garbage_threshold = 0.3;
  int vacuum_interval_ms = 60000;
  int threads = 1;
  int raft_tick_ms = 100;
  int raft_election_ticks = 10;
  uint64_t raft_snapshot_entries = 10000;
  uint64_t raft_keep_entries = 1000;
  int meta_partitions = 3;
  uint64_t meta_partition_ids = uint64_t{1} << 24;
  uint64_t split_inodes = 4'000'000;
};

int RunMaster(const MasterArgs& a) {
  rpc::Runtime runtime(a.threads);
  rpc::ChannelPool pool(runtime.executor());
  master::MasterOptions o;
  o.dir = a.dir;
  o.address = a.addr;
  o.default_replication = a.default_replication;
  o.block_group_size_limit_bytes = a.size_limit_mb << 20;
  o.heartbeat_interval = std::chrono::milliseconds(a.heartbeat_interval_ms);
  o.dead_after = o.heartbeat_interval * 4;
  o.garbage_threshold = a.garbage_threshold;
  o.vacuum_check_interval = std::chrono::milliseconds(a.vacuum_interval_ms);
  o.peers = SplitList(a.peers);
  o.raft_tick = std::chrono::milliseconds(a.raft_tick_ms);
  o.raft_election_ticks = a.raft_election_ticks;
  o.raft_snapshot_entries = a.raft_snapshot_entries;
  o.raft_keep_entries = a.raft_keep_entries;
  o.initial_meta_partitions = a.meta_partitions;
  o.meta_partition_ids = a.meta_partition_ids;
  o.split_inodes = a.split_inodes;
  if (a.meta_partitions < 1 || a.meta_partition_ids < 1 || a.split_inodes < 1) {
    std::cerr << "cfs master: --meta-partitions, --meta-partition-ids and --split-inodes must be positive\n";
    return 2;
  }
  auto service = master::MasterService::Open(pool, o);
  if (!service.ok()) {
    std::cerr << "cfs master: " << service.status().ToString() << "\n";
    return 2;
  }
  rpc::Server server(runtime.executor());
  (*service)->Register(server);
  auto bound = server.Listen(a.addr);
  if (!bound.ok()) {
    std::cerr << "cfs master: " << bound.status().ToString() << "\n";
    return 2;
  }
  auto http = StartHttp(runtime, a.http, *bound, [s = service->get()] { return s->StatusJson(); });
  if (!http.ok()) {
    std::cerr << "cfs master: " << http.status().ToString() << "\n";
    return 2;
  }
  (*service)->Start(runtime.executor());
  spdlog::info("master {} started (dir {}, default replication {}, masters {})", *bound, a.dir, a.default_replication,
               a.peers.empty() ? a.addr : a.peers);
  WaitForShutdownSignal(runtime);
  if (*http) (*http)->Stop();
  (*service)->Stop();
  server.Stop();
  runtime.Stop();
  return 0;
}

}  // namespace

std::function<int()> SetupMaster(CLI::App* app) {
  auto a = std::make_shared<MasterArgs>();
  app->add_option("--dir", a->dir, "where the master keeps its state (Raft log and snapshots)")->required();
  app->add_option("--addr", a->addr, "HOST:PORT to serve RPC on")->capture_default_str();
  app->add_option("--peers", a->peers,
                  "every master's HOST:PORT, comma-separated, in the same order on each (this one's --addr among "
                  "them); default: this master alone");
  app->add_option("--http", a->http, "HOST:PORT for /metrics and /status (default: RPC port + 10000; off: none)");
  app->add_option("--default-replication", a->default_replication, "placement xyz when Assign names none")
      ->capture_default_str();
  app->add_option("--block-group-size-limit-mb", a->size_limit_mb, "block groups this big take no more writes")
      ->capture_default_str();
  app->add_option("--heartbeat-interval-ms", a->heartbeat_interval_ms,
                  "expected datanode heartbeat interval; 4 missed mark a node dead")
      ->capture_default_str();
  app->add_option("--garbage-threshold", a->garbage_threshold, "vacuum block groups with more garbage than this ratio")
      ->capture_default_str();
  app->add_option("--vacuum-interval-ms", a->vacuum_interval_ms, "how often to look for block groups to vacuum")
      ->capture_default_str();
  app->add_option("--threads", a->threads, "event loop threads")->capture_default_str();
  app->add_option("--raft-tick-ms", a->raft_tick_ms, "Raft tick")->capture_default_str();
  app->add_option("--raft-election-ticks", a->raft_election_ticks,
                  "ticks without a leader before an election (randomized up to twice this)")
      ->capture_default_str();
  app->add_option("--raft-snapshot-entries", a->raft_snapshot_entries, "snapshot the cluster map after this many entries")
      ->capture_default_str();
  app->add_option("--raft-keep-entries", a->raft_keep_entries, "log entries kept behind a snapshot for slow masters")
      ->capture_default_str();
  app->add_option("--meta-partitions", a->meta_partitions, "meta partitions a new volume starts with")
      ->capture_default_str();
  app->add_option("--meta-partition-ids", a->meta_partition_ids, "inode ids per meta partition (and per split)")
      ->capture_default_str();
  app->add_option("--split-inodes", a->split_inodes, "split a volume's last meta partition at this many inodes")
      ->capture_default_str();
  return [a] { return RunMaster(*a); };
}

}  // namespace cfs::cmd
