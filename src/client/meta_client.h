// MetaClient: a volume's metadata through its metanodes, the metadata half
// of the client library (the FUSE layer and `cfs bench meta` call it).
//
// - The volume view (partitions, ranges, replicas, leaders) comes from the
//   master (rpc/partition_router.h); a request goes to the partition that
//   holds its inode (for names: the parent's), to the leader, following
//   hints and retrying NotLeader/Unavailable/Timeout until the deadline.
// - Every write carries this client's id and a new sequence number, kept
//   across its retries, so the partition applies it once.
// - Operations that span partitions are done in the order that leaves
//   nothing visible half-done: a file whose parent's partition has no inode
//   ids left is created as an inode in a partition with room (an orphan
//   until confirmed; reclaimed by the metanode if this client dies), then
//   its dentry, then the confirmation. An unlink removes the dentry first,
//   then drops the link in the child's partition.
//
// Thread-safety: every method may be awaited concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/master.pb.h"
#include "proto/metanode.pb.h"
#include "rpc/channel.h"
#include "rpc/leader_client.h"
#include "rpc/partition_router.h"

namespace cfs::client {

namespace asio = boost::asio;

inline constexpr uint64_t kRootInode = 1;

struct MetaClientOptions {
  std::vector<std::string> masters = {"127.0.0.1:9333"};
  std::string volume;
  std::chrono::milliseconds timeout{30000};
};

// A MetaResponse's code and message as a Status.
Status AnswerStatus(const proto::MetaResponse& response);

class MetaClient {
 public:
  MetaClient(rpc::ChannelPool& pool, MetaClientOptions options);

  // Fetches the volume's view. Errors: NotFound (no such volume), the master's.
  asio::awaitable<Status> Open();
  proto::VolumeView view() const { return router_.view(); }
  uint64_t client_id() const { return client_id_; }

  // Creates `name` in `parent` (mode: type and permission bits, umask
  // applied). The new inode's attributes.
  asio::awaitable<Result<proto::InodeAttr>> Create(uint64_t parent, std::string_view name, uint32_t mode,
                                                   const proto::Caller& caller, uint64_t rdev = 0,
                                                   std::string_view symlink_target = {});
  asio::awaitable<Result<proto::InodeAttr>> Lookup(uint64_t parent, std::string_view name, const proto::Caller& caller);
  asio::awaitable<Result<proto::InodeAttr>> GetAttr(uint64_t inode);
  // Removes parent/name (rmdir: a directory, which must be empty).
  asio::awaitable<Status> Unlink(uint64_t parent, std::string_view name, bool rmdir, const proto::Caller& caller);

  // One command to a partition (deduplicated); the answer, error or not.
  asio::awaitable<Result<proto::MetaResponse>> Write(uint64_t partition, proto::MetaCommand command,
                                                     const proto::Caller& caller);
  // One read of a partition; the answer, error or not.
  asio::awaitable<Result<proto::MetaResponse>> Read(uint64_t partition, proto::MetaReadRequest request,
                                                    const proto::Caller& caller);
  // The partition holding `inode` (fetches the view again if none does).
  asio::awaitable<Result<uint64_t>> PartitionOf(uint64_t inode);

 private:
  // A partition with inode ids left for a new inode, preferring `preferred`.
  Result<uint64_t> PartitionWithRoom(uint64_t preferred) const;
  void MarkFull(uint64_t partition);

  rpc::ChannelPool& pool_;
  const MetaClientOptions options_;
  const uint64_t client_id_;
  std::atomic<uint64_t> seq_{0};
  rpc::LeaderClient masters_;
  rpc::PartitionRouter router_;
  mutable std::mutex mu_;
  std::set<uint64_t> full_;  // guarded by mu_: partitions that answered NoSpace
};

}  // namespace cfs::client
