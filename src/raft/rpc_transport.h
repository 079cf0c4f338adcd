// RpcTransport: the MultiRaft host's Transport over the RPC layer, and the
// server side that hands incoming Raft RPCs to the host.
//
// - A RaftBatch goes to its node as one RAFT_BATCH call. Each peer has one
//   sender coroutine and a bounded queue, so batches to a node arrive in the
//   order they were sent; batches queued while a call is in flight are merged
//   into the next call. When the queue is full (the peer is down or slow) the
//   oldest batch is dropped: Raft retransmits, and a bounded queue keeps a
//   dead peer from growing memory.
// - A failed or dropped batch is reported with MultiRaft::ReportUnreachable.
// - Snapshot chunks go as RAFT_SNAPSHOT_CHUNK calls with the bytes as the
//   RPC payload; the host sends the next chunk only when the last is done.
//
// Thread-safety: every method may be called from any thread. Send never
// blocks (the host calls it from its raft thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "common/ids.h"
#include "raft/multiraft.h"
#include "rpc/channel.h"
#include "rpc/server.h"

namespace cfs::raft {

struct RpcTransportOptions {
  std::chrono::milliseconds batch_timeout{500};
  std::chrono::milliseconds chunk_timeout{10000};
  size_t max_queued_batches = 256;      // per peer; past it the oldest is dropped
  size_t max_merged_bytes = 4 << 20;    // one call carries at most about this much
};

struct RpcTransportStats {
  uint64_t calls = 0;            // RAFT_BATCH calls made
  uint64_t failed_calls = 0;
  uint64_t dropped_batches = 0;  // queue overflow or unknown peer
};

class RpcTransport : public Transport {
 public:
  // Calls go through `pool`'s channels; its executor runs the senders.
  explicit RpcTransport(rpc::ChannelPool& pool, RpcTransportOptions options = {});
  ~RpcTransport() override;
  RpcTransport(const RpcTransport&) = delete;
  RpcTransport& operator=(const RpcTransport&) = delete;

  // The host that failures are reported to. Set before the host starts.
  void SetHost(MultiRaft* host);
  // Where `node` listens ("host:port"). A new address replaces the old one
  // for later sends. Batches to a node without an address are dropped.
  void SetPeer(NodeId node, std::string address);

  void Send(NodeId to, proto::RaftBatch batch) override;
  void SendSnapshotChunk(NodeId to, proto::SnapshotChunk chunk, std::string data,
                         std::function<void(Status)> done) override;
  // Drops queued batches; afterwards the host is never called again.
  void Close() override;

  RpcTransportStats stats() const;

 private:
  struct State;
  static boost::asio::awaitable<void> SendLoop(std::shared_ptr<State> s, NodeId to);
  static boost::asio::awaitable<void> SendChunk(std::shared_ptr<State> s, std::string address,
                                                proto::SnapshotChunk chunk, std::string data,
                                                std::function<void(Status)> done);
  std::shared_ptr<State> state_;
};

// Registers RAFT_BATCH and RAFT_SNAPSHOT_CHUNK on `server`, handing them to
// `host`. The server must stop before `host` is destroyed.
void RegisterRaftHandlers(rpc::Server& server, MultiRaft* host);

}  // namespace cfs::raft
