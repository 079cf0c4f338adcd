// MetanodeService: a metanode's RPC edge. It hosts meta partitions
// (metanode/partition.h), each a Raft group on one MultiRaft host (group id
// = partition id, node id = the metanode's id from the master).
//
// - Writes (METANODE_WRITE): the leader stamps the command's time (its wall
//   clock; the partition keeps it monotonic) and proposes it; the answer is
//   the state machine's, once applied. Retried commands are deduplicated by
//   the partition (client id, seq), so a client may resend after a timeout.
// - Reads (METANODE_READ): linearizable: a ReadIndex, then the read runs on
//   the group's apply strand (metanode/read.h).
// - Routing errors are RPC statuses: NotLeader with the leader's address,
//   NotLeader without a hint when the partition is not hosted here,
//   Unavailable while no leader is known, Timeout.
// - Lifecycle: the master creates partitions (METANODE_CREATE_PARTITION),
//   fixes the last one's end for a split (METANODE_SET_END) and moves
//   replicas (METANODE_MOVE_REPLICA: learner, promotion once caught up,
//   removal). The hosted partitions are listed in DIR/partitions.pb, so a
//   restarted metanode serves them again at once, master or not.
// - Heartbeats to the master every heartbeat_interval: memory, and per
//   partition its role and counts (the master splits and places by them);
//   the answer lists every metanode's address (for Raft).
// - Housekeeping on the leader of each partition, every
//   housekeeping_interval: Expire (leases, unlinked inodes), the orphan
//   check (a Lookup of the orphan's dentry in its parent's partition, then
//   ConfirmLink or ReclaimOrphan), cross-partition renames their client
//   left past the expiry (RenameResolve at the destination's partition,
//   which decides, then commit or abort here), and the deletion queue
//   (needles deleted on their datanodes, then DeletionDone).
//
// Thread-safety: handlers may run on any thread; mu_ guards the tables
// (never held across a co_await). A Partition is touched only on its
// group's apply strand.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "common/env.h"
#include "metanode/partition.h"
#include "proto/master.pb.h"
#include "proto/metanode.pb.h"
#include "raft/multiraft.h"
#include "raft/rpc_transport.h"
#include "rpc/channel.h"
#include "rpc/leader_client.h"
#include "rpc/partition_router.h"
#include "rpc/server.h"

namespace cfs::metanode {

namespace asio = boost::asio;

struct MetanodeOptions {
  std::string dir;      // partitions.pb, the Raft log and snapshots
  std::string address;  // this metanode's RPC address: its identity
  std::vector<std::string> masters;
  std::chrono::milliseconds heartbeat_interval{3000};
  std::chrono::milliseconds rpc_timeout{10000};
  std::chrono::milliseconds housekeeping_interval{1000};
  std::chrono::milliseconds expire_interval{10000};
  size_t deletions_per_round = 1000;
  // A freed needle is deleted on the datanodes no sooner than this after it
  // was freed (see HousekeepPartition).
  std::chrono::milliseconds deletion_grace{10000};
  std::chrono::milliseconds raft_tick{100};
  int raft_election_ticks = 10;
  // The log is in memory until a snapshot: about 170 bytes per entry.
  // Snapshots are written by a forked child (MultiRaftOptions::fork_snapshots),
  // so they cost the apply strand only the fork.
  uint64_t raft_snapshot_entries = 50000;
  uint64_t raft_keep_entries = 5000;
  bool raft_fork_snapshots = true;
  // Reads on the leader's lease (§6.4.1: no quorum round while a quorum
  // acknowledged a heartbeat within the lease) instead of a ReadIndex round
  // each. The lease is timed on the monotonic clock, so a starved raft
  // thread (seen under ASan on 2 cores) cannot stretch it; off: ReadIndex.
  bool raft_lease_reads = true;
  int apply_threads = 1;
  std::chrono::nanoseconds lease_ttl = std::chrono::seconds(60);
  std::chrono::nanoseconds orphan_grace = std::chrono::minutes(5);
  uint64_t memory_limit_bytes = 0;  // reported to the master; 0: the machine's memory
};

struct HousekeepingStats {
  uint64_t expires = 0;
  uint64_t orphans_confirmed = 0;
  uint64_t orphans_reclaimed = 0;
  uint64_t renames_committed = 0;  // cross-partition renames resolved for a client that left
  uint64_t renames_aborted = 0;
  uint64_t needles_deleted = 0;
  uint64_t deletion_errors = 0;
};

class MetanodeService {
 public:
  // The metanode's id: from DIR/partitions.pb, else given by the master at
  // a first heartbeat (retried until `timeout`).
  static asio::awaitable<Result<NodeId>> ObtainNodeId(rpc::ChannelPool& pool, const MetanodeOptions& options,
                                                      std::chrono::milliseconds timeout, Env* env = Env::Default());

  // Opens the Raft log under options.dir and re-creates the hosted
  // partitions (restored from their snapshots and logs).
  static Result<std::unique_ptr<MetanodeService>> Open(rpc::ChannelPool& pool, MetanodeOptions options, NodeId id,
                                                       Env* env = Env::Default());
  ~MetanodeService();
  // The metanode's handlers and the Raft transport's.
  void Register(rpc::Server& server);
  // Starts Raft, heartbeats and housekeeping on `ex`.
  void Start(const asio::any_io_executor& ex);
  void Stop();
  std::string StatusJson() const;
  NodeId node_id() const { return self_; }

