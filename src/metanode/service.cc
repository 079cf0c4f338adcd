#include "metanode/service.h"

#include <malloc.h>

#include <set>

#include <fmt/format.h>

#include "common/clock.h"
#include "common/logging.h"
#include "common/memory.h"
#include "common/strings.h"
#include "metanode/read.h"
#include "proto/datanode.pb.h"
#include "raft/await.h"

namespace cfs::metanode {
namespace {

constexpr const char* kHostedFile = "partitions.pb";

int64_t WallNowNs() { return Clock::Real()->WallNow().count(); }

Result<proto::HostedPartitions> LoadHosted(Env* env, const std::string& dir) {
  proto::HostedPartitions hosted;
  const std::string path = dir + "/" + kHostedFile;
  if (!env->Exists(path)) return hosted;
  CFS_ASSIGN_OR_RETURN(std::string data, ReadFileToString(env, path));
  if (!hosted.ParseFromString(data)) return Status::Corruption(fmt::format("{} does not parse", path));
  return hosted;
}

Status CheckRecord(const proto::MetaPartitionRecord& r) {
  if (r.id() == 0 || r.volume() == 0 || r.start() == 0 || r.end() < r.start()) {
    return Status::InvalidArgument(
        fmt::format("meta partition {} of volume {}: bad range [{}, {}]", r.id(), r.volume(), r.start(), r.end()));
  }
  return Status::OK();
}

}  // namespace

asio::awaitable<Result<NodeId>> MetanodeService::ObtainNodeId(rpc::ChannelPool& pool, const MetanodeOptions& options,
                                                               std::chrono::milliseconds timeout, Env* env) {
  auto hosted = LoadHosted(env, options.dir);
  if (!hosted.ok()) co_return hosted.status();
  if (hosted->node_id() != 0) co_return NodeId(hosted->node_id());
  if (options.masters.empty()) co_return Status::InvalidArgument("no master to register with");
  rpc::LeaderClient masters(pool, options.masters);
  proto::MetaHeartbeatRequest req;
  req.set_address(options.address);
  proto::MetaHeartbeatResponse resp;
  auto r = co_await masters.Call(proto::MASTER_META_HEARTBEAT, req, &resp, "", timeout);
  if (!r.ok()) co_return r.status().WithContext("register with the master");
  if (resp.id() == 0) co_return Status::Corruption("the master answered the registration without an id");
  if (Status s = env->CreateDirs(options.dir); !s.ok()) co_return s;
  hosted->set_node_id(resp.id());
  if (Status s = WriteFileAtomic(env, options.dir + "/" + kHostedFile, hosted->SerializeAsString()); !s.ok()) {
    co_return s;
  }
  spdlog::info("metanode {}: registered with the master as metanode {}", options.address, resp.id());
  co_return NodeId(resp.id());
}

Result<std::unique_ptr<MetanodeService>> MetanodeService::Open(rpc::ChannelPool& pool, MetanodeOptions options,
                                                               NodeId id, Env* env) {
  if (id.value() == 0) return Status::InvalidArgument("metanode id 0");
  CFS_RETURN_IF_ERROR(env->CreateDirs(options.dir));
  CFS_ASSIGN_OR_RETURN(proto::HostedPartitions hosted, LoadHosted(env, options.dir));
  if (hosted.node_id() != 0 && hosted.node_id() != id.value()) {
    return Status::InvalidArgument(fmt::format("{} belongs to metanode {}, not {}", options.dir, hosted.node_id(), id));
  }
  std::unique_ptr<MetanodeService> service(new MetanodeService(pool, std::move(options), id, env));
  const MetanodeOptions& o = service->options_;
  service->transport_ = std::make_unique<raft::RpcTransport>(pool);
  raft::MultiRaftOptions ro;
  ro.node = id;
  ro.dir = o.dir + "/raft";
  ro.env = env;
  ro.tick = o.raft_tick;
  ro.election_ticks = o.raft_election_ticks;
  ro.snapshot_entries = o.raft_snapshot_entries;
  ro.keep_entries = o.raft_keep_entries;
  ro.fork_snapshots = o.raft_fork_snapshots;
  ro.read_only = o.raft_lease_reads ? raft::ReadOnlyMode::kLeaseBased : raft::ReadOnlyMode::kSafe;
  ro.apply_threads = o.apply_threads;
  CFS_ASSIGN_OR_RETURN(service->raft_, raft::MultiRaft::Open(ro, service->transport_.get()));
  service->transport_->SetHost(service->raft_.get());
  MetanodeService* s = service.get();
  service->raft_->SetLeaderListener([s](raft::GroupId group, NodeId leader, Term) {
    std::lock_guard l(s->leaders_mu_);
    s->leaders_[group.value()] = leader;
  });
  std::lock_guard l(service->mu_);
  for (const auto& req : hosted.partitions()) CFS_RETURN_IF_ERROR(service->AddGroupLocked(req));
  CFS_RETURN_IF_ERROR(service->SaveHostedLocked());
  return service;
}

MetanodeService::MetanodeService(rpc::ChannelPool& pool, MetanodeOptions options, NodeId self, Env* env)
    : pool_(pool), options_(std::move(options)), self_(self), env_(env), masters_(pool, options_.masters) {}

MetanodeService::~MetanodeService() { Stop(); }

PartitionOptions MetanodeService::OptionsFor(const proto::CreatePartitionRequest& req) const {
  PartitionOptions po;
  po.id = PartitionId(req.record().id());
  po.volume = VolumeId(req.record().volume());
  po.start = InodeId(req.record().start());
  po.end = InodeId(req.record().end());
  po.created_ns = req.created_ns();
  po.lease_ttl = options_.lease_ttl;
  po.orphan_grace = options_.orphan_grace;
  return po;
}

Status MetanodeService::AddGroupLocked(const proto::CreatePartitionRequest& req) {
  CFS_RETURN_IF_ERROR(CheckRecord(req.record()));
  std::vector<NodeId> peers;
  if (!req.join()) {
    for (uint64_t p : req.record().peers()) peers.emplace_back(p);
  }
  for (const auto& n : req.meta_nodes()) {
    addresses_[n.id()] = n.address();
    if (NodeId(n.id()) != self_) transport_->SetPeer(NodeId(n.id()), n.address());
  }
  auto partition = std::make_shared<Partition>(OptionsFor(req));
  const auto t0 = std::chrono::steady_clock::now();
  CFS_RETURN_IF_ERROR(raft_->AddGroup(raft::GroupId(req.record().id()), std::move(peers), partition)
                          .WithContext(fmt::format("meta partition {}", req.record().id())));
  const auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (partition->stats().inodes.load() > 1) {
    spdlog::info("metanode {}: meta partition {} opened from its snapshot and log: {} inodes, {:.0f} ms",
                 options_.address, req.record().id(), partition->stats().inodes.load(), ms);
  }
  hosted_[req.record().id()] = Hosted{req, std::move(partition)};
  return Status::OK();
}

Status MetanodeService::SaveHostedLocked() {
  proto::HostedPartitions hosted;
  hosted.set_node_id(self_.value());
  for (const auto& [id, h] : hosted_) *hosted.add_partitions() = h.request;
  return WriteFileAtomic(env_, options_.dir + "/" + kHostedFile, hosted.SerializeAsString());
}

void MetanodeService::LearnAddresses(const google::protobuf::RepeatedPtrField<proto::MetaNodeRecord>& nodes) {
  std::lock_guard l(mu_);
  for (const auto& n : nodes) {
    auto& known = addresses_[n.id()];
    if (known == n.address()) continue;
    known = n.address();
    if (NodeId(n.id()) != self_) transport_->SetPeer(NodeId(n.id()), n.address());
  }
}

std::string MetanodeService::AddressOf(NodeId node) const {
  if (node == self_) return options_.address;
  auto it = addresses_.find(node.value());
  return it == addresses_.end() ? std::string() : it->second;
}

bool MetanodeService::Leads(uint64_t partition) const {
  std::lock_guard l(leaders_mu_);
  auto it = leaders_.find(partition);
  return it != leaders_.end() && it->second == self_;
}

Result<std::shared_ptr<Partition>> MetanodeService::FindPartition(uint64_t id) const {
  std::lock_guard l(mu_);
  if (stopped_) return Status::Unavailable(fmt::format("metanode {} is stopping", options_.address));
  auto it = hosted_.find(id);
  if (it == hosted_.end()) {
    return Status::NotLeader(fmt::format("metanode {} does not host meta partition {}", options_.address, id), "");
  }
  return it->second.partition;
}

Status MetanodeService::RoutingError(Status s, uint64_t partition) const {
  if (!s.Is(Code::kNotLeader)) return s;
  std::lock_guard l(mu_);
  const std::string leader = AddressOf(raft::HintedLeader(s));
  if (leader.empty()) {
    return Status::Unavailable(fmt::format("meta partition {}: no leader known on {}", partition, options_.address));
  }
  return Status::NotLeader(fmt::format("metanode {} does not lead meta partition {}", options_.address, partition),
                           leader);
}

asio::awaitable<Result<proto::MetaResponse>> MetanodeService::Propose(uint64_t partition, proto::MetaCommand command) {
  command.set_now_ns(WallNowNs());
  auto r = co_await raft::Propose(*raft_, raft::GroupId(partition), command.SerializeAsString(), options_.rpc_timeout);
  if (!r.ok()) co_return RoutingError(std::move(r).take_status(), partition);
  proto::MetaResponse resp;
  if (!resp.ParseFromString(*r)) {
    co_return Status::Corruption(fmt::format("meta partition {}: an answer that does not parse", partition));
  }
  co_return resp;
}

template <typename T>
asio::awaitable<Result<T>> MetanodeService::ReadLinearizable(uint64_t partition, std::function<T(const Partition&)> fn) {
  auto found = FindPartition(partition);
  if (!found.ok()) co_return found.status();
  if (raft_->HoldsReadLease(raft::GroupId(partition))) {
    // Under the lease the applied state is current: read it here, with no
    // hop to the raft thread and the apply strand.
    const Partition& p = **found;
    auto lock = p.ReadLock();
    co_return fn(p);
  }
  std::function<void(std::function<void(Result<T>)>)> start =
      [this, partition, p = *found, fn = std::move(fn)](std::function<void(Result<T>)> done) {
        raft_->ReadIndex(raft::GroupId(partition), [p, fn, done = std::move(done)](Status s) {
          if (!s.ok()) {
            done(Result<T>(std::move(s)));
            return;
          }
          done(Result<T>(fn(*p)));
        });
      };
  auto r = co_await raft::AwaitCallback<Result<T>>(std::move(start), options_.rpc_timeout, "meta read");
  if (!r.ok()) co_return RoutingError(std::move(r).take_status(), partition);
  co_return r;
}

// ---- handlers ----

asio::awaitable<bool> MetanodeService::AwaitRecall(uint64_t partition, uint64_t client,
                                                   const proto::MetaResponse& answer,
                                                   std::chrono::steady_clock::time_point deadline, int attempt) {
  if (answer.code() != static_cast<uint32_t>(Code::kDelegated) || answer.delegation().client_id() == client) {
    co_return false;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline) co_return false;
  {
    std::lock_guard l(recall_mu_);
    recalls_[partition].insert(answer.delegation().dir());
  }
  // The holder polls every few tens of milliseconds, then sends what it
  // has and gives the directory back: 1, 2, 4 .. 32 ms apart.
  const auto wait = std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(1 << std::min(attempt, 5)),
                                                                  deadline - now);
  asio::steady_timer t(co_await asio::this_coro::executor, wait);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return true;
}

