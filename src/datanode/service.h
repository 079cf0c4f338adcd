// DatanodeService: the datanode's RPC edge. It turns the DATANODE_* methods
// of src/proto/datanode.proto into calls on the synchronous Store and
// BlockGroup, forwards replicated writes and deletes, and reports to the
// master with heartbeats.
//
// Replication (DESIGN.md sections 4 and 6): a Write or Delete whose request
// lists `replicas` makes this node the primary. It sends the same request,
// with `replicas` cleared, to every replica in parallel while it applies the
// request locally, and answers OK only when the local copy AND every replica
// succeeded; otherwise the call fails with the first error (the local one,
// else the first failing replica in request order, "replica ADDR: ..."),
// naming any other failures after it. A failed write may have landed on some
// replicas: the caller retries or abandons the needle id, never reads a
// half-acknowledged write as acknowledged. A replica address equal to this
// node's own address is skipped.
//
// Durability: a write is acknowledged when every replica has it in its page
// cache; with `sync` set, when every replica has made it durable (each
// replica syncs before answering).
//
// Heartbeats: StartHeartbeats sends MASTER_HEARTBEAT at once and then every
// `heartbeat_interval`, and right after each AllocateBlockGroup, trying the
// masters in turn and following a NotLeader hint. Failures are logged once
// per change of error and retried at the next tick.
//
// Threading: handlers run on the server's executor threads, concurrently;
// Append, Read, Delete and Sync run inline on them (the Store is thread-safe
// and those are short), Vacuum on a thread of the service's own pool so a
// long compaction never holds an event-loop thread. The heartbeat loop runs
// on its own strand.
//
// Lifetime: the Store and ChannelPool must outlive the service. Destroy the
// service only after its server is stopped and no call is in flight (stop
// the runtime first); Stop (also run by the destructor) waits for the
// heartbeat loop to end, so it must not be called from the last free thread
// of the executor the loop runs on.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/thread_pool.hpp>

#include "common/clock.h"
#include "common/status.h"
#include "datanode/store.h"
#include "proto/datanode.pb.h"
#include "proto/master.pb.h"
#include "rpc/channel.h"
#include "rpc/server.h"

namespace cfs::datanode {

namespace asio = boost::asio;

struct DatanodeServiceOptions {
  // host:port this node serves RPC on: its identity to the master and to
  // primaries. Must be the address peers reach it at (not "host:0").
  std::string address;
  std::string data_center;
  std::string rack;
  // The masters' RPC addresses; heartbeats go to the leader among them.
  // Empty: no heartbeats are sent.
  std::vector<std::string> masters;
  std::chrono::milliseconds heartbeat_interval{3000};
  // Deadline of one heartbeat call to one master.
  std::chrono::milliseconds master_timeout{2000};
  // Deadline of a forwarded write or delete when the incoming call has
  // none; otherwise the incoming call's remaining time, capped by this.
  std::chrono::milliseconds replica_timeout{10000};
  // Threads for blocking disk work (vacuum).
  int disk_threads = 1;
  // For the last-modified time stamped on written needles.
  Clock* clock = Clock::Real();
};

// Counters of the heartbeat loop, for tests and status pages.
struct HeartbeatStats {
  uint64_t sent = 0;    // heartbeats a master accepted
  uint64_t failed = 0;  // ticks on which no master accepted one
  std::string master;   // the master that accepted the last one
  std::string last_error;  // empty after a success
};

class DatanodeService {
 public:
  DatanodeService(Store& store, rpc::ChannelPool& channels, DatanodeServiceOptions options);
  ~DatanodeService();
  DatanodeService(const DatanodeService&) = delete;
  DatanodeService& operator=(const DatanodeService&) = delete;

