// The master's metanode and volume handlers (MasterService, service.h):
// metanode registration and heartbeats, CreateVolume, volume views, and the
// background split and replica moves. The replicated records are in the
// ClusterMap; liveness and partition reports in the leader's MetaView.
#include <fmt/format.h>

#include "common/clock.h"
#include "common/logging.h"
#include "common/strings.h"
#include "master/service.h"
#include "proto/metanode.pb.h"
#include "rpc/leader_client.h"

namespace cfs::master {
namespace {

std::chrono::nanoseconds Now() { return Clock::Real()->MonotonicNow(); }

}  // namespace

asio::awaitable<Status> MasterService::AcquireVolumeOps() {
  const auto deadline = std::chrono::steady_clock::now() + options_.rpc_timeout;
  for (;;) {
    {
      std::lock_guard l(mu_);
      if (Status s = CheckServingLocked(); !s.ok()) co_return s;
      if (!volume_busy_) {
        volume_busy_ = true;
        co_return Status::OK();
      }
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return Status::Busy("another volume operation is running");
    }
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(5));
    co_await t.async_wait(asio::use_awaitable);
  }
}

MasterService::VolumeOpsRelease::~VolumeOpsRelease() { service->ReleaseVolumeOps(); }

void MasterService::ReleaseVolumeOps() {
  std::lock_guard l(mu_);
  volume_busy_ = false;
}

asio::awaitable<Result<uint64_t>> MasterService::RegisterMetaNode(const proto::MetaHeartbeatRequest& req) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    const uint64_t id = cluster_map_->NextMetaNodeId();
    proto::MasterCommand c;
    c.mutable_register_meta_node()->set_id(id);
    c.mutable_register_meta_node()->set_address(req.address());
    Status s = co_await Replicate(c);
    if (s.ok()) {
      spdlog::info("master: metanode {} registered as {}", req.address(), id);
      co_return id;
    }
    if (!s.Is(Code::kExists)) co_return s;
    // Another registration took the id (or this address) meanwhile.
    if (uint64_t known = cluster_map_->MetaNodeId(req.address()); known != 0) co_return known;
  }
  co_return Status::Busy(fmt::format("metanode {}: could not get an id", req.address()));
}

asio::awaitable<Result<proto::MetaHeartbeatResponse>> MasterService::MetaHeartbeat(const proto::MetaHeartbeatRequest& req) {
  if (req.address().empty()) co_return Status::InvalidArgument("metanode heartbeat without an address");
  {
    std::lock_guard l(mu_);
    if (Status s = CheckServingLocked(); !s.ok()) co_return s;
  }
  uint64_t id = cluster_map_->MetaNodeId(req.address());
  if (id == 0) {
    if (req.id() != 0) {
      co_return Status::InvalidArgument(fmt::format(
          "metanode {} says it is metanode {}, which this cluster never registered (another cluster's directory?)",
          req.address(), req.id()));
    }
    auto registered = co_await RegisterMetaNode(req);
    if (!registered.ok()) co_return registered.status();
    id = *registered;
  } else if (req.id() != id) {
    // A node with a new, empty directory at the address of a registered
    // one: it must not rejoin the Raft groups of the old one as if it held
    // their logs.
    bool hosts = false;
    for (const auto& v : cluster_map_->Volumes()) {
      for (const auto& p : v.partitions()) {
        hosts = hosts || std::find(p.peers().begin(), p.peers().end(), id) != p.peers().end();
      }
    }
    if (req.id() != 0 || hosts) {
      co_return Status::InvalidArgument(
          fmt::format("{} is registered as metanode {} (which hosts meta partitions) but says it is {}: a lost or "
                      "foreign directory; start it at a new address",
                      req.address(), id, req.id()));
    }
  }
  proto::MetaHeartbeatResponse resp;
  resp.set_id(id);
  for (auto& n : cluster_map_->MetaNodes()) *resp.add_meta_nodes() = std::move(n);
  std::lock_guard l(mu_);
  if (Status s = CheckServingLocked(); !s.ok()) co_return s;
  meta_view_.ApplyHeartbeat(id, req, Now());
  co_return resp;
}

std::vector<std::string> MasterService::MetaAddressesLocked(const proto::MetaPartitionRecord& p) const {
  std::vector<std::string> out;
  for (uint64_t peer : p.peers()) {
    const MetaNodeLive* n = meta_view_.Find(peer);
    out.push_back(n != nullptr ? n->address : std::string());
  }
  return out;
}