void MetanodeService::RecallDone(uint64_t partition, uint64_t dir, const Result<proto::MetaResponse>& r) {
  // Through: the directory's recall is spent, and a later holder (this
  // client, perhaps) must not be told of it. Other waiters mark it again
  // at their next try.
  if (r.ok() && r->code() == static_cast<uint32_t>(Code::kDelegated)) return;  // gave up waiting
  std::lock_guard l(recall_mu_);
  auto it = recalls_.find(partition);
  if (it == recalls_.end()) return;
  it->second.erase(dir);
  if (it->second.empty()) recalls_.erase(it);
}

void MetanodeService::TellRecalled(uint64_t partition, proto::MetaResponse* answer) {
  const bool listing = answer->recalled_size() > 0;
  if (!listing && !answer->has_delegation()) return;
  std::lock_guard l(recall_mu_);
  auto it = recalls_.find(partition);
  if (it == recalls_.end()) {
    answer->clear_recalled();
    return;
  }
  if (answer->has_delegation()) {
    if (it->second.erase(answer->delegation().dir()) > 0) answer->mutable_delegation()->set_recalled(true);
  } else {
    auto* dirs = answer->mutable_recalled();
    dirs->erase(std::remove_if(dirs->begin(), dirs->end(), [&](uint64_t d) { return it->second.erase(d) == 0; }),
                dirs->end());
  }
  if (it->second.empty()) recalls_.erase(it);
}

