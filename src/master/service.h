// MasterService: the master's RPC edge, on a Raft group of 1 or 3 masters.
//
// Replicated: the ClusterMap (registered datanodes, grown block groups, id
// marks) is the state machine of the masters' Raft group (group 0 on a
// MultiRaft host); every change to it is a log entry, acknowledged only
// once committed. Soft: the Topology (liveness, sizes, garbage) is the
// leader's live view, rebuilt from the ClusterMap when a master takes over
// (every registered node is presumed alive until it misses its heartbeats)
// and then kept by heartbeats.
//
// Only the leader serves, once it has applied everything committed before
// its term (a ReadIndex barrier at takeover). Other masters answer NotLeader
// with the leader's address, or Unavailable while no leader is known.
//
// Assign: a writable block group of the (collection, placement, ttl) layout,
// else growth: reserve block group ids, PlanGrowth, AllocateBlockGroup on
// every chosen datanode, then a RegisterBlockGroup entry for each group all
// of whose replicas were allocated. One growth runs at a time; concurrent
// Assigns of any layout wait for it. Needle ids come from ranges the leader
// reserves with ReserveIds entries (compare-and-set on the mark), so no id
// is handed out twice, across failovers too.
//
// Thread-safety: handlers may run on any thread of the runtime; the domain
// state is guarded by mu_ (never held across a co_await).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "master/cluster_map.h"
#include "master/growth.h"
#include "master/meta_view.h"
#include "master/sequence.h"
#include "master/topology.h"
#include "proto/master.pb.h"
#include "raft/multiraft.h"
#include "raft/rpc_transport.h"
#include "rpc/channel.h"
#include "rpc/server.h"

namespace cfs::master {

namespace asio = boost::asio;

// The masters' Raft group on their MultiRaft hosts.
inline constexpr raft::GroupId kMasterGroup{0};

struct MasterOptions {
  std::string dir;      // where the Raft log and snapshots are kept
  std::string address;  // this master's RPC address
  // Every master's RPC address, in the same order on every master (the
  // position is the Raft node id, from 1). Empty: this master alone.
  std::vector<std::string> peers;
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
  // Raft: one tick; a follower that hears no leader for election_ticks to
  // 2 * election_ticks ticks campaigns.
  std::chrono::milliseconds raft_tick{100};
  int raft_election_ticks = 10;
  uint64_t raft_snapshot_entries = 10000;
  uint64_t raft_keep_entries = 1000;
  // Volumes (master/volumes.cc): a new volume has this many meta
  // partitions of meta_partition_ids inode ids each (the last is open); the
  // last one is split when it holds split_inodes inodes.
  int initial_meta_partitions = 3;
  uint64_t meta_partition_ids = uint64_t{1} << 24;
  uint64_t split_inodes = 4'000'000;
};

class MasterService {
 public:
  // Opens the Raft log under options.dir and joins (or founds) the masters'
  // group. Errors: InvalidArgument (address not among the peers), the log's.
  static Result<std::unique_ptr<MasterService>> Open(rpc::ChannelPool& pool, MasterOptions options,
                                                     Env* env = Env::Default());
  ~MasterService();
  // The master's handlers and the Raft transport's.
  void Register(rpc::Server& server);
  // Starts Raft and the dead-node and vacuum loops on `ex`.
  void Start(const asio::any_io_executor& ex);
  void Stop();
  // The /status document.
  std::string StatusJson() const;

  // The handlers' cores, callable directly by tests. Every one answers
  // NotLeader (hint: the leader's address) or Unavailable on a master that
  // is not serving.
  asio::awaitable<Result<proto::AssignResponse>> Assign(const proto::AssignRequest& req);
  asio::awaitable<Result<proto::HeartbeatResponse>> Heartbeat(const proto::HeartbeatRequest& req);
  Result<proto::LookupBlockGroupResponse> Lookup(const proto::LookupBlockGroupRequest& req) const;
  Result<proto::ClusterStatusResponse> ClusterStatus() const;
  // One round of the background work, for tests.
  std::vector<std::string> MarkDeadNodes();
  asio::awaitable<int> VacuumGarbageGroups();

