// MasterService: the master's RPC edge. It turns heartbeats, Assign, lookups
// and status requests into calls on the Topology and the id Sequencers, and
// runs the background work (marking dead datanodes, triggering vacuum).
//
// Assign: a writable block group of the (collection, placement, ttl) layout,
// else growth: PlanGrowth, AllocateBlockGroup on every chosen datanode,
// RegisterGrownGroup for each group all of whose replicas were allocated.
// One growth runs at a time; concurrent Assigns of any layout wait for it.
// Needle ids come from a sequence reserved in batches on disk and are never
// reused after a restart. The topology itself is rebuilt from heartbeats
// after a restart, as in SeaweedFS.
//
// Thread-safety: handlers may run on any thread of the runtime; the domain
// state is guarded by mu_ (never held across a co_await).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "master/growth.h"
#include "master/sequence.h"
#include "master/topology.h"
#include "proto/master.pb.h"
#include "rpc/channel.h"
#include "rpc/server.h"

namespace cfs::master {

namespace asio = boost::asio;

struct MasterOptions {
  std::string dir;      // where the sequences are kept
  std::string address;  // this master's RPC address
  std::string default_replication = "000";
  uint64_t block_group_size_limit_bytes = kDefaultBlockGroupSizeLimitBytes;
  // Datanodes heartbeat this often; one missed for dead_after is dead.
  std::chrono::milliseconds heartbeat_interval{3000};
  std::chrono::milliseconds dead_after{12000};
  // Block groups whose garbage passes this ratio are vacuumed, checked this often.
  double garbage_threshold = 0.3;
  std::chrono::milliseconds vacuum_check_interval{60000};
  std::chrono::milliseconds rpc_timeout{10000};
  uint32_t max_assign_count = 100000;
};

class MasterService {
 public:
  static Result<std::unique_ptr<MasterService>> Open(rpc::ChannelPool& pool, MasterOptions options,
                                                     Env* env = Env::Default());
  void Register(rpc::Server& server);
  // Starts the dead-node and vacuum loops on `ex`.
  void StartBackground(const asio::any_io_executor& ex);
  void Stop();
  // The /status document.
  std::string StatusJson() const;

  // The handlers' cores, callable directly by tests.
  asio::awaitable<Result<proto::AssignResponse>> Assign(const proto::AssignRequest& req);
  Result<proto::HeartbeatResponse> Heartbeat(const proto::HeartbeatRequest& req);
  Result<proto::LookupBlockGroupResponse> Lookup(const proto::LookupBlockGroupRequest& req) const;
  proto::ClusterStatusResponse ClusterStatus() const;
  // One round of the background work, for tests.
  std::vector<std::string> MarkDeadNodes();
  asio::awaitable<int> VacuumGarbageGroups();

 private:
  MasterService(rpc::ChannelPool& pool, MasterOptions options, Sequencer needle_ids, Sequencer group_ids);
  asio::awaitable<Result<AssignTarget>> EnsureWritable(const std::string& collection, const ReplicaPlacement& placement,
                                                       const Ttl& ttl);
  asio::awaitable<Status> Grow(GrowthPlan plan);

  rpc::ChannelPool& pool_;
  const MasterOptions options_;
  mutable std::mutex mu_;
  Topology topology_;     // guarded by mu_
  Sequencer needle_ids_;  // guarded by mu_
  Sequencer group_ids_;   // guarded by mu_
  std::mt19937_64 rng_;   // guarded by mu_
  bool growing_ = false;  // guarded by mu_
  bool stopped_ = false;  // guarded by mu_
};

}  // namespace cfs::master