asio::awaitable<Result<proto::MetaResponse>> MetanodeService::Write(proto::MetaWriteRequest req) {
  auto found = FindPartition(req.partition());
  if (!found.ok()) co_return found.status();
  const auto deadline = std::chrono::steady_clock::now() + options_.rpc_timeout;
  uint64_t waited = 0;  // the directory whose recall it waited for
  for (int attempt = 0;; ++attempt) {
    auto r = co_await Propose(req.partition(), req.command());
    if (r.ok() && co_await AwaitRecall(req.partition(), req.command().client_id(), *r, deadline, attempt)) {
      waited = r->delegation().dir();
      continue;
    }
    if (waited != 0) RecallDone(req.partition(), waited, r);
    if (r.ok()) TellRecalled(req.partition(), &*r);
    co_return r;
  }
}

asio::awaitable<Result<proto::MetaResponse>> MetanodeService::Read(proto::MetaReadRequest req) {
  const uint64_t partition = req.partition();
  const auto deadline = std::chrono::steady_clock::now() + options_.rpc_timeout;
  // Shared with the apply strand, which may run the read after a timeout here.
  auto shared = std::make_shared<const proto::MetaReadRequest>(std::move(req));
  uint64_t waited = 0;  // as in Write
  for (int attempt = 0;; ++attempt) {
    std::function<proto::MetaResponse(const Partition&)> fn = [shared](const Partition& p) {
      return ExecuteRead(p, *shared, WallNowNs());
    };
    auto r = co_await ReadLinearizable<proto::MetaResponse>(partition, std::move(fn));
    if (r.ok() && co_await AwaitRecall(partition, shared->client_id(), *r, deadline, attempt)) {
      waited = r->delegation().dir();
      continue;
    }
    if (waited != 0) RecallDone(partition, waited, r);
    if (r.ok() && shared->has_delegations()) TellRecalled(partition, &*r);
    co_return r;
  }
}

