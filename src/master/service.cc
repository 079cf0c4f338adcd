#include "master/service.h"

#include <fmt/format.h>

#include "common/clock.h"
#include "common/file_id.h"
#include "common/logging.h"
#include "common/strings.h"
#include "proto/datanode.pb.h"
#include "raft/await.h"

namespace cfs::master {
namespace {

std::chrono::nanoseconds Now() { return Clock::Real()->MonotonicNow(); }

Result<BlockGroupInfo> FromProto(const proto::BlockGroupInfo& p) {
  BlockGroupInfo info;
  info.id = BlockGroupId(p.id());
  info.collection = p.collection();
  CFS_ASSIGN_OR_RETURN(info.placement, ReplicaPlacement::Parse(p.placement()));
  CFS_ASSIGN_OR_RETURN(info.ttl, Ttl::Parse(p.ttl()));
  info.size_bytes = p.size_bytes();
  info.needle_count = p.needle_count();
  info.garbage_bytes = p.garbage_bytes();
  info.read_only = p.read_only();
  info.compaction_revision = static_cast<uint16_t>(p.compaction_revision());
  return info;
}

void ToProto(const TopologySnapshot::BlockGroup& g, proto::BlockGroupInfo* p) {
  p->set_id(g.id.value());
  p->set_collection(g.collection);
  p->set_placement(g.placement.ToString());
  p->set_ttl(g.ttl.ToString());
  p->set_size_bytes(g.size_bytes);
  p->set_needle_count(g.needle_count);
  p->set_garbage_bytes(g.garbage_bytes);
  p->set_read_only(g.read_only);
}

}  // namespace

Result<std::unique_ptr<MasterService>> MasterService::Open(rpc::ChannelPool& pool, MasterOptions options, Env* env) {
  CFS_RETURN_IF_ERROR(ReplicaPlacement::Parse(options.default_replication).status());
  if (options.peers.empty()) options.peers.push_back(options.address);
  auto self = std::find(options.peers.begin(), options.peers.end(), options.address);
  if (self == options.peers.end()) {
    return Status::InvalidArgument(fmt::format("master address {} is not among the peers {}", options.address,
                                               fmt::join(options.peers, ",")));
  }
  for (size_t i = 0; i < options.peers.size(); ++i) {
    if (std::count(options.peers.begin(), options.peers.end(), options.peers[i]) != 1) {
      return Status::InvalidArgument(fmt::format("master peer {} is listed twice", options.peers[i]));
    }
  }
  CFS_RETURN_IF_ERROR(env->CreateDirs(options.dir));
  const NodeId self_id(static_cast<uint64_t>(self - options.peers.begin()) + 1);
  std::unique_ptr<MasterService> service(new MasterService(pool, std::move(options), self_id));
  const MasterOptions& o = service->options_;

  service->transport_ = std::make_unique<raft::RpcTransport>(pool);
  std::vector<NodeId> voters;
  for (size_t i = 0; i < o.peers.size(); ++i) {
    NodeId id(i + 1);
    voters.push_back(id);
    if (id != self_id) service->transport_->SetPeer(id, o.peers[i]);
  }
  raft::MultiRaftOptions ro;
  ro.node = self_id;
  ro.dir = o.dir + "/raft";
  ro.env = env;
  ro.tick = o.raft_tick;
  ro.election_ticks = o.raft_election_ticks;
  ro.snapshot_entries = o.raft_snapshot_entries;
  ro.keep_entries = o.raft_keep_entries;
  CFS_ASSIGN_OR_RETURN(service->raft_, raft::MultiRaft::Open(ro, service->transport_.get()));
  service->transport_->SetHost(service->raft_.get());
  MasterService* s = service.get();
  service->raft_->SetLeaderListener([s](raft::GroupId group, NodeId leader, Term term) {
    if (group == kMasterGroup) s->OnLeaderChange(leader, term);
  });
  CFS_RETURN_IF_ERROR(service->raft_->AddGroup(kMasterGroup, voters, service->cluster_map_));
  return service;
}

MasterService::MasterService(rpc::ChannelPool& pool, MasterOptions options, NodeId self)
    : pool_(pool),
      options_(std::move(options)),
      self_(self),
      cluster_map_(std::make_shared<ClusterMap>()),
      topology_(options_.block_group_size_limit_bytes),
      rng_(std::random_device{}()) {}

MasterService::~MasterService() { Stop(); }

std::string MasterService::AddressOf(NodeId node) const {
  if (node.value() == 0 || node.value() > options_.peers.size()) return {};
  return options_.peers[node.value() - 1];
}

Status MasterService::CheckServingLocked() const {
  if (serving_term_.value() != 0 && leader_ == self_) return Status::OK();
  if (leader_.value() != 0 && leader_ != self_) {
    return Status::NotLeader(fmt::format("master {} is not the leader", options_.address), AddressOf(leader_));
  }
  return Status::Unavailable(fmt::format("master {}: no leader yet", options_.address));
}

void MasterService::OnLeaderChange(NodeId leader, Term term) {
  bool take_over = false;
  {
    std::lock_guard l(mu_);
    if (leader_ != leader || leader_term_ != term) {
      spdlog::info("master {}: leader is now {} (term {})", options_.address,
                   leader.value() == 0 ? std::string("unknown") : AddressOf(leader), term);
    }
    leader_ = leader;
    leader_term_ = term;
    if (leader != self_) {
      serving_term_ = Term(0);
      needle_ids_.Clear();
      group_ids_.Clear();
    } else if (serving_term_ != term) {
      take_over = !stopped_ && ex_;
    }
  }
  // Not on the raft thread: the takeover waits on Raft.
  if (take_over) asio::co_spawn(ex_, TakeOver(term), asio::detached);
}

asio::awaitable<void> MasterService::TakeOver(Term term) {
  for (;;) {
    {
      std::lock_guard l(mu_);
      if (stopped_ || leader_ != self_ || leader_term_ != term || serving_term_ == term) co_return;
    }
    // Everything committed before this term is applied once a read index
    // of this term is (§6.4): only then is the cluster map complete.
    Status s = co_await raft::ReadIndex(*raft_, kMasterGroup, options_.raft_tick * options_.raft_election_ticks);
    if (!s.ok()) {
      asio::steady_timer t(ex_, options_.raft_tick);
      co_await t.async_wait(asio::use_awaitable);
      continue;
    }
    proto::ClusterMapSnapshot map = cluster_map_->Copy();
    std::lock_guard l(mu_);
    if (stopped_ || leader_ != self_ || leader_term_ != term) co_return;
    // The soft view, from the replicated map: every registered node alive
    // as of now (its heartbeats take over, or it is marked dead after
    // dead_after), every grown group reserved on its replicas.
    topology_ = Topology(options_.block_group_size_limit_bytes);
    const auto now = Now();
    for (const auto& n : map.nodes()) {
      HeartbeatInfo hb;
      hb.address = n.address();
      hb.data_center = n.data_center();
      hb.rack = n.rack();
      hb.max_block_groups = n.max_block_groups();
      topology_.ApplyHeartbeat(hb, now);
    }
    for (const auto& g : map.block_groups()) {
      BlockGroupInfo info;
      info.id = BlockGroupId(g.id());
      info.collection = g.collection();
      info.placement = ReplicaPlacement::Parse(g.placement()).value();  // validated before it was logged
      info.ttl = Ttl::Parse(g.ttl()).value();
      topology_.RegisterGrownGroup(info, {g.replicas().begin(), g.replicas().end()});
    }
    meta_view_ = MetaView();
    for (const auto& n : map.meta_nodes()) meta_view_.Presume(n.id(), n.address(), now);
    needle_ids_.Clear();
    group_ids_.Clear();
    serving_term_ = term;
    spdlog::info("master {}: serving as leader (term {}): {} datanode(s), {} block group(s)", options_.address, term,
                 map.nodes_size(), map.block_groups_size());
    co_return;
  }
}

asio::awaitable<Status> MasterService::Replicate(const proto::MasterCommand& command) {
  if (Status s = ClusterMap::Validate(command); !s.ok()) co_return s;
  auto r = co_await raft::Propose(*raft_, kMasterGroup, command.SerializeAsString(), options_.rpc_timeout);
  if (r.ok()) co_return Status::OK();
  Status s = std::move(r).take_status();
  if (s.Is(Code::kNotLeader)) {
    co_return Status::NotLeader(fmt::format("master {} is not the leader", options_.address),
                                AddressOf(raft::HintedLeader(s)));
  }
  co_return s;
}

asio::awaitable<Status> MasterService::EnsureIds(proto::IdKind kind, uint64_t count) {
  const auto deadline = std::chrono::steady_clock::now() + options_.rpc_timeout;
  IdRange& range = kind == proto::ID_NEEDLE ? needle_ids_ : group_ids_;
  const uint64_t batch = kind == proto::ID_NEEDLE ? kNeedleIdBatch : kBlockGroupIdBatch;
  for (;;) {
    if (std::chrono::steady_clock::now() >= deadline) co_return Status::Timeout("assign: waited too long for ids");
    uint64_t from = 0, to = 0;
    Term term;
    {
      std::lock_guard l(mu_);
      if (Status s = CheckServingLocked(); !s.ok()) co_return s;
      if (range.available() >= count) co_return Status::OK();
      if (!reserving_[kind]) {
        reserving_[kind] = true;
        term = serving_term_;
        from = cluster_map_->mark(kind);
        // Block group ids also pass every id a heartbeat reported.
        uint64_t base = kind == proto::ID_BLOCK_GROUP ? std::max(from, uint64_t{topology_.MaxGroupId().value()} + 1) : from;
        to = base + std::max(count, batch);
      }
    }
    if (to == 0) {  // another Assign is reserving: wait for it
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
      co_await t.async_wait(asio::use_awaitable);
      continue;
    }
    proto::MasterCommand c;
    c.mutable_reserve_ids()->set_kind(kind);
    c.mutable_reserve_ids()->set_from(from);
    c.mutable_reserve_ids()->set_to(to);
    Status s = co_await Replicate(c);
    std::lock_guard l(mu_);
    reserving_[kind] = false;
    if (s.ok()) {
      if (serving_term_ == term) range.Add(from, to);
      continue;
    }
    // Aborted: the mark moved (an older leader's reservation applied late);
    // read it again.
    if (!s.Is(Code::kAborted)) co_return s.WithContext("reserve ids");
  }
}

void MasterService::Register(rpc::Server& server) {
  using rpc::Answer;
  using rpc::Call;
  server.Handle<proto::HeartbeatRequest, proto::HeartbeatResponse>(
      proto::MASTER_HEARTBEAT,
      [this](proto::HeartbeatRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::HeartbeatResponse>>> {
        auto r = co_await Heartbeat(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::HeartbeatResponse>{std::move(*r), {}};
      });
  server.Handle<proto::AssignRequest, proto::AssignResponse>(
      proto::MASTER_ASSIGN,
      [this](proto::AssignRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::AssignResponse>>> {
        auto r = co_await Assign(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::AssignResponse>{std::move(*r), {}};
      });
  server.Handle<proto::LookupBlockGroupRequest, proto::LookupBlockGroupResponse>(
      proto::MASTER_LOOKUP_BLOCK_GROUP,
      [this](proto::LookupBlockGroupRequest& req, std::string&,
             const Call&) -> asio::awaitable<Result<Answer<proto::LookupBlockGroupResponse>>> {
        auto r = Lookup(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::LookupBlockGroupResponse>{std::move(*r), {}};
      });
  server.Handle<proto::ClusterStatusRequest, proto::ClusterStatusResponse>(
      proto::MASTER_CLUSTER_STATUS,
      [this](proto::ClusterStatusRequest&, std::string&,
             const Call&) -> asio::awaitable<Result<Answer<proto::ClusterStatusResponse>>> {
        auto r = ClusterStatus();
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::ClusterStatusResponse>{std::move(*r), {}};
      });
  server.Handle<proto::MetaHeartbeatRequest, proto::MetaHeartbeatResponse>(
      proto::MASTER_META_HEARTBEAT,
      [this](proto::MetaHeartbeatRequest& req, std::string&,
             const Call&) -> asio::awaitable<Result<Answer<proto::MetaHeartbeatResponse>>> {
        auto r = co_await MetaHeartbeat(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::MetaHeartbeatResponse>{std::move(*r), {}};
      });
  server.Handle<proto::CreateVolumeRequest, proto::VolumeView>(
      proto::MASTER_CREATE_VOLUME,
      [this](proto::CreateVolumeRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::VolumeView>>> {
        auto r = co_await CreateVolume(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::VolumeView>{std::move(*r), {}};
      });
  server.Handle<proto::GetVolumeRequest, proto::VolumeView>(
      proto::MASTER_GET_VOLUME,
      [this](proto::GetVolumeRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::VolumeView>>> {
        auto r = GetVolume(req);
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::VolumeView>{std::move(*r), {}};
      });
  server.Handle<proto::ListVolumesRequest, proto::ListVolumesResponse>(
      proto::MASTER_LIST_VOLUMES,
      [this](proto::ListVolumesRequest&, std::string&,
             const Call&) -> asio::awaitable<Result<Answer<proto::ListVolumesResponse>>> {
        auto r = ListVolumes();
        if (!r.ok()) co_return r.status();
        co_return Answer<proto::ListVolumesResponse>{std::move(*r), {}};
      });
  raft::RegisterRaftHandlers(server, raft_.get());
}

asio::awaitable<Result<proto::HeartbeatResponse>> MasterService::Heartbeat(const proto::HeartbeatRequest& req) {
  {
    std::lock_guard l(mu_);
    if (Status s = CheckServingLocked(); !s.ok()) co_return s;
  }
  HeartbeatInfo hb;
  hb.address = req.address();
  hb.data_center = req.data_center();
  hb.rack = req.rack();
  hb.max_block_groups = req.max_block_groups();
  for (const auto& g : req.block_groups()) {
    auto info = FromProto(g);
    if (!info.ok()) co_return info.status().WithContext(fmt::format("heartbeat from {}: block group {}", hb.address, g.id()));
    hb.block_groups.push_back(std::move(*info));
  }
  if (Status s = Topology::ValidateHeartbeat(hb); !s.ok()) co_return s;
  // A new node, or one that moved or changed its slots, is registered in
  // the replicated map before it counts.
  proto::MasterCommand c;
  auto* record = c.mutable_register_node();
  record->set_address(hb.address);
  record->set_data_center(hb.data_center);
  record->set_rack(hb.rack);
  record->set_max_block_groups(hb.max_block_groups);
  proto::NodeRecord known;
  if (!cluster_map_->FindNode(hb.address, &known) || known.SerializeAsString() != record->SerializeAsString()) {
    Status s = co_await Replicate(c);
    if (!s.ok()) co_return s.WithContext(fmt::format("register datanode {}", hb.address));
  }
  std::lock_guard l(mu_);
  if (Status s = CheckServingLocked(); !s.ok()) co_return s;
  bool known_alive = topology_.HasNode(hb.address) && topology_.IsAlive(hb.address);
  topology_.ApplyHeartbeat(hb, Now());
  if (!known_alive) {
    spdlog::info("master: datanode {} ({}/{}) joined with {} block group(s), {} slots", hb.address, req.data_center(),
                 req.rack(), hb.block_groups.size(), hb.max_block_groups);
  }
  proto::HeartbeatResponse resp;
  resp.set_block_group_size_limit(options_.block_group_size_limit_bytes);
  co_return resp;
}

asio::awaitable<Result<proto::AssignResponse>> MasterService::Assign(const proto::AssignRequest& req) {
  uint32_t count = req.count() == 0 ? 1 : req.count();
  if (count > options_.max_assign_count) {
    co_return Status::InvalidArgument(fmt::format("assign count {} is over the limit of {}", count, options_.max_assign_count));
  }
  auto placement = ReplicaPlacement::Parse(req.replication().empty() ? options_.default_replication : req.replication());
  if (!placement.ok()) co_return placement.status();
  auto ttl = Ttl::Parse(req.ttl());
  if (!ttl.ok()) co_return ttl.status();
  if (req.collection().find('/') != std::string::npos) {
    co_return Status::InvalidArgument(fmt::format("collection {} may not contain '/'", Quoted(req.collection())));
  }
  auto target = co_await EnsureWritable(req.collection(), *placement, *ttl);
  if (!target.ok()) co_return target.status();
  uint64_t first = 0;
  uint32_t cookie = 0;
  for (;;) {
    {
      std::lock_guard l(mu_);
      auto ids = needle_ids_.Take(count);
      if (ids.ok()) {
        first = *ids;
        cookie = static_cast<uint32_t>(rng_());
        break;
      }
    }
    Status s = co_await EnsureIds(proto::ID_NEEDLE, count);
    if (!s.ok()) co_return s.WithContext("assign: needle ids");
  }
  proto::AssignResponse resp;
  resp.set_fid(FormatFileId(target->id, NeedleId(first), Cookie(cookie)));
  resp.set_block_group(target->id.value());
  resp.set_needle_id(first);
  resp.set_cookie(cookie);
  resp.set_count(count);
  for (const auto& a : target->addresses) resp.add_replicas(a);
  co_return resp;
}

asio::awaitable<Result<AssignTarget>> MasterService::EnsureWritable(const std::string& collection,
                                                                    const ReplicaPlacement& placement, const Ttl& ttl) {
  const auto deadline = std::chrono::steady_clock::now() + options_.rpc_timeout;
  Status last_growth_error;
  for (int round = 0;; ++round) {
    GrowthPlan plan;
    bool need_ids = false;
    {
      std::lock_guard l(mu_);
      if (Status s = CheckServingLocked(); !s.ok()) co_return s;
      if (auto t = topology_.PickWritable(collection, placement, ttl, rng_)) co_return *t;
      if (round > 0 && !growing_ && !last_growth_error.ok()) co_return last_growth_error;
      if (!growing_) {
        if (topology_.FreeSlots() == 0) co_return Status::NoSpace("no free block group slots");
        group_ids_.SkipThrough(topology_.MaxGroupId().value());
        const auto wanted = static_cast<uint64_t>(GrowthCount(placement.CopyCount()));
        if (group_ids_.available() < wanted) {
          need_ids = true;
        } else {
          plan = PlanGrowth(topology_, collection, placement, ttl, group_ids_, rng_);
          if (plan.groups.empty()) co_return plan.error;
          growing_ = true;
        }
      }
    }
    if (need_ids) {
      Status s = co_await EnsureIds(proto::ID_BLOCK_GROUP, static_cast<uint64_t>(GrowthCount(placement.CopyCount())));
      if (!s.ok()) co_return s.WithContext("grow block groups");
      continue;
    }
    if (plan.groups.empty()) {
      // Another Assign is growing: wait for it, then look again.
      if (std::chrono::steady_clock::now() >= deadline) co_return Status::Timeout("assign: waited too long for growth");
      asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
      co_await t.async_wait(asio::use_awaitable);
      continue;
    }
    last_growth_error = co_await Grow(std::move(plan));
    std::lock_guard l(mu_);
    growing_ = false;
  }
}

asio::awaitable<Status> MasterService::Grow(GrowthPlan plan) {
  int grown = 0;
  Status first_error = plan.error;
  for (const PlannedGroup& g : plan.groups) {
    proto::AllocateBlockGroupRequest req;
    req.set_block_group(g.info.id.value());
    req.set_collection(g.info.collection);
    req.set_placement(g.info.placement.ToString());
    req.set_ttl(g.info.ttl.ToString());
    Status s;
    for (const auto& address : g.addresses) {
      proto::AllocateBlockGroupResponse resp;
      auto r = co_await pool_.Get(address)->Call(proto::DATANODE_ALLOCATE_BLOCK_GROUP, req, &resp, "", options_.rpc_timeout);
      if (!r.ok()) {
        s = r.status().WithContext(fmt::format("allocate block group {} on {}", g.info.id, address));
        break;
      }
    }
    if (!s.ok()) {
      spdlog::warn("master: growth: {}", s.ToString());
      if (first_error.ok()) first_error = s;
      continue;
    }
    proto::MasterCommand c;
    auto* record = c.mutable_register_block_group();
    record->set_id(g.info.id.value());
    record->set_collection(g.info.collection);
    record->set_placement(g.info.placement.ToString());
    record->set_ttl(g.info.ttl.ToString());
    for (const auto& a : g.addresses) record->add_replicas(a);
    s = co_await Replicate(c);
    if (!s.ok()) {
      s = s.WithContext(fmt::format("register block group {}", g.info.id));
      spdlog::warn("master: growth: {}", s.ToString());
      if (first_error.ok()) first_error = s;
      continue;
    }
    std::lock_guard l(mu_);
    topology_.RegisterGrownGroup(g.info, g.addresses);
    ++grown;
    spdlog::info("master: grew block group {} (collection {}, placement {}, ttl {}) on {}", g.info.id,
                 Quoted(g.info.collection), g.info.placement.ToString(), Quoted(g.info.ttl.ToString()),
                 fmt::join(g.addresses, ", "));
  }
  if (grown > 0) co_return Status::OK();
  co_return first_error.ok() ? Status::Unavailable("growth allocated nothing") : first_error;
}

Result<proto::LookupBlockGroupResponse> MasterService::Lookup(const proto::LookupBlockGroupRequest& req) const {
  std::lock_guard l(mu_);
  CFS_RETURN_IF_ERROR(CheckServingLocked());
  auto replicas = topology_.Lookup(BlockGroupId(req.block_group()));
  if (replicas.empty()) return Status::NotFound(fmt::format("block group {} not found", req.block_group()));
  proto::LookupBlockGroupResponse resp;
  for (auto& r : replicas) resp.add_replicas(r);
  return resp;
}

Result<proto::ClusterStatusResponse> MasterService::ClusterStatus() const {
  TopologySnapshot snap;
  NodeId leader;
  {
    std::lock_guard l(mu_);
    CFS_RETURN_IF_ERROR(CheckServingLocked());
    snap = topology_.Snapshot();
    leader = leader_;
  }
  proto::ClusterStatusResponse resp;
  for (size_t i = 0; i < options_.peers.size(); ++i) {
    auto* m = resp.add_masters();
    m->set_address(options_.peers[i]);
    m->set_leader(NodeId(i + 1) == leader);
  }
  for (const auto& dc : snap.data_centers) {
    for (const auto& rack : dc.racks) {
      for (const auto& n : rack.nodes) {
        auto* p = resp.add_nodes();
        p->set_address(n.address);
        p->set_data_center(dc.name);
        p->set_rack(rack.name);
        p->set_alive(n.alive);
        p->set_max_block_groups(n.max_block_groups);
        p->set_used_block_groups(n.used);
        p->set_free_slots(n.free);
      }
    }
  }
  for (const auto& g : snap.block_groups) {
    auto* p = resp.add_block_groups();
    ToProto(g, p->mutable_info());
    for (const auto& r : g.replicas) p->add_replicas(r);
    p->set_writable(g.writable);
  }
  resp.set_free_slots(snap.free_slots);
  return resp;
}

std::vector<std::string> MasterService::MarkDeadNodes() {
  std::lock_guard l(mu_);
  if (!CheckServingLocked().ok()) return {};
  auto dead = topology_.MarkDeadNodes(Now(), options_.dead_after);
  for (const auto& d : dead) spdlog::warn("master: datanode {} missed its heartbeats: marked dead", d);
  return dead;
}

asio::awaitable<int> MasterService::VacuumGarbageGroups() {
  std::vector<std::pair<BlockGroupId, std::vector<std::string>>> todo;
  {
    std::lock_guard l(mu_);
    if (!CheckServingLocked().ok()) co_return 0;
    for (BlockGroupId id : topology_.GroupsOverGarbage(options_.garbage_threshold)) {
      todo.emplace_back(id, topology_.Lookup(id));
    }
  }
  int vacuumed = 0;
  for (const auto& [id, replicas] : todo) {
    for (const auto& address : replicas) {
      proto::VacuumRequest req;
      req.set_block_group(id.value());
      proto::VacuumResponse resp;
      auto r = co_await pool_.Get(address)->Call(proto::DATANODE_VACUUM, req, &resp, "", options_.rpc_timeout * 6);
      if (r.ok()) {
        ++vacuumed;
        spdlog::info("master: vacuumed block group {} on {}: {} -> {} bytes", id, address, resp.size_before(),
                     resp.size_after());
      } else {
        spdlog::warn("master: vacuum of block group {} on {}: {}", id, address, r.status().ToString());
      }
    }
  }
  co_return vacuumed;
}

void MasterService::Start(const asio::any_io_executor& ex) {
  {
    std::lock_guard l(mu_);
    ex_ = ex;
  }
  raft_->Start();
  asio::co_spawn(ex, [this]() -> asio::awaitable<void> {
    auto last_vacuum = std::chrono::steady_clock::now();
    for (;;) {
      asio::steady_timer t(co_await asio::this_coro::executor, options_.heartbeat_interval);
      co_await t.async_wait(asio::use_awaitable);
      {
        std::lock_guard l(mu_);
        if (stopped_) co_return;
      }
      MarkDeadNodes();
      MarkDeadMetaNodes();
      co_await MoveReplicasOffDeadMetaNodes();
      co_await SplitFullPartitions();
      if (std::chrono::steady_clock::now() - last_vacuum >= options_.vacuum_check_interval) {
        last_vacuum = std::chrono::steady_clock::now();
        co_await VacuumGarbageGroups();
      }
    }
  }, asio::detached);
}

void MasterService::Stop() {
  {
    std::lock_guard l(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  if (raft_) raft_->Stop();
}

std::string MasterService::StatusJson() const {
  TopologySnapshot snap;
  bool serving;
  NodeId leader;
  {
    std::lock_guard l(mu_);
    snap = topology_.Snapshot();
    serving = CheckServingLocked().ok();
    leader = leader_;
  }
  int nodes = 0, alive = 0;
  for (const auto& dc : snap.data_centers) {
    for (const auto& rack : dc.racks) {
      for (const auto& n : rack.nodes) {
        ++nodes;
        alive += n.alive ? 1 : 0;
      }
    }
  }
  auto raft = raft_->GetStatus(kMasterGroup);
  std::string raft_json = "null";
  if (raft.ok()) {
    raft_json = fmt::format(
        R"({{"node":{},"role":"{}","term":{},"commit":{},"applied":{},"last_index":{},"snapshot_index":{},)"
        R"("snapshots_installed":{}}})",
        self_, raft::RoleName(raft->role), raft->term, raft->commit, raft->applied, raft->last_index,
        raft->snapshot_index, raft_->stats().snapshots_installed);
  }
  // The replicated map, the same on every master at the same index.
  proto::ClusterMapSnapshot map = cluster_map_->Copy();
  std::string map_json =
      fmt::format(R"({{"nodes":{},"block_groups":{},"needle_mark":{},"block_group_mark":{}}})", map.nodes_size(),
                  map.block_groups_size(), map.needle_mark(), map.block_group_mark());
  // A follower's topology is not maintained: it reports no datanodes.
  if (!serving) nodes = alive = 0;
  return fmt::format(R"({{"role":"master","address":"{}","leader":{},"leader_address":"{}","datanodes":{},"live_datanodes":{},)"
                     R"("block_groups":{},"free_slots":{},"raft":{},"cluster_map":{}}})",
                     options_.address, serving ? "true" : "false", AddressOf(leader), nodes, alive,
                     serving ? snap.block_groups.size() : 0, serving ? snap.free_slots : 0, raft_json, map_json);
}

}  // namespace cfs::master