proto::VolumeView MasterService::VolumeViewLocked(const proto::VolumeRecord& v) const {
  proto::VolumeView view;
  view.set_id(v.id());
  view.set_name(v.name());
  view.set_capacity_bytes(v.capacity_bytes());
  view.set_replicas(v.replicas());
  view.set_created_ns(v.created_ns());
  for (const auto& p : v.partitions()) {
    auto* pv = view.add_partitions();
    *pv->mutable_record() = p;
    for (auto& a : MetaAddressesLocked(p)) pv->add_replicas(std::move(a));
    if (const MetaNodeLive* leader = meta_view_.Find(meta_view_.Leader(p.id())); leader != nullptr) {
      pv->set_leader(leader->address);
    }
    if (const proto::MetaPartitionReport* r = meta_view_.Report(p.id()); r != nullptr) {
      pv->set_inodes(r->inodes());
      pv->set_dentries(r->dentries());
      pv->set_next_inode(r->next_inode());
    }
  }
  return view;
}

asio::awaitable<Status> MasterService::CreatePartitionReplicas(const proto::MetaPartitionRecord& record,
                                                               const std::vector<uint64_t>& on, bool join,
                                                               int64_t created_ns) {
  proto::CreatePartitionRequest req;
  *req.mutable_record() = record;
  req.set_join(join);
  req.set_created_ns(created_ns);
  for (auto& n : cluster_map_->MetaNodes()) *req.add_meta_nodes() = std::move(n);
  for (uint64_t node : on) {
    std::string address;
    for (const auto& n : req.meta_nodes()) {
      if (n.id() == node) address = n.address();
    }
    if (address.empty()) co_return Status::NotFound(fmt::format("metanode {} is not registered", node));
    proto::CreatePartitionResponse resp;
    auto r = co_await pool_.Get(address)->Call(proto::METANODE_CREATE_PARTITION, req, &resp, "", options_.rpc_timeout);
    if (!r.ok()) {
      co_return r.status().WithContext(fmt::format("create meta partition {} on metanode {} ({})", record.id(), node, address));
    }
  }
  co_return Status::OK();
}

asio::awaitable<Result<proto::VolumeView>> MasterService::CreateVolume(const proto::CreateVolumeRequest& req) {
  if (Status s = ValidateVolumeName(req.name()); !s.ok()) co_return s;
  if (options_.initial_meta_partitions < 1 || options_.meta_partition_ids < 1) {
    co_return Status::InvalidArgument("the master's meta partition options are invalid");
  }
  if (Status s = co_await AcquireVolumeOps(); !s.ok()) co_return s;
  const VolumeOpsRelease release{this};
  if (cluster_map_->FindVolume(req.name()).ok()) {
    co_return Status::Exists(fmt::format("volume {} exists", Quoted(req.name())));
  }
  proto::VolumeRecord v;
  v.set_id(cluster_map_->NextVolumeId());
  v.set_name(req.name());
  v.set_capacity_bytes(req.capacity_bytes());
  v.set_created_ns(Clock::Real()->WallNow().count());
  std::vector<std::vector<uint64_t>> placements;
  {
    std::lock_guard l(mu_);
    const size_t live = meta_view_.LiveCount();
    const uint32_t replicas = req.replicas() != 0 ? req.replicas() : static_cast<uint32_t>(std::min<size_t>(3, live));
    if (replicas == 0 || replicas > live) {
      co_return Status::NoSpace(fmt::format("volume {}: {} replica(s) need as many live metanodes; {} live",
                                                Quoted(req.name()), std::max<uint32_t>(replicas, 1), live));
    }
    v.set_replicas(replicas);
    uint64_t next_id = cluster_map_->NextPartitionId();
    const uint64_t n = static_cast<uint64_t>(options_.initial_meta_partitions);
    for (uint64_t i = 0; i < n; ++i) {
      auto chosen = meta_view_.Choose(replicas, {});
      if (!chosen.ok()) co_return chosen.status();
      for (uint64_t id : *chosen) meta_view_.NotePlaced(id);
      auto* p = v.add_partitions();
      p->set_id(next_id++);
      p->set_volume(v.id());
      p->set_start(i * options_.meta_partition_ids + 1);
      p->set_end(i + 1 == n ? kOpenEnd : (i + 1) * options_.meta_partition_ids);
      for (uint64_t id : *chosen) p->add_peers(id);
      placements.push_back(*chosen);
    }
  }
  for (int i = 0; i < v.partitions_size(); ++i) {
    Status s = co_await CreatePartitionReplicas(v.partitions(i), placements[static_cast<size_t>(i)], false, v.created_ns());
    if (!s.ok()) co_return s.WithContext(fmt::format("create volume {}", Quoted(req.name())));
  }
  proto::MasterCommand c;
  *c.mutable_create_volume() = v;
  if (Status s = co_await Replicate(c); !s.ok()) co_return s.WithContext(fmt::format("create volume {}", Quoted(req.name())));
  spdlog::info("master: created volume {} (id {}, {} replicas, {} meta partitions)", Quoted(v.name()), v.id(),
               v.replicas(), v.partitions_size());
  std::lock_guard l(mu_);
  co_return VolumeViewLocked(v);
}