asio::awaitable<Status> MetanodeService::CreatePartition(const proto::CreatePartitionRequest& req) {
  if (Status s = CheckRecord(req.record()); !s.ok()) co_return s;
  const auto& peers = req.record().peers();
  if (!req.join() && std::find(peers.begin(), peers.end(), self_.value()) == peers.end()) {
    co_return Status::InvalidArgument(
        fmt::format("meta partition {}: metanode {} is not among its peers", req.record().id(), self_));
  }
  std::lock_guard l(mu_);
  if (stopped_) co_return Status::Unavailable("stopping");
  auto it = hosted_.find(req.record().id());
  if (it != hosted_.end()) {
    const auto& have = it->second.request.record();
    if (have.volume() != req.record().volume() || have.start() != req.record().start()) {
      co_return Status::Exists(fmt::format("meta partition {} is hosted here for another range", req.record().id()));
    }
    // Founding a group again with other members would make two groups of
    // one id (two leaders): refused. A joiner's request names the new peers.
    std::set<uint64_t> want(req.record().peers().begin(), req.record().peers().end());
    std::set<uint64_t> founded(have.peers().begin(), have.peers().end());
    if (!req.join() && !it->second.request.join() && want != founded) {
      co_return Status::Exists(
          fmt::format("meta partition {} is hosted here with other founding peers", req.record().id()));
    }
    co_return Status::OK();
  }
  if (Status s = AddGroupLocked(req); !s.ok()) co_return s;
  if (Status s = SaveHostedLocked(); !s.ok()) co_return s;
  spdlog::info("metanode {}: hosting meta partition {} of volume {}: [{}, {}]{}", options_.address, req.record().id(),
               req.record().volume(), req.record().start(), req.record().end(), req.join() ? " (joining)" : "");
  co_return Status::OK();
}

asio::awaitable<Result<proto::SetEndResponse>> MetanodeService::SetEnd(const proto::SetEndRequest& req) {
  auto found = FindPartition(req.partition());
  if (!found.ok()) co_return found.status();
  proto::MetaCommand c;
  c.mutable_set_end()->set_end(req.end());
  auto r = co_await Propose(req.partition(), std::move(c));
  if (!r.ok()) co_return r.status();
  if (Status s = ResponseStatus(*r); !s.ok()) co_return s;
  // Kept in partitions.pb too, so that a restart starts from the same range
  // (the snapshot and log also carry it).
  {
    std::lock_guard l(mu_);
    auto it = hosted_.find(req.partition());
    if (it != hosted_.end()) {
      it->second.request.mutable_record()->set_end(req.end());
      if (Status s = SaveHostedLocked(); !s.ok()) co_return s;
    }
  }
  proto::SetEndResponse resp;
  resp.set_end(req.end());
  co_return resp;
}

asio::awaitable<Status> MetanodeService::ProposeConfChange(raft::GroupId group, proto::ConfChangeType type,
                                                           NodeId node) {
  proto::ConfChange cc;
  cc.set_type(type);
  cc.set_node_id(node.value());
  std::function<void(std::function<void(Status)>)> start = [this, group, cc](std::function<void(Status)> done) {
    raft_->ProposeConfChange(group, cc, std::move(done));
  };
  co_return co_await raft::AwaitCallback<Status>(std::move(start), options_.rpc_timeout, "conf change");
}

