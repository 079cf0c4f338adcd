#include "master/service.h"

#include <fmt/format.h>

#include "common/clock.h"
#include "common/file_id.h"
#include "common/logging.h"
#include "common/strings.h"
#include "proto/datanode.pb.h"

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
  CFS_RETURN_IF_ERROR(env->CreateDirs(options.dir));
  CFS_RETURN_IF_ERROR(ReplicaPlacement::Parse(options.default_replication).status());
  CFS_ASSIGN_OR_RETURN(Sequencer needles, Sequencer::Open(env, options.dir + "/" + kNeedleSequenceFile, kNeedleIdBatch));
  CFS_ASSIGN_OR_RETURN(Sequencer groups,
                       Sequencer::Open(env, options.dir + "/" + kBlockGroupSequenceFile, kBlockGroupIdBatch));
  return std::unique_ptr<MasterService>(new MasterService(pool, std::move(options), std::move(needles), std::move(groups)));
}

MasterService::MasterService(rpc::ChannelPool& pool, MasterOptions options, Sequencer needle_ids, Sequencer group_ids)
    : pool_(pool),
      options_(std::move(options)),
      topology_(options_.block_group_size_limit_bytes),
      needle_ids_(std::move(needle_ids)),
      group_ids_(std::move(group_ids)),
      rng_(std::random_device{}()) {}

void MasterService::Register(rpc::Server& server) {
  using rpc::Answer;
  using rpc::Call;
  server.Handle<proto::HeartbeatRequest, proto::HeartbeatResponse>(
      proto::MASTER_HEARTBEAT,
      [this](proto::HeartbeatRequest& req, std::string&, const Call&) -> asio::awaitable<Result<Answer<proto::HeartbeatResponse>>> {
        auto r = Heartbeat(req);
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
        co_return Answer<proto::ClusterStatusResponse>{ClusterStatus(), {}};
      });
}

Result<proto::HeartbeatResponse> MasterService::Heartbeat(const proto::HeartbeatRequest& req) {
  HeartbeatInfo hb;
  hb.address = req.address();
  hb.data_center = req.data_center();
  hb.rack = req.rack();
  hb.max_block_groups = req.max_block_groups();
  for (const auto& g : req.block_groups()) {
    auto info = FromProto(g);
    if (!info.ok()) return info.status().WithContext(fmt::format("heartbeat from {}: block group {}", hb.address, g.id()));
    hb.block_groups.push_back(std::move(*info));
  }
  CFS_RETURN_IF_ERROR(Topology::ValidateHeartbeat(hb));
  std::lock_guard l(mu_);
  bool known = topology_.HasNode(hb.address) && topology_.IsAlive(hb.address);
  topology_.ApplyHeartbeat(hb, Now());
  group_ids_.AtLeast(topology_.MaxGroupId().value());
  if (!known) {
    spdlog::info("master: datanode {} ({}/{}) joined with {} block group(s), {} slots", hb.address, req.data_center(),
                 req.rack(), hb.block_groups.size(), hb.max_block_groups);
  }
  proto::HeartbeatResponse resp;
  resp.set_block_group_size_limit(options_.block_group_size_limit_bytes);
  return resp;
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
  uint64_t first;
  uint32_t cookie;
  {
    std::lock_guard l(mu_);
    auto ids = needle_ids_.Next(count);
    if (!ids.ok()) co_return ids.status().WithContext("assign: needle id sequence");
    first = *ids;
    cookie = static_cast<uint32_t>(rng_());
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
    {
      std::lock_guard l(mu_);
      if (auto t = topology_.PickWritable(collection, placement, ttl, rng_)) co_return *t;
      if (round > 0 && !growing_ && !last_growth_error.ok()) co_return last_growth_error;
      if (!growing_) {
        if (topology_.FreeSlots() == 0) co_return Status::NoSpace("no free block group slots");
        plan = PlanGrowth(topology_, collection, placement, ttl, group_ids_, rng_);
        if (plan.groups.empty()) co_return plan.error;
        growing_ = true;
      }
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
  auto replicas = topology_.Lookup(BlockGroupId(req.block_group()));
  if (replicas.empty()) return Status::NotFound(fmt::format("block group {} not found", req.block_group()));
  proto::LookupBlockGroupResponse resp;
  for (auto& r : replicas) resp.add_replicas(r);
  return resp;
}

proto::ClusterStatusResponse MasterService::ClusterStatus() const {
  TopologySnapshot snap;
  {
    std::lock_guard l(mu_);
    snap = topology_.Snapshot();
  }
  proto::ClusterStatusResponse resp;
  auto* m = resp.add_masters();
  m->set_address(options_.address);
  m->set_leader(true);
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
  auto dead = topology_.MarkDeadNodes(Now(), options_.dead_after);
  for (const auto& d : dead) spdlog::warn("master: datanode {} missed its heartbeats: marked dead", d);
  return dead;
}

asio::awaitable<int> MasterService::VacuumGarbageGroups() {
  std::vector<std::pair<BlockGroupId, std::vector<std::string>>> todo;
  {
    std::lock_guard l(mu_);
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

void MasterService::StartBackground(const asio::any_io_executor& ex) {
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
      if (std::chrono::steady_clock::now() - last_vacuum >= options_.vacuum_check_interval) {
        last_vacuum = std::chrono::steady_clock::now();
        co_await VacuumGarbageGroups();
      }
    }
  }, asio::detached);
}

void MasterService::Stop() {
  std::lock_guard l(mu_);
  stopped_ = true;
}

std::string MasterService::StatusJson() const {
  TopologySnapshot snap;
  {
    std::lock_guard l(mu_);
    snap = topology_.Snapshot();
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
  return fmt::format(R"({{"role":"master","address":"{}","leader":true,"datanodes":{},"live_datanodes":{},)"
                     R"("block_groups":{},"free_slots":{}}})",
                     options_.address, nodes, alive, snap.block_groups.size(), snap.free_slots);
}

}  // namespace cfs::master
