// PartitionRouter: a volume's meta partitions as the master reports them
// (MASTER_GET_VOLUME), and calls to a partition's leader. The client uses it
// for every metadata request; metanodes use it to reach other partitions
// (the orphan check, a rename's resolution).
//
// - Find(inode): the partition whose range [start, end] holds the inode.
// - Call(partition, ...): the leader of the partition, through a
//   LeaderClient over its replicas (leader hints followed). A NotLeader
//   without hint from every replica, or NotFound, means the view is stale:
//   it is fetched again from the master once and the call retried.
// - Refresh(): fetches the view again (also after a split, so new ids are
//   routed).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/master.pb.h"
#include "rpc/channel.h"
#include "rpc/leader_client.h"

namespace cfs::rpc {

class PartitionRouter {
 public:
  // The volume is named by `volume` (a name) or `volume_id` (when not 0).
  PartitionRouter(ChannelPool& pool, LeaderClient& masters, std::string volume, uint64_t volume_id = 0,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Fetches the view from the master. Errors: the master's (NotFound: no
  // such volume).
  asio::awaitable<Status> Refresh();
  // The last view fetched (empty before Refresh).
  proto::VolumeView view() const;

  // The partition holding `inode` in the current view: its record. NotFound
  // if no partition covers it (fetch the view again).
  Result<proto::MetaPartitionRecord> Find(uint64_t inode) const;

  // Calls the leader of `partition`; on a stale view, refreshes once and
  // retries. The answer's payload, or the last error.
  asio::awaitable<Result<std::string>> Call(uint64_t partition, proto::Method method,
                                            const google::protobuf::Message& req, google::protobuf::Message* resp);

 private:
  // The leader client of a partition (made from the view on first use).
  Result<std::shared_ptr<LeaderClient>> Leaders(uint64_t partition);

  ChannelPool& pool_;
  LeaderClient& masters_;
  const std::string volume_;
  const uint64_t volume_id_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  proto::VolumeView view_;  // guarded by mu_
  std::map<uint64_t, std::shared_ptr<LeaderClient>> leaders_;  // guarded by mu_; by partition id
};

}  // namespace cfs::rpc