asio::awaitable<Result<proto::MoveReplicaResponse>> MetanodeService::MoveReplica(const proto::MoveReplicaRequest& req) {
  const raft::GroupId group(req.partition());
  auto found = FindPartition(req.partition());
  if (!found.ok()) co_return found.status();
  const NodeId add(req.add().id());
  if (add.value() != 0) {
    {
      std::lock_guard l(mu_);
      addresses_[add.value()] = req.add().address();
      if (add != self_) transport_->SetPeer(add, req.add().address());
    }
    auto status = raft_->GetStatus(group);
    if (!status.ok()) co_return status.status();
    const auto& voters = status->conf_state.voters();
    const bool voter = std::find(voters.begin(), voters.end(), add.value()) != voters.end();
    if (!voter) {
      const auto& learners = status->conf_state.learners();
      if (std::find(learners.begin(), learners.end(), add.value()) == learners.end()) {
        Status s = co_await ProposeConfChange(group, proto::CONF_ADD_LEARNER, add);
        if (!s.ok()) co_return RoutingError(std::move(s), req.partition()).WithContext("add learner");
      }
      // Promoted once it has caught up (the core answers Busy until then).
      const auto deadline = std::chrono::steady_clock::now() + options_.rpc_timeout * 6;
      for (;;) {
        Status s = co_await ProposeConfChange(group, proto::CONF_ADD_VOTER, add);
        if (s.ok()) break;
        if (!s.Is(Code::kBusy) || std::chrono::steady_clock::now() >= deadline) {
          co_return RoutingError(std::move(s), req.partition()).WithContext("promote learner");
        }
        asio::steady_timer t(co_await asio::this_coro::executor, options_.raft_tick * 2);
        co_await t.async_wait(asio::use_awaitable);
      }
    }
  }
  if (req.remove() != 0) {
    auto status = raft_->GetStatus(group);
    if (!status.ok()) co_return status.status();
    const auto& voters = status->conf_state.voters();
    const auto& learners = status->conf_state.learners();
    const bool member = std::find(voters.begin(), voters.end(), req.remove()) != voters.end() ||
                        std::find(learners.begin(), learners.end(), req.remove()) != learners.end();
    if (member) {
      Status s = co_await ProposeConfChange(group, proto::CONF_REMOVE_NODE, NodeId(req.remove()));
      if (!s.ok()) co_return RoutingError(std::move(s), req.partition()).WithContext("remove replica");
    }
  }
  auto status = raft_->GetStatus(group);
  if (!status.ok()) co_return status.status();
  proto::MoveReplicaResponse resp;
  for (uint64_t v : status->conf_state.voters()) resp.add_peers(v);
  co_return resp;
}