Result<proto::VolumeView> MasterService::GetVolume(const proto::GetVolumeRequest& req) const {
  {
    std::lock_guard l(mu_);
    CFS_RETURN_IF_ERROR(CheckServingLocked());
  }
  proto::VolumeRecord v;
  if (req.id() != 0) {
    bool found = false;
    for (auto& record : cluster_map_->Volumes()) {
      if (record.id() == req.id()) {
        v = std::move(record);
        found = true;
      }
    }
    if (!found) return Status::NotFound(fmt::format("no volume has id {}", req.id()));
  } else {
    CFS_ASSIGN_OR_RETURN(v, cluster_map_->FindVolume(req.name()));
  }
  std::lock_guard l(mu_);
  return VolumeViewLocked(v);
}

Result<proto::ListVolumesResponse> MasterService::ListVolumes() const {
  {
    std::lock_guard l(mu_);
    CFS_RETURN_IF_ERROR(CheckServingLocked());
  }
  auto volumes = cluster_map_->Volumes();
  proto::ListVolumesResponse resp;
  std::lock_guard l(mu_);
  for (const auto& v : volumes) *resp.add_volumes() = VolumeViewLocked(v);
  return resp;
}

std::vector<uint64_t> MasterService::MarkDeadMetaNodes() {
  std::lock_guard l(mu_);
  if (!CheckServingLocked().ok()) return {};
  auto dead = meta_view_.MarkDead(Now(), options_.dead_after);
  for (uint64_t d : dead) {
    const MetaNodeLive* n = meta_view_.Find(d);
    spdlog::warn("master: metanode {} ({}) missed its heartbeats: marked dead", d, n ? n->address : "?");
  }
  return dead;
}