  // Registers the handlers of DATANODE_ALLOCATE_BLOCK_GROUP, DATANODE_WRITE,
  // DATANODE_READ, DATANODE_DELETE, DATANODE_VACUUM and
  // DATANODE_BLOCK_GROUP_STATUS on `server` (before it listens). Errors the
  // callers see:
  //   AllocateBlockGroup: InvalidArgument (id 0, bad placement or ttl,
  //     collection with '/'), Exists "block group N already exists",
  //     NoSpace "no more free space left".
  //   Write: InvalidArgument (empty data; checksum mismatch naming the needle
  //     and both checksums, nothing stored; bad ttl; name or mime too long),
  //     NotFound "block group N is not on this datanode ADDR", ReadOnly
  //     naming the block group, NoSpace when it is full, and any replica's
  //     error as "replica ADDR: ...".
  //   Read: NotFound (no such group, needle, cookie, or expired), Corruption.
  //   Delete: NotFound from this node; replica errors as for Write.
  //   Vacuum: NotFound, ReadOnly (damaged group), IOError.
  //   BlockGroupStatus: NotFound.
  void Register(rpc::Server& server);

  // Starts the heartbeat loop on `ex` (once; later calls do nothing). Does
  // nothing when no master is configured.
  void StartHeartbeats(asio::any_io_executor ex);
  // Ends the heartbeat loop, cancelling a heartbeat in flight, and waits for
  // it to finish. Idempotent.
  void Stop();

  // What the next heartbeat will carry.
  proto::HeartbeatRequest ComposeHeartbeat() const;
  HeartbeatStats heartbeat_stats() const;
  const DatanodeServiceOptions& options() const { return options_; }

 private:
  template <typename Resp>
  using Handled = asio::awaitable<Result<rpc::Answer<Resp>>>;

  Handled<proto::AllocateBlockGroupResponse> AllocateBlockGroup(proto::AllocateBlockGroupRequest& req);
  Handled<proto::WriteResponse> Write(proto::WriteRequest& req, std::string& payload, const rpc::Call& call);
  Handled<proto::ReadResponse> Read(proto::ReadRequest& req);
  Handled<proto::DeleteResponse> Delete(proto::DeleteRequest& req, const rpc::Call& call);
  Handled<proto::SyncResponse> Sync(proto::SyncRequest& req, const rpc::Call& call);
  Handled<proto::VacuumResponse> Vacuum(proto::VacuumRequest& req);
  Handled<proto::BlockGroupStatusResponse> BlockGroupStatus(proto::BlockGroupStatusRequest& req);

  Result<std::shared_ptr<BlockGroup>> FindGroup(uint32_t id) const;
  // The replicas to forward to: `replicas` without this node's address.
  std::vector<std::string> ForwardTargets(const google::protobuf::RepeatedPtrField<std::string>& replicas) const;
  std::chrono::milliseconds ForwardTimeout(const rpc::Call& call) const;
  // Sends `message`/`payload` as `method` to every target and, meanwhile,
  // runs `local` on this thread; the combined status as the class comment
  // says. Every target is sent the same payload bytes, not a copy each.
  asio::awaitable<Status> ReplicateAndApply(proto::Method method, const std::vector<std::string>& targets,
                                            const std::string& message, const rpc::OutPayload& payload,
                                            std::chrono::milliseconds timeout, const std::function<Status()>& local);

  // Heartbeat loop, on hb_->strand.
  asio::awaitable<void> HeartbeatLoop();
  asio::awaitable<Status> SendHeartbeat();
  // Wakes the heartbeat loop to send one now (no-op when not running).
  void TriggerHeartbeat();

  Store& store_;
  rpc::ChannelPool& channels_;
  const DatanodeServiceOptions options_;
  asio::thread_pool disk_pool_;

  // The heartbeat loop's state, on its strand. Made by StartHeartbeats and
  // kept until the service goes away.
  struct Heartbeats;
  std::mutex hb_mu_;
  std::unique_ptr<Heartbeats> hb_;  // guarded by hb_mu_ (the pointer)

  mutable std::mutex stats_mu_;
  HeartbeatStats stats_;  // guarded by stats_mu_
};

}  // namespace cfs::datanode