void MetanodeService::Register(rpc::Server& server) {
  using rpc::Answer;
  using rpc::Call;
  server.Handle<proto::MetaWriteRequest, proto::MetaResponse>(
      proto::METANODE_WRITE,
      [this](proto::MetaWriteRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::MetaResponse>>> {
        auto r = co_await Write(std::move(req));
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::MetaResponse>{std::move(*r), {}};
      });
  server.Handle<proto::MetaReadRequest, proto::MetaResponse>(
      proto::METANODE_READ,
      [this](proto::MetaReadRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::MetaResponse>>> {
        auto r = co_await Read(std::move(req));
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::MetaResponse>{std::move(*r), {}};
      });
  server.Handle<proto::CreatePartitionRequest, proto::CreatePartitionResponse>(
      proto::METANODE_CREATE_PARTITION,
      [this](proto::CreatePartitionRequest& req, std::string&,
             const Call&) -> asio::awaitable<Result<Answer<proto::CreatePartitionResponse>>> {
        Status s = co_await CreatePartition(req);
        if (!s.ok()) co_return s;
        co_return Answer<proto::CreatePartitionResponse>{};
      });
  server.Handle<proto::SetEndRequest, proto::SetEndResponse>(
      proto::METANODE_SET_END,
      [this](proto::SetEndRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::SetEndResponse>>> {
        auto r = co_await SetEnd(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::SetEndResponse>{std::move(*r), {}};
      });
  server.Handle<proto::MoveReplicaRequest, proto::MoveReplicaResponse>(
      proto::METANODE_MOVE_REPLICA,
      [this](proto::MoveReplicaRequest& req, std::string&,
             const Call&) -> asio::awaitable<Result<Answer<proto::MoveReplicaResponse>>> {
        auto r = co_await MoveReplica(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::MoveReplicaResponse>{std::move(*r), {}};
      });
  server.Handle<proto::MetanodeStatusRequest, proto::MetanodeStatusResponse>(
      proto::METANODE_STATUS,
      [this](proto::MetanodeStatusRequest&, std::string&,
             const Call&) -> asio::awaitable<Result<Answer<proto::MetanodeStatusResponse>>> {
        co_return Answer<proto::MetanodeStatusResponse>{NodeStatus(), {}};
      });
  raft::RegisterRaftHandlers(server, raft_.get());
}

// ---- heartbeats ----

void MetanodeService::Reports(google::protobuf::RepeatedPtrField<proto::MetaPartitionReport>* out) const {
  std::lock_guard l(mu_);
  for (const auto& [id, h] : hosted_) {
    auto* p = out->Add();
    const PartitionStats& st = h.partition->stats();
    p->set_id(id);
    p->set_leader(Leads(id));
    p->set_inodes(st.inodes.load(std::memory_order_relaxed));
    p->set_dentries(st.dentries.load(std::memory_order_relaxed));
    p->set_next_inode(st.next_inode.load(std::memory_order_relaxed));
    p->set_end(st.end.load(std::memory_order_relaxed));
    p->set_applied(st.applied.load(std::memory_order_relaxed));
    p->set_bytes(st.bytes.load(std::memory_order_relaxed));
  }
}

proto::MetanodeStatusResponse MetanodeService::NodeStatus() const {
  proto::MetanodeStatusResponse resp;
  resp.set_address(options_.address);
  resp.set_id(self_.value());
  resp.set_resident_bytes(ResidentBytes());
  resp.set_heap_bytes(HeapInUseBytes());
  Reports(resp.mutable_partitions());
  return resp;
}

asio::awaitable<Status> MetanodeService::SendHeartbeat() {
  proto::MetaHeartbeatRequest req;
  req.set_address(options_.address);
  req.set_id(self_.value());
  req.set_memory_bytes(ResidentBytes());
  req.set_memory_limit_bytes(options_.memory_limit_bytes != 0 ? options_.memory_limit_bytes : PhysicalMemoryBytes());
  Reports(req.mutable_partitions());
  proto::MetaHeartbeatResponse resp;
  auto r = co_await masters_.Call(proto::MASTER_META_HEARTBEAT, req, &resp, "", options_.rpc_timeout);
  if (!r.ok()) co_return r.status();
  LearnAddresses(resp.meta_nodes());
  co_return Status::OK();
}

// ---- housekeeping ----

rpc::PartitionRouter& MetanodeService::RouterFor(uint64_t volume) {
  std::lock_guard l(mu_);
  auto& router = routers_[volume];
  if (!router) router = std::make_unique<rpc::PartitionRouter>(pool_, masters_, "", volume, options_.rpc_timeout);
  return *router;
}

asio::awaitable<Status> MetanodeService::DeleteNeedle(const proto::Extent& e) {
  std::vector<std::string> replicas;
  {
    std::lock_guard l(mu_);
    auto it = group_replicas_.find(e.block_group());
    if (it != group_replicas_.end()) replicas = it->second;
  }
  if (replicas.empty()) {
    proto::LookupBlockGroupRequest req;
    req.set_block_group(e.block_group());
    proto::LookupBlockGroupResponse resp;
    auto r = co_await masters_.Call(proto::MASTER_LOOKUP_BLOCK_GROUP, req, &resp, "", options_.rpc_timeout);
    if (r.status().Is(Code::kNotFound)) co_return Status::OK();  // the block group is gone, and its needles
    if (!r.ok()) co_return r.status();
    replicas.assign(resp.replicas().begin(), resp.replicas().end());
    if (replicas.empty()) co_return Status::Unavailable(fmt::format("block group {} has no replicas", e.block_group()));
    std::lock_guard l(mu_);
    group_replicas_[e.block_group()] = replicas;
  }
  proto::DeleteRequest req;
  req.set_block_group(e.block_group());
  req.set_needle_id(e.needle_id());
  req.set_cookie(e.cookie());
  for (size_t i = 1; i < replicas.size(); ++i) req.add_replicas(replicas[i]);
  proto::DeleteResponse resp;
  auto r = co_await pool_.Get(replicas[0])->Call(proto::DATANODE_DELETE, req, &resp, "", options_.rpc_timeout);
  if (r.ok() || r.status().Is(Code::kNotFound)) co_return Status::OK();
  std::lock_guard l(mu_);
  group_replicas_.erase(e.block_group());
  co_return r.status();
}

asio::awaitable<void> MetanodeService::HousekeepPartition(uint64_t id, bool expire) {
  uint64_t volume = 0;
  {
    std::lock_guard l(mu_);
    auto it = hosted_.find(id);
    if (it == hosted_.end() || !Leads(id) || stopped_) co_return;
    volume = it->second.request.record().volume();
  }
  if (expire) {
    proto::MetaCommand c;
    c.mutable_expire();
    auto r = co_await Propose(id, std::move(c));
    std::lock_guard l(mu_);
    if (r.ok()) ++hk_stats_.expires;
  }

  // Orphans past their grace: is their dentry there?
  const int64_t now = WallNowNs();
  std::function<std::vector<proto::OrphanRecord>(const Partition&)> orphans_of = [now](const Partition& p) {
    return p.ExpiredOrphans(now);
  };
  auto orphans = co_await ReadLinearizable<std::vector<proto::OrphanRecord>>(id, std::move(orphans_of));
  if (orphans.ok() && !orphans->empty()) {
    rpc::PartitionRouter& router = RouterFor(volume);
    for (const auto& o : *orphans) {
      auto parent = router.Find(o.parent());
      if (!parent.ok()) {
        if (Status s = co_await router.Refresh(); !s.ok()) break;
        parent = router.Find(o.parent());
        if (!parent.ok()) continue;
      }
      proto::MetaReadRequest lookup;
      lookup.set_partition(parent->id());
      lookup.mutable_lookup()->set_parent(o.parent());
      lookup.mutable_lookup()->set_name(o.name());
      proto::MetaResponse found;
      auto r = co_await router.Call(parent->id(), proto::METANODE_READ, lookup, &found);
      if (!r.ok()) continue;  // unreachable now: next round
      const bool linked = found.code() == 0 && found.attr().inode() == o.inode();
      if (!linked && found.code() != static_cast<uint32_t>(Code::kNotFound)) continue;
      proto::MetaCommand c;
      if (linked) {
        c.mutable_confirm_link()->set_inode(o.inode());
      } else {
        c.mutable_reclaim_orphan()->set_inode(o.inode());
      }
      auto applied = co_await Propose(id, std::move(c));
      if (applied.ok() && applied->code() == 0) {
        std::lock_guard l(mu_);
        ++(linked ? hk_stats_.orphans_confirmed : hk_stats_.orphans_reclaimed);
        spdlog::info("meta partition {}: orphan inode {} ({}/{}) {}", id, o.inode(), o.parent(), Quoted(o.name()),
                     linked ? "is linked: confirmed" : "has no dentry: reclaimed");
      }
    }
  }

  // Cross-partition renames past their expiry whose source is here (their
  // client died or gave up): the destination's partition decides.
  std::function<std::vector<proto::RenameTxnRecord>(const Partition&)> txns_of = [now](const Partition& p) {
    return p.ExpiredSourceTxns(now);
  };
  auto txns = co_await ReadLinearizable<std::vector<proto::RenameTxnRecord>>(id, std::move(txns_of));
  if (txns.ok() && !txns->empty()) {
    rpc::PartitionRouter& router = RouterFor(volume);
    for (const auto& t : *txns) {
      proto::MetaWriteRequest resolve;
      resolve.set_partition(t.dst_partition());
      resolve.mutable_command()->mutable_rename_resolve()->set_txn(t.txn());
      resolve.mutable_command()->mutable_rename_resolve()->set_expires_ns(t.expires_ns());
      proto::MetaResponse decided;
      auto r = co_await router.Call(t.dst_partition(), proto::METANODE_WRITE, resolve, &decided);
      if (!r.ok() || decided.code() != 0) continue;  // next round
      proto::MetaCommand c;
      if (decided.txn_committed()) {
        c.mutable_rename_commit()->set_txn(t.txn());
        c.mutable_rename_commit()->set_expires_ns(t.expires_ns());
      } else {
        c.mutable_rename_abort()->set_txn(t.txn());
        c.mutable_rename_abort()->set_expires_ns(t.expires_ns());
      }
      auto applied = co_await Propose(id, std::move(c));
      if (!applied.ok() || applied->code() != 0) continue;
      if (decided.txn_committed()) {
        proto::MetaWriteRequest forget;
        forget.set_partition(t.dst_partition());
        forget.mutable_command()->mutable_rename_forget()->set_txn(t.txn());
        forget.mutable_command()->mutable_rename_forget()->set_expires_ns(t.expires_ns());
        proto::MetaResponse forgot;
        (void)co_await router.Call(t.dst_partition(), proto::METANODE_WRITE, forget, &forgot);
      }
      std::lock_guard l(mu_);
      ++(decided.txn_committed() ? hk_stats_.renames_committed : hk_stats_.renames_aborted);
      spdlog::info("meta partition {}: rename txn {:016x} left by its client resolved with partition {}: {}", id, t.txn(),
                   t.dst_partition(), decided.txn_committed() ? "committed" : "aborted");
    }
  }

  // The deletion queue, in order, up to the first needle that fails.
  // Only needles freed deletion_grace ago: a reader may still hold their
  // extents (a file opened for reading takes its lease behind; a
  // reader's extents from before another client's overwrite).
  const size_t limit = options_.deletions_per_round;
  const int64_t freed_by = WallNowNs() - std::chrono::nanoseconds(options_.deletion_grace).count();
  std::function<std::vector<proto::DeletionRecord>(const Partition&)> pending_of = [limit, freed_by](const Partition& p) {
    return p.PendingDeletions(limit, freed_by);
  };
  auto pending = co_await ReadLinearizable<std::vector<proto::DeletionRecord>>(id, std::move(pending_of));
  if (pending.ok() && !pending->empty()) {
    uint64_t through = 0;
    uint64_t deleted = 0;
    for (const auto& d : *pending) {
      Status s = co_await DeleteNeedle(d.extent());
      if (!s.ok()) {
        spdlog::warn("meta partition {}: deleting needle {} of block group {}: {}", id, d.extent().needle_id(),
                     d.extent().block_group(), s.ToString());
        std::lock_guard l(mu_);
        ++hk_stats_.deletion_errors;
        break;
      }
      through = d.seq();
      ++deleted;
    }
    if (through != 0) {
      proto::MetaCommand c;
      c.mutable_deletion_done()->set_through(through);
      auto r = co_await Propose(id, std::move(c));
      if (r.ok()) {
        std::lock_guard l(mu_);
        hk_stats_.needles_deleted += deleted;
      }
    }
  }
}

asio::awaitable<void> MetanodeService::Housekeep(bool expire) {
  for (PartitionId id : Partitions()) co_await HousekeepPartition(id.value(), expire);
}

HousekeepingStats MetanodeService::housekeeping_stats() const {
  std::lock_guard l(mu_);
  return hk_stats_;
}

std::vector<PartitionId> MetanodeService::Partitions() const {
  std::lock_guard l(mu_);
  std::vector<PartitionId> out;
  for (const auto& [id, h] : hosted_) out.emplace_back(id);
  return out;
}

Result<raft::GroupStatus> MetanodeService::PartitionStatus(PartitionId id) const {
  return raft_->GetStatus(raft::GroupId(id.value()));
}

Result<std::pair<uint64_t, uint64_t>> MetanodeService::PartitionCounts(PartitionId id) const {
  std::lock_guard l(mu_);
  auto it = hosted_.find(id.value());
  if (it == hosted_.end()) return Status::NotFound(fmt::format("meta partition {} is not hosted here", id));
  const PartitionStats& st = it->second.partition->stats();
  return std::make_pair(st.inodes.load(), st.dentries.load());
}

void MetanodeService::Start(const asio::any_io_executor& ex) {
  {
    std::lock_guard l(mu_);
    ex_ = ex;
  }
  raft_->Start();
  asio::co_spawn(ex, [this]() -> asio::awaitable<void> {
    std::string logged;
    for (;;) {
      {
        std::lock_guard l(mu_);
        if (stopped_) co_return;
      }
      Status s = co_await SendHeartbeat();
      if (s.ok() && !logged.empty()) {
        spdlog::info("metanode {}: heartbeats reach the master again", options_.address);
        logged.clear();
      } else if (!s.ok() && s.ToString() != logged) {
        logged = s.ToString();
        spdlog::warn("metanode {}: heartbeat failed: {}", options_.address, logged);
      }
      asio::steady_timer t(co_await asio::this_coro::executor, options_.heartbeat_interval);
      co_await t.async_wait(asio::use_awaitable);
    }
  }, asio::detached);
  asio::co_spawn(ex, [this]() -> asio::awaitable<void> {
    auto last_expire = std::chrono::steady_clock::now();
    for (;;) {
      asio::steady_timer t(co_await asio::this_coro::executor, options_.housekeeping_interval);
      co_await t.async_wait(asio::use_awaitable);
      {
        std::lock_guard l(mu_);
        if (stopped_) co_return;
      }
      const bool expire = std::chrono::steady_clock::now() - last_expire >= options_.expire_interval;
      if (expire) last_expire = std::chrono::steady_clock::now();
      co_await Housekeep(expire);
      // Freed Raft entries and snapshot buffers go back to the system
      // (resident memory is what a metanode is placed by).
      if (expire) malloc_trim(0);
    }
  }, asio::detached);
}

void MetanodeService::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (raft_) raft_->Stop();
}

std::string MetanodeService::StatusJson() const {
  std::lock_guard l(mu_);
  std::string parts;
  size_t leading = 0;
  uint64_t inodes = 0, dentries = 0;
  for (const auto& [id, h] : hosted_) {
    const PartitionStats& st = h.partition->stats();
    const bool leads = Leads(id);
    leading += leads ? 1 : 0;
    inodes += st.inodes.load();
    dentries += st.dentries.load();
    if (!parts.empty()) parts += ",";
    parts += fmt::format(R"({{"id":{},"volume":{},"start":{},"end":{},"leader":{},"inodes":{},"dentries":{},"applied":{}}})",
                         id, h.request.record().volume(), h.request.record().start(), st.end.load(), leads ? "true" : "false",
                         st.inodes.load(), st.dentries.load(), st.applied.load());
  }
  return fmt::format(R"({{"role":"metanode","address":"{}","id":{},"partitions":{},"leading":{},"inodes":{},)"
                     R"("dentries":{},"resident_bytes":{},"meta_partitions":[{}]}})",
                     options_.address, self_, hosted_.size(), leading, inodes, dentries, ResidentBytes(), parts);
}

}  // namespace cfs::metanode
