// BlobClient: the blob API over a cluster: put (Assign a file id from the
// master, write to the block group's primary, which replicates), get (from
// the replicas in order, failing over), delete. Masters are tried in turn and
// a NotLeader answer's hint is followed.
//
// Thread-safety: methods may be awaited concurrently from any executor.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/file_id.h"
#include "common/status.h"
#include "proto/datanode.pb.h"
#include "proto/master.pb.h"
#include "rpc/channel.h"
#include "rpc/leader_client.h"

namespace cfs::client {

namespace asio = boost::asio;

struct BlobClientOptions {
  std::vector<std::string> masters = {"127.0.0.1:9333"};
  std::chrono::milliseconds timeout{10000};
  // How long a block group's replica list is trusted before asking again.
  std::chrono::milliseconds lookup_cache_ttl{10000};
};

struct PutOptions {
  std::string collection;
  std::string replication;  // empty: the master's default
  std::string ttl;
  std::string name;
  std::string mime;
  bool sync = false;  // fsync on every replica before answering
};

struct Blob {
  std::string data;
  std::string name;
  std::string mime;
  uint32_t checksum = 0;  // raw CRC-32C of data, checked on arrival
};

class BlobClient {
 public:
  BlobClient(rpc::ChannelPool& pool, BlobClientOptions options);

  // Stores `data` and returns its file id ("3,01637037d6"). Acknowledged =
  // on every replica (in the page cache; on disk too with options.sync).
  asio::awaitable<Result<std::string>> Put(std::string data, const PutOptions& options);
  asio::awaitable<Result<Blob>> Get(std::string_view fid);
  // Reads from one datanode only, with no lookup and no failover: for
  // checking a particular replica.
  asio::awaitable<Result<Blob>> GetFrom(const std::string& address, std::string_view fid);
  asio::awaitable<Status> Delete(std::string_view fid);
  // Makes every write to `group` acknowledged so far durable on every
  // replica (DATANODE_SYNC through the primary).
  asio::awaitable<Status> Sync(BlockGroupId group);

  asio::awaitable<Result<proto::AssignResponse>> Assign(uint32_t count, const PutOptions& options);
  // Stores `data` as needle `needle_id`, one of those `assigned` reserved
  // (Assign with a count: one master call for many needles).
  asio::awaitable<Status> Write(const proto::AssignResponse& assigned, uint64_t needle_id, std::string data,
                                const PutOptions& options);
  asio::awaitable<Result<std::vector<std::string>>> Lookup(BlockGroupId group);
  asio::awaitable<Result<proto::ClusterStatusResponse>> ClusterStatus();

 private:
  // Calls the master leader (rpc/leader_client.h).
  template <typename Resp>
  asio::awaitable<Result<Resp>> MasterCall(proto::Method method, const google::protobuf::Message& req);
  void ForgetLookup(BlockGroupId group);

  rpc::ChannelPool& pool_;
  const BlobClientOptions options_;
  rpc::LeaderClient masters_;
  std::mutex mu_;
  struct CachedLookup {
    std::vector<std::string> replicas;
    std::chrono::steady_clock::time_point expires;
  };
  std::unordered_map<uint32_t, CachedLookup> lookups_;  // guarded by mu_
};

}  // namespace cfs::client