  // Metanodes and volumes (master/volumes.cc).
  asio::awaitable<Result<proto::MetaHeartbeatResponse>> MetaHeartbeat(const proto::MetaHeartbeatRequest& req);
  asio::awaitable<Result<proto::VolumeView>> CreateVolume(const proto::CreateVolumeRequest& req);
  Result<proto::VolumeView> GetVolume(const proto::GetVolumeRequest& req) const;
  Result<proto::ListVolumesResponse> ListVolumes() const;
  // Background rounds (tests): metanodes silent for dead_after are marked
  // dead; the last partition of each volume past split_inodes is split;
  // replicas on dead metanodes are moved. Each returns how many it did.
  std::vector<uint64_t> MarkDeadMetaNodes();
  asio::awaitable<int> SplitFullPartitions();
  asio::awaitable<int> MoveReplicasOffDeadMetaNodes();

 private:
  MasterService(rpc::ChannelPool& pool, MasterOptions options, NodeId self);
  Status CheckServingLocked() const;
  std::string AddressOf(NodeId node) const;
  // Proposes `command` and awaits its application; NotLeader hints become
  // addresses.
  asio::awaitable<Status> Replicate(const proto::MasterCommand& command);
  // Makes `count` ids of `kind` available in its range, reserving through
  // the cluster map when needed.
  asio::awaitable<Status> EnsureIds(proto::IdKind kind, uint64_t count);
  asio::awaitable<Result<AssignTarget>> EnsureWritable(const std::string& collection, const ReplicaPlacement& placement,
                                                       const Ttl& ttl);
  asio::awaitable<Status> Grow(GrowthPlan plan);
  // Registers a metanode seen for the first time; its id.
  asio::awaitable<Result<uint64_t>> RegisterMetaNode(const proto::MetaHeartbeatRequest& req);
  proto::VolumeView VolumeViewLocked(const proto::VolumeRecord& v) const;
  std::vector<std::string> MetaAddressesLocked(const proto::MetaPartitionRecord& p) const;
  // Asks every peer of `record` to host it (join: as a new replica).
  asio::awaitable<Status> CreatePartitionReplicas(const proto::MetaPartitionRecord& record,
                                                  const std::vector<uint64_t>& on, bool join, int64_t created_ns);
  // Waits until no other volume operation runs, then owns volume_busy_.
  asio::awaitable<Status> AcquireVolumeOps();
  void ReleaseVolumeOps();
  // Releases volume_busy_ when it goes out of scope.
  struct VolumeOpsRelease {
    MasterService* service;
    ~VolumeOpsRelease();
  };
  // Raft told us who leads now (raft thread).
  void OnLeaderChange(NodeId leader, Term term);
  // Becomes the serving leader of `term` once its log is applied.
  asio::awaitable<void> TakeOver(Term term);

  rpc::ChannelPool& pool_;
  const MasterOptions options_;
  const NodeId self_;
  std::shared_ptr<ClusterMap> cluster_map_;
  std::unique_ptr<raft::RpcTransport> transport_;
  std::unique_ptr<raft::MultiRaft> raft_;
  asio::any_io_executor ex_;  // set by Start

  mutable std::mutex mu_;
  Topology topology_;     // guarded by mu_; meaningful while serving
  IdRange needle_ids_;    // guarded by mu_
  IdRange group_ids_;     // guarded by mu_
  bool reserving_[2] = {false, false};  // guarded by mu_; by IdKind
  std::mt19937_64 rng_;   // guarded by mu_
  bool growing_ = false;  // guarded by mu_
  MetaView meta_view_;    // guarded by mu_; meaningful while serving
  bool volume_busy_ = false;  // guarded by mu_: a create, split or move runs
  bool stopped_ = false;  // guarded by mu_
  NodeId leader_;         // guarded by mu_; 0: unknown
  Term leader_term_;      // guarded by mu_
  Term serving_term_;     // guarded by mu_; 0: not serving
};

}  // namespace cfs::master