asio::awaitable<int> MasterService::SplitFullPartitions() {
  int splits = 0;
  for (const auto& v : cluster_map_->Volumes()) {
    const proto::MetaPartitionRecord last = *v.partitions().rbegin();
    uint64_t end = 0;
    proto::MetaPartitionRecord split_off;
    std::vector<uint64_t> on;
    std::vector<std::string> addresses;
    {
      std::lock_guard l(mu_);
      if (!CheckServingLocked().ok() || volume_busy_) co_return splits;
      const proto::MetaPartitionReport* r = meta_view_.Report(last.id());
      if (r == nullptr || meta_view_.Leader(last.id()) == 0) continue;
      // A fixed end the map does not know yet: a split that a master began
      // and did not finish; finish it with that end.
      const bool begun = r->end() != kOpenEnd;
      if (!begun && r->inodes() < options_.split_inodes) continue;
      end = begun ? r->end() : std::max(r->next_inode(), last.start()) - 1 + options_.meta_partition_ids;
      auto chosen = meta_view_.Choose(v.replicas(), {});
      if (!chosen.ok()) {
        spdlog::warn("master: cannot split meta partition {} of volume {}: {}", last.id(), Quoted(v.name()),
                     chosen.status().ToString());
        continue;
      }
      on = *chosen;
      for (uint64_t id : on) meta_view_.NotePlaced(id);
      split_off.set_id(cluster_map_->NextPartitionId());
      split_off.set_volume(v.id());
      split_off.set_start(end + 1);
      split_off.set_end(kOpenEnd);
      for (uint64_t id : on) split_off.add_peers(id);
      addresses = MetaAddressesLocked(last);
      volume_busy_ = true;
    }
    const VolumeOpsRelease release{this};
    rpc::LeaderClient leader(pool_, addresses);
    proto::SetEndRequest set_end;
    set_end.set_partition(last.id());
    set_end.set_end(end);
    proto::SetEndResponse set_end_resp;
    auto r = co_await leader.Call(proto::METANODE_SET_END, set_end, &set_end_resp, "", options_.rpc_timeout);
    if (!r.ok()) {
      spdlog::warn("master: split of meta partition {}: set end {}: {}", last.id(), end, r.status().ToString());
      continue;
    }
    if (Status s = co_await CreatePartitionReplicas(split_off, on, false, Clock::Real()->WallNow().count()); !s.ok()) {
      spdlog::warn("master: split of meta partition {}: {}", last.id(), s.ToString());
      continue;
    }
    proto::MasterCommand c;
    *c.mutable_update_partition()->mutable_partition() = last;
    c.mutable_update_partition()->mutable_partition()->set_end(end);
    *c.mutable_update_partition()->mutable_split_off() = split_off;
    if (Status s = co_await Replicate(c); !s.ok()) {
      spdlog::warn("master: split of meta partition {}: {}", last.id(), s.ToString());
      continue;
    }
    spdlog::info("master: split meta partition {} of volume {}: [{}, {}] and new partition {} [{}, open]", last.id(),
                 Quoted(v.name()), last.start(), end, split_off.id(), end + 1);
    ++splits;
  }
  co_return splits;
}

asio::awaitable<int> MasterService::MoveReplicasOffDeadMetaNodes() {
  int moves = 0;
  for (const auto& v : cluster_map_->Volumes()) {
    for (const auto& p : v.partitions()) {
      uint64_t dead = 0, target = 0;
      std::string target_address;
      std::vector<std::string> live_addresses;
      {
        std::lock_guard l(mu_);
        if (!CheckServingLocked().ok() || volume_busy_) co_return moves;
        std::set<uint64_t> peers(p.peers().begin(), p.peers().end());
        for (uint64_t peer : p.peers()) {
          if (!meta_view_.Alive(peer)) {
            dead = peer;
          } else if (const MetaNodeLive* n = meta_view_.Find(peer); n != nullptr) {
            live_addresses.push_back(n->address);
          }
        }
        if (dead == 0 || live_addresses.empty()) continue;
        auto chosen = meta_view_.Choose(1, peers);
        if (!chosen.ok()) continue;  // nowhere to go: stays degraded
        target = (*chosen)[0];
        target_address = meta_view_.Find(target)->address;
        meta_view_.NotePlaced(target);
        volume_busy_ = true;
      }
      const VolumeOpsRelease release{this};
      spdlog::info("master: moving meta partition {} off dead metanode {} to metanode {} ({})", p.id(), dead, target,
                   target_address);
      const std::vector<uint64_t> on{target};
      if (Status s = co_await CreatePartitionReplicas(p, on, true, v.created_ns()); !s.ok()) {
        spdlog::warn("master: move of meta partition {}: {}", p.id(), s.ToString());
        continue;
      }
      rpc::LeaderClient leader(pool_, live_addresses);
      proto::MoveReplicaRequest move;
      move.set_partition(p.id());
      move.mutable_add()->set_id(target);
      move.mutable_add()->set_address(target_address);
      move.set_remove(dead);
      proto::MoveReplicaResponse moved;
      auto r = co_await leader.Call(proto::METANODE_MOVE_REPLICA, move, &moved, "", options_.rpc_timeout * 8);
      if (!r.ok()) {
        spdlog::warn("master: move of meta partition {}: {}", p.id(), r.status().ToString());
        continue;
      }
      proto::MasterCommand c;
      proto::MetaPartitionRecord* record = c.mutable_update_partition()->mutable_partition();
      *record = p;
      record->clear_peers();
      for (uint64_t peer : p.peers()) record->add_peers(peer == dead ? target : peer);
      if (Status s = co_await Replicate(c); !s.ok()) {
        spdlog::warn("master: move of meta partition {}: record: {}", p.id(), s.ToString());
        continue;
      }
      ++moves;
    }
  }
  co_return moves;
}

}  // namespace cfs::master
