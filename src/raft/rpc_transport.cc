#include "raft/rpc_transport.h"

#include <deque>
#include <mutex>
#include <utility>

#include <absl/container/flat_hash_map.h>
#include <fmt/format.h>

#include "common/logging.h"

namespace cfs::raft {

namespace asio = boost::asio;

struct RpcTransport::State {
  State(rpc::ChannelPool& p, RpcTransportOptions o) : pool(p), options(o), ex(p.executor()) {}

  struct Queued {
    proto::RaftBatch batch;
    size_t bytes = 0;
  };
  struct Peer {
    std::string address;
    std::deque<Queued> queue;
    bool sending = false;  // a sender coroutine runs for this peer
  };

  rpc::ChannelPool& pool;
  const RpcTransportOptions options;
  const asio::any_io_executor ex;

  mutable std::mutex mu;
  MultiRaft* host = nullptr;  // guarded by mu
  bool closed = false;        // guarded by mu
  absl::flat_hash_map<NodeId, Peer> peers;  // guarded by mu
  RpcTransportStats stats;    // guarded by mu

  // Called with mu held; the host only queues the report (never blocks).
  void ReportUnreachableLocked(NodeId node) {
    if (host && !closed) host->ReportUnreachable(node);
  }
};

// The one sender of a peer: takes what is queued (merged into one call, in
// order), sends it, repeats until the queue is empty.
asio::awaitable<void> RpcTransport::SendLoop(std::shared_ptr<State> s, NodeId to) {
  for (;;) {
    proto::RaftBatch batch;
    std::string address;
    {
      std::lock_guard l(s->mu);
      auto& peer = s->peers[to];
      if (s->closed || peer.queue.empty()) {
        peer.sending = false;
        co_return;
      }
      batch = std::move(peer.queue.front().batch);
      size_t bytes = peer.queue.front().bytes;
      peer.queue.pop_front();
      // Merging keeps the order: later messages are appended after.
      while (!peer.queue.empty() && bytes + peer.queue.front().bytes <= s->options.max_merged_bytes) {
        bytes += peer.queue.front().bytes;
        batch.MergeFrom(peer.queue.front().batch);
        peer.queue.pop_front();
      }
      address = peer.address;
      ++s->stats.calls;
    }
    std::shared_ptr<rpc::Channel> channel = s->pool.Get(address);
    proto::RaftBatchResponse resp;
    Result<std::string> r = co_await channel->Call(proto::RAFT_BATCH, batch, &resp, std::string(), s->options.batch_timeout);
    if (!r.ok()) {
      spdlog::debug("raft transport: batch to node {} at {}: {}", to, address, r.status().ToString());
      std::lock_guard l(s->mu);
      ++s->stats.failed_calls;
      s->ReportUnreachableLocked(to);
    }
  }
}

asio::awaitable<void> RpcTransport::SendChunk(std::shared_ptr<State> s, std::string address,
                                              proto::SnapshotChunk chunk, std::string data,
                                              std::function<void(Status)> done) {
  std::shared_ptr<rpc::Channel> channel = s->pool.Get(address);
  proto::SnapshotChunkResponse resp;
  Result<std::string> r =
      co_await channel->Call(proto::RAFT_SNAPSHOT_CHUNK, chunk, &resp, std::move(data), s->options.chunk_timeout);
  done(r.status());
}

RpcTransport::RpcTransport(rpc::ChannelPool& pool, RpcTransportOptions options)
    : state_(std::make_shared<State>(pool, options)) {}

RpcTransport::~RpcTransport() { Close(); }

void RpcTransport::SetHost(MultiRaft* host) {
  std::lock_guard l(state_->mu);
  state_->host = host;
}

void RpcTransport::SetPeer(NodeId node, std::string address) {
  std::lock_guard l(state_->mu);
  state_->peers[node].address = std::move(address);
}

void RpcTransport::Send(NodeId to, proto::RaftBatch batch) {
  const size_t bytes = batch.ByteSizeLong();
  std::lock_guard l(state_->mu);
  if (state_->closed) return;
  auto it = state_->peers.find(to);
  if (it == state_->peers.end() || it->second.address.empty()) {
    ++state_->stats.dropped_batches;
    return;
  }
  State::Peer& peer = it->second;
  if (peer.queue.size() >= state_->options.max_queued_batches) {
    // The peer is down or slow: drop the oldest; Raft retransmits.
    peer.queue.pop_front();
    ++state_->stats.dropped_batches;
    state_->ReportUnreachableLocked(to);
  }
  peer.queue.push_back(State::Queued{std::move(batch), bytes});
  if (!peer.sending) {
    peer.sending = true;
    asio::co_spawn(state_->ex, SendLoop(state_, to), asio::detached);
  }
}

void RpcTransport::SendSnapshotChunk(NodeId to, proto::SnapshotChunk chunk, std::string data,
                                     std::function<void(Status)> done) {
  std::string address;
  {
    std::lock_guard l(state_->mu);
    auto it = state_->peers.find(to);
    if (!state_->closed && it != state_->peers.end()) address = it->second.address;
  }
  if (address.empty()) {
    done(Status::Unavailable(fmt::format("raft transport: no address for node {}", to)));
    return;
  }
  asio::co_spawn(state_->ex, SendChunk(state_, std::move(address), std::move(chunk), std::move(data), std::move(done)),
                 asio::detached);
}

void RpcTransport::Close() {
  std::lock_guard l(state_->mu);
  state_->closed = true;
  state_->host = nullptr;
  for (auto& [node, peer] : state_->peers) peer.queue.clear();
}

RpcTransportStats RpcTransport::stats() const {
  std::lock_guard l(state_->mu);
  return state_->stats;
}

void RegisterRaftHandlers(rpc::Server& server, MultiRaft* host) {
  server.Handle<proto::RaftBatch, proto::RaftBatchResponse>(
      proto::RAFT_BATCH,
      [host](proto::RaftBatch& req, std::string&,
             const rpc::Call&) -> asio::awaitable<Result<rpc::Answer<proto::RaftBatchResponse>>> {
        host->Receive(std::move(req));
        co_return rpc::Answer<proto::RaftBatchResponse>{};
      });
  server.Handle<proto::SnapshotChunk, proto::SnapshotChunkResponse>(
      proto::RAFT_SNAPSHOT_CHUNK,
      [host](proto::SnapshotChunk& req, std::string& payload,
             const rpc::Call&) -> asio::awaitable<Result<rpc::Answer<proto::SnapshotChunkResponse>>> {
        Status s = host->ReceiveSnapshotChunk(req, payload);
        if (!s.ok()) co_return s;
        co_return rpc::Answer<proto::SnapshotChunkResponse>{};
      });
}

}  // namespace cfs::raft