  // The handlers' cores (tests call them directly).
  asio::awaitable<Result<proto::MetaResponse>> Write(proto::MetaWriteRequest req);
  asio::awaitable<Result<proto::MetaResponse>> Read(proto::MetaReadRequest req);
  asio::awaitable<Status> CreatePartition(const proto::CreatePartitionRequest& req);
  asio::awaitable<Result<proto::SetEndResponse>> SetEnd(const proto::SetEndRequest& req);
  asio::awaitable<Result<proto::MoveReplicaResponse>> MoveReplica(const proto::MoveReplicaRequest& req);

  proto::MetanodeStatusResponse NodeStatus() const;

  // One round of the background work (tests).
  asio::awaitable<Status> SendHeartbeat();
  asio::awaitable<void> Housekeep(bool expire);
  HousekeepingStats housekeeping_stats() const;
  // The partitions hosted here.
  std::vector<PartitionId> Partitions() const;
  Result<raft::GroupStatus> PartitionStatus(PartitionId id) const;
  // A partition's counters (any thread).
  Result<std::pair<uint64_t, uint64_t>> PartitionCounts(PartitionId id) const;

 private:
  struct Hosted {
    proto::CreatePartitionRequest request;
    std::shared_ptr<Partition> partition;
    int64_t last_expire_ns = 0;  // on the housekeeping loop
  };

  MetanodeService(rpc::ChannelPool& pool, MetanodeOptions options, NodeId self, Env* env);
  // Every hosted partition's counters, as heartbeats and status report them.
  void Reports(google::protobuf::RepeatedPtrField<proto::MetaPartitionReport>* out) const;
  PartitionOptions OptionsFor(const proto::CreatePartitionRequest& req) const;
  Status AddGroupLocked(const proto::CreatePartitionRequest& req);
  Status SaveHostedLocked();
  void LearnAddresses(const google::protobuf::RepeatedPtrField<proto::MetaNodeRecord>& nodes);
  Result<std::shared_ptr<Partition>> FindPartition(uint64_t id) const;
  // A Raft error as the RPC status clients route by.
  Status RoutingError(Status s, uint64_t partition) const;
  std::string AddressOf(NodeId node) const;
  bool Leads(uint64_t partition) const;
  // Proposes a command (stamped with the time) and awaits its answer.
  asio::awaitable<Result<proto::MetaResponse>> Propose(uint64_t partition, proto::MetaCommand command);
  // Runs `fn` on a state that is current (linearizable): here, under the
  // leader's lease (MultiRaft::HoldsReadLease, holding Partition::ReadLock);
  // otherwise on the partition's apply strand after a ReadIndex.
  template <typename T>
  asio::awaitable<Result<T>> ReadLinearizable(uint64_t partition, std::function<T(const Partition&)> fn);
  asio::awaitable<Status> ProposeConfChange(raft::GroupId group, proto::ConfChangeType type, NodeId node);
  rpc::PartitionRouter& RouterFor(uint64_t volume);
  asio::awaitable<void> HousekeepPartition(uint64_t id, bool expire);
  asio::awaitable<Status> DeleteNeedle(const proto::Extent& e);
  // An answer Delegated to another client than `client`: the delegation is
  // recalled, and the caller waits (backing off) and tries again, until
  // `deadline`; false: the answer stands.
  asio::awaitable<bool> AwaitRecall(uint64_t partition, uint64_t client, const proto::MetaResponse& answer,
                                    std::chrono::steady_clock::time_point deadline, int attempt);
  // A request that waited for the recall of `dir` is answered (not
  // Delegated): the recall is dropped (waiters still waiting mark it again).
  void RecallDone(uint64_t partition, uint64_t dir, const Result<proto::MetaResponse>& r);
  // Tells a holder what is recalled: marks the delegation of a DelegateOp or
  // BatchOp answer, or keeps only the recalled in a DelegationsRead's.
  void TellRecalled(uint64_t partition, proto::MetaResponse* answer);

  rpc::ChannelPool& pool_;
  const MetanodeOptions options_;
  const NodeId self_;
  Env* const env_;
  rpc::LeaderClient masters_;
  std::unique_ptr<raft::RpcTransport> transport_;
  std::unique_ptr<raft::MultiRaft> raft_;
  asio::any_io_executor ex_;  // set by Start

  mutable std::mutex mu_;
  std::map<uint64_t, Hosted> hosted_;            // guarded by mu_; by partition id
  // The raft thread's leader listener takes only leaders_mu_: mu_ is held
  // across calls that wait for the raft thread (AddGroup), so the listener
  // must never need it. Order: mu_, then leaders_mu_.
  mutable std::mutex leaders_mu_;
  std::map<uint64_t, NodeId> leaders_;           // guarded by leaders_mu_; by partition id
  std::map<uint64_t, std::string> addresses_;    // guarded by mu_; metanode id -> address
  std::map<uint64_t, std::unique_ptr<rpc::PartitionRouter>> routers_;  // guarded by mu_; by volume id
  std::map<uint32_t, std::vector<std::string>> group_replicas_;        // guarded by mu_; block group -> datanodes
  HousekeepingStats hk_stats_;                   // guarded by mu_
  bool stopped_ = false;                         // guarded by mu_
  // Directories whose delegation another client waits for, by partition,
  // until their holder is told (TellRecalled).
  std::mutex recall_mu_;
  std::map<uint64_t, std::set<uint64_t>> recalls_;  // guarded by recall_mu_
};

}  // namespace cfs::metanode
