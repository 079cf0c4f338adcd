#include "master/topology.h"

#include <algorithm>
#include <limits>
#include <utility>

#include <fmt/format.h>

namespace cfs::master {

namespace {

// A uniform integer in [0, n), n > 0, the same on every platform (the
// standard distributions are implementation-defined).
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t n) {
  uint64_t threshold = (uint64_t{0} - n) % n;  // 2^64 mod n: rejecting below it removes the bias
  for (;;) {
    uint64_t r = rng();
    if (r >= threshold) return r % n;
  }
}

// SeaweedFS's PickNodesByWeight: orders the candidates by drawing them one by
// one without replacement, each with probability proportional to its weight
// (all weights > 0); the first in that order that passes `first_ok` is the
// first node, and the rest are the first n-1 others in that order. Returns
// indices into `weights`, or nullopt when there are fewer than n candidates
// or none passes.
template <typename FirstOk>
std::optional<std::vector<size_t>> PickByWeight(const std::vector<int64_t>& weights, size_t n, FirstOk first_ok,
                                                std::mt19937_64& rng) {
  if (weights.size() < n || n == 0) return std::nullopt;
  std::vector<int64_t> w = weights;
  uint64_t total = 0;
  for (int64_t x : w) total += static_cast<uint64_t>(x);
  std::vector<size_t> order;
  order.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    uint64_t r = UniformBelow(rng, total);
    for (size_t k = 0; k < w.size(); ++k) {
      if (w[k] == 0) continue;
      if (r < static_cast<uint64_t>(w[k])) {
        order.push_back(k);
        total -= static_cast<uint64_t>(w[k]);
        w[k] = 0;
        break;
      }
      r -= static_cast<uint64_t>(w[k]);
    }
  }
  for (size_t k = 0; k < order.size(); ++k) {
    if (!first_ok(order[k])) continue;
    std::vector<size_t> picked{order[k]};
    for (size_t j = 0; j < order.size() && picked.size() < n; ++j) {
      if (j != k) picked.push_back(order[j]);
    }
    return picked;
  }
  return std::nullopt;
}

// Free slots of live nodes, as the placement sees them: only nodes with at
// least one free slot, in address order inside racks in name order inside
// data centers in name order.
struct NodeView {
  const std::string* address;
  int free;
};
struct RackView {
  std::vector<NodeView> nodes;
  int64_t free = 0;
};
struct DcView {
  std::vector<RackView> racks;
  int64_t free = 0;
};

// A node drawn from `racks` with probability proportional to its free slots
// (SeaweedFS's ReserveOneVolume); `free` is their total, > 0.
const std::string* DrawNode(const std::vector<const RackView*>& racks, int64_t free, std::mt19937_64& rng) {
  uint64_t r = UniformBelow(rng, static_cast<uint64_t>(free));
  for (const RackView* rack : racks) {
    for (const NodeView& n : rack->nodes) {
      if (r < static_cast<uint64_t>(n.free)) return n.address;
      r -= static_cast<uint64_t>(n.free);
    }
  }
  return nullptr;  // unreachable when `free` is the total
}

std::string Plural(int n, std::string_view one, std::string_view many) {
  return fmt::format("{} {}", n, n == 1 ? one : many);
}

}  // namespace

Topology::LayoutKey Topology::KeyOf(const std::string& collection, const ReplicaPlacement& placement,
                                    const Ttl& ttl) {
  LayoutKey key;
  key.collection = collection;
  key.placement = placement.ToByte();
  if (!ttl.empty()) {  // every empty TTL ("0m", "") is the same layout
    key.ttl_count = ttl.count;
    key.ttl_unit = static_cast<uint8_t>(ttl.unit);
  }
  return key;
}

Status Topology::ValidateHeartbeat(const HeartbeatInfo& hb) {
  if (hb.address.empty()) return Status::InvalidArgument("heartbeat without an address");
  if (hb.max_block_groups < 0 || hb.max_block_groups > kMaxBlockGroupsPerNode) {
    return Status::InvalidArgument(fmt::format("heartbeat from {}: max_block_groups {} is outside [0, {}]",
                                               hb.address, hb.max_block_groups, kMaxBlockGroupsPerNode));
  }
  std::set<BlockGroupId> seen;
  for (const BlockGroupInfo& g : hb.block_groups) {
    if (g.id.value() == 0) {
      return Status::InvalidArgument(fmt::format("heartbeat from {}: block group id 0", hb.address));
    }
    if (!seen.insert(g.id).second) {
      return Status::InvalidArgument(fmt::format("heartbeat from {}: block group {} listed twice", hb.address, g.id));
    }
  }
  return Status::OK();
}

void Topology::PlaceNode(Node& node, const std::string& dc, const std::string& rack) {
  if (!node.data_center.empty()) {
    auto dc_it = tree_.find(node.data_center);
    if (dc_it != tree_.end()) {
      auto rack_it = dc_it->second.find(node.rack);
      if (rack_it != dc_it->second.end()) {
        rack_it->second.erase(node.address);
        if (rack_it->second.empty()) dc_it->second.erase(rack_it);
      }
      if (dc_it->second.empty()) tree_.erase(dc_it);
    }
  }
  node.data_center = dc;
  node.rack = rack;
  tree_[dc][rack].insert(node.address);
}

void Topology::NoteGroupId(BlockGroupId id) {
  if (id > max_group_id_) max_group_id_ = id;
}

void Topology::UpsertReplica(const std::string& address, const BlockGroupInfo& info, bool reported) {
  Group& g = groups_[info.id];
  for (Replica& r : g.replicas) {
    if (r.address == address) {
      // A reservation never overwrites what the node itself reported.
      if (reported || !r.reported) {
        r.info = info;
        r.reported = reported;
      }
      return;
    }
  }
  g.replicas.push_back(Replica{address, info, reported});
}

void Topology::RemoveReplica(BlockGroupId id, const std::string& address) {
  auto it = groups_.find(id);
  if (it == groups_.end()) return;
  auto& reps = it->second.replicas;
  reps.erase(std::remove_if(reps.begin(), reps.end(), [&](const Replica& r) { return r.address == address; }),
             reps.end());
}

bool Topology::ComputeWritable(const Group& g) const {
  if (g.replicas.empty()) return false;
  const BlockGroupInfo& first = g.replicas.front().info;
  LayoutKey key = KeyOf(first.collection, first.placement, first.ttl);
  if (g.replicas.size() != static_cast<size_t>(first.placement.CopyCount())) return false;
  for (const Replica& r : g.replicas) {
    if (r.info.read_only || r.info.size_bytes >= size_limit_bytes_) return false;
    if (!(KeyOf(r.info.collection, r.info.placement, r.info.ttl) == key)) return false;
    auto node = nodes_.find(r.address);
    if (node == nodes_.end() || !node->second.alive) return false;
  }
  return true;
}

void Topology::Refresh(BlockGroupId id) {
  auto it = groups_.find(id);
  if (it == groups_.end()) return;
  Group& g = it->second;
  std::optional<LayoutKey> want;
  if (ComputeWritable(g)) {
    const BlockGroupInfo& first = g.replicas.front().info;
    want = KeyOf(first.collection, first.placement, first.ttl);
  }
  if (g.writable_in != want) {
    if (g.writable_in) {
      auto lit = writable_.find(*g.writable_in);
      if (lit != writable_.end()) {
        auto& ids = lit->second;
        auto pos = std::lower_bound(ids.begin(), ids.end(), id);
        if (pos != ids.end() && *pos == id) ids.erase(pos);
        if (ids.empty()) writable_.erase(lit);
      }
    }
    if (want) {
      auto& ids = writable_[*want];
      ids.insert(std::lower_bound(ids.begin(), ids.end(), id), id);
    }
    g.writable_in = std::move(want);
  }
  if (g.replicas.empty()) groups_.erase(it);
}

void Topology::RefreshNodeGroups(const Node& node) {
  for (BlockGroupId id : node.reported) Refresh(id);
  for (const auto& [id, misses] : node.reserved) Refresh(id);
}

void Topology::ApplyHeartbeat(const HeartbeatInfo& hb, std::chrono::nanoseconds now) {
  if (hb.address.empty()) return;
  auto [it, inserted] = nodes_.try_emplace(hb.address);
  Node& node = it->second;
  if (inserted) node.address = hb.address;
  const std::string dc = hb.data_center.empty() ? kDefaultDataCenter : hb.data_center;
  const std::string rack = hb.rack.empty() ? kDefaultRack : hb.rack;
  if (inserted || node.data_center != dc || node.rack != rack) PlaceNode(node, dc, rack);
  node.max_block_groups = std::clamp(hb.max_block_groups, 0, kMaxBlockGroupsPerNode);
  node.last_heartbeat = now;
  node.alive = true;

  // The new list, duplicates resolved to the last entry.
  std::map<BlockGroupId, const BlockGroupInfo*> now_held;
  for (const BlockGroupInfo& g : hb.block_groups) {
    if (g.id.value() != 0) now_held[g.id] = &g;
  }

  std::vector<BlockGroupId> touched;
  for (BlockGroupId id : node.reported) {
    if (!now_held.count(id)) {
      RemoveReplica(id, node.address);
      touched.push_back(id);
    }
  }
  node.reported.clear();
  for (const auto& [id, info] : now_held) {
    UpsertReplica(node.address, *info, /*reported=*/true);
    node.reported.insert(id);
    node.reserved.erase(id);
    NoteGroupId(id);
    touched.push_back(id);
  }
  for (auto rit = node.reserved.begin(); rit != node.reserved.end();) {
    touched.push_back(rit->first);
    if (++rit->second >= 2) {
      RemoveReplica(rit->first, node.address);
      rit = node.reserved.erase(rit);
    } else {
      ++rit;
    }
  }
  // Liveness may have changed too, which affects groups not in `touched`
  // only through this node, and all of this node's groups are in it.
  for (BlockGroupId id : touched) Refresh(id);
}

std::vector<std::string> Topology::MarkDeadNodes(std::chrono::nanoseconds now, std::chrono::nanoseconds dead_after) {
  std::vector<std::string> dead;
  for (auto& [address, node] : nodes_) {
    if (!node.alive || now - node.last_heartbeat <= dead_after) continue;
    node.alive = false;
    dead.push_back(address);
    // A dead node may have lost what it was allocated; its next heartbeat
    // says what it really holds.
    std::vector<BlockGroupId> dropped;
    for (const auto& [id, misses] : node.reserved) dropped.push_back(id);
    node.reserved.clear();
    for (BlockGroupId id : dropped) {
      RemoveReplica(id, address);
      Refresh(id);
    }
    RefreshNodeGroups(node);
  }
  return dead;
}

void Topology::RegisterGrownGroup(const BlockGroupInfo& info, const std::vector<std::string>& addresses) {
  if (info.id.value() == 0) return;
  NoteGroupId(info.id);
  for (const std::string& address : addresses) {
    auto it = nodes_.find(address);
    if (it == nodes_.end()) continue;
    Node& node = it->second;
    if (node.reported.count(info.id)) continue;  // its heartbeat was faster
    node.reserved[info.id] = 0;
    UpsertReplica(address, info, /*reported=*/false);
  }
  Refresh(info.id);
}

std::optional<AssignTarget> Topology::PickWritable(const std::string& collection, const ReplicaPlacement& placement,
                                                   const Ttl& ttl, std::mt19937_64& rng) const {
  auto it = writable_.find(KeyOf(collection, placement, ttl));
  if (it == writable_.end() || it->second.empty()) return std::nullopt;
  const std::vector<BlockGroupId>& ids = it->second;
  BlockGroupId id = ids[UniformBelow(rng, ids.size())];
  AssignTarget target{id, {}};
  for (const Replica& r : groups_.at(id).replicas) target.addresses.push_back(r.address);
  return target;
}

Result<std::vector<std::string>> Topology::FindSlotsForOneGroup(const ReplicaPlacement& placement,
                                                                std::mt19937_64& rng) const {
  return FindSlotsForOneGroup(placement, rng, SlotHolds{});
}

Result<std::vector<std::string>> Topology::FindSlotsForOneGroup(const ReplicaPlacement& placement,
                                                                std::mt19937_64& rng,
                                                                const SlotHolds& holds) const {
  const int x = placement.diff_data_center;
  const int y = placement.diff_rack;
  const int z = placement.same_rack;
  const std::string code = placement.ToString();

  std::vector<DcView> dcs;
  for (const auto& [dc_name, racks] : tree_) {
    DcView dc;
    for (const auto& [rack_name, addresses] : racks) {
      RackView rack;
      for (const std::string& address : addresses) {
        const Node& node = nodes_.at(address);
        if (!node.alive) continue;
        int free = node.free();
        if (auto h = holds.find(address); h != holds.end()) free -= h->second;
        if (free <= 0) continue;
        rack.nodes.push_back(NodeView{&node.address, free});
        rack.free += free;
      }
      if (rack.free > 0) {
        dc.free += rack.free;
        dc.racks.push_back(std::move(rack));
      }
    }
    if (dc.free > 0) dcs.push_back(std::move(dc));
  }
  if (dcs.empty()) return Status::NoSpace("no free block group slots");

  if (dcs.size() < static_cast<size_t>(x + 1)) {
    return Status::NoSpace(fmt::format("placement {} needs {} with free slots; the cluster has {}", code,
                                       Plural(x + 1, "data center", "data centers"), dcs.size()));
  }

  // How many racks of `dc` could hold the main rack's z+1 copies.
  auto full_racks = [&](const DcView& dc) {
    return static_cast<int>(std::count_if(dc.racks.begin(), dc.racks.end(), [&](const RackView& r) {
      return r.nodes.size() >= static_cast<size_t>(z + 1);
    }));
  };
  // SeaweedFS's main data center filter: y+1 racks that each have z+1 nodes
  // with a free slot (and so at least y+z+1 free slots).
  auto dc_ok = [&](size_t i) { return full_racks(dcs[i]) >= y + 1; };

  std::vector<int64_t> dc_weights;
  for (const DcView& dc : dcs) dc_weights.push_back(dc.free);
  std::optional<std::vector<size_t>> dc_pick = PickByWeight(dc_weights, x + 1, dc_ok, rng);
  if (!dc_pick) {
    if (y == 0) {
      // z > 0 here: one rack with z+1 nodes would have done.
      size_t best = 0;
      for (const DcView& dc : dcs) {
        for (const RackView& r : dc.racks) best = std::max(best, r.nodes.size());
      }
      return Status::NoSpace(fmt::format("placement {} needs {} with free slots in one rack; the best has {}", code,
                                         Plural(z + 1, "datanode", "datanodes"), best));
    }
    int best = 0;
    for (const DcView& dc : dcs) best = std::max(best, full_racks(dc));
    if (z == 0) {
      return Status::NoSpace(fmt::format("placement {} needs {} with free slots in one data center; the best has {}",
                                         code, Plural(y + 1, "rack", "racks"), best));
    }
    return Status::NoSpace(
        fmt::format("placement {} needs {} with {} with free slots each in one data center; the best has {}", code,
                    Plural(y + 1, "rack", "racks"), Plural(z + 1, "datanode", "datanodes"), best));
  }

  const DcView& main_dc = dcs[(*dc_pick)[0]];
  std::vector<int64_t> rack_weights;
  for (const RackView& r : main_dc.racks) rack_weights.push_back(r.free);
  auto rack_ok = [&](size_t i) { return main_dc.racks[i].nodes.size() >= static_cast<size_t>(z + 1); };
  std::optional<std::vector<size_t>> rack_pick = PickByWeight(rack_weights, y + 1, rack_ok, rng);
  if (!rack_pick) return Status::Internal("placement " + code + ": main data center has no main rack");

  const RackView& main_rack = main_dc.racks[(*rack_pick)[0]];
  std::vector<int64_t> node_weights;
  for (const NodeView& n : main_rack.nodes) node_weights.push_back(n.free);
  std::optional<std::vector<size_t>> node_pick =
      PickByWeight(node_weights, z + 1, [](size_t) { return true; }, rng);
  if (!node_pick) return Status::Internal("placement " + code + ": main rack has too few datanodes");

  std::vector<std::string> chosen;
  chosen.reserve(placement.CopyCount());
  for (size_t i : *node_pick) chosen.push_back(*main_rack.nodes[i].address);
  for (size_t k = 1; k < rack_pick->size(); ++k) {
    const RackView& rack = main_dc.racks[(*rack_pick)[k]];
    chosen.push_back(*DrawNode({&rack}, rack.free, rng));
  }
  for (size_t k = 1; k < dc_pick->size(); ++k) {
    const DcView& dc = dcs[(*dc_pick)[k]];
    std::vector<const RackView*> racks;
    for (const RackView& r : dc.racks) racks.push_back(&r);
    chosen.push_back(*DrawNode(racks, dc.free, rng));
  }
  return chosen;
}

std::vector<std::string> Topology::Lookup(BlockGroupId id) const {
  std::vector<std::string> live, dead;
  auto it = groups_.find(id);
  if (it == groups_.end()) return live;
  for (const Replica& r : it->second.replicas) {
    auto node = nodes_.find(r.address);
    (node != nodes_.end() && node->second.alive ? live : dead).push_back(r.address);
  }
  live.insert(live.end(), dead.begin(), dead.end());
  return live;
}

std::vector<BlockGroupId> Topology::GroupsOverGarbage(double ratio) const {
  std::vector<BlockGroupId> out;
  for (const auto& [id, g] : groups_) {
    for (const Replica& r : g.replicas) {
      if (!r.reported || r.info.size_bytes == 0) continue;
      auto node = nodes_.find(r.address);
      if (node == nodes_.end() || !node->second.alive) continue;
      if (static_cast<double>(r.info.garbage_bytes) / static_cast<double>(r.info.size_bytes) > ratio) {
        out.push_back(id);
        break;
      }
    }
  }
  return out;
}

int Topology::FreeSlots() const {
  int64_t free = 0;
  for (const auto& [address, node] : nodes_) {
    if (node.alive) free += node.free();
  }
  return static_cast<int>(std::min<int64_t>(free, std::numeric_limits<int>::max()));
}

bool Topology::IsWritable(BlockGroupId id) const {
  auto it = groups_.find(id);
  return it != groups_.end() && it->second.writable_in.has_value();
}

bool Topology::IsAlive(const std::string& address) const {
  auto it = nodes_.find(address);
  return it != nodes_.end() && it->second.alive;
}

TopologySnapshot Topology::Snapshot() const {
  TopologySnapshot snap;
  for (const auto& [dc_name, racks] : tree_) {
    TopologySnapshot::DataCenter dc{dc_name, {}};
    for (const auto& [rack_name, addresses] : racks) {
      TopologySnapshot::Rack rack{rack_name, {}};
      for (const std::string& address : addresses) {
        const Node& n = nodes_.at(address);
        rack.nodes.push_back(
            TopologySnapshot::Node{n.address, n.alive, n.max_block_groups, n.used(), n.free(), n.last_heartbeat});
      }
      dc.racks.push_back(std::move(rack));
    }
    snap.data_centers.push_back(std::move(dc));
  }
  for (const auto& [id, g] : groups_) {
    TopologySnapshot::BlockGroup b;
    b.id = id;
    const BlockGroupInfo& first = g.replicas.front().info;
    b.collection = first.collection;
    b.placement = first.placement;
    b.ttl = first.ttl;
    b.replicas = Lookup(id);
    for (const Replica& r : g.replicas) {
      if (IsAlive(r.address)) ++b.live_replicas;
      b.size_bytes = std::max(b.size_bytes, r.info.size_bytes);
      b.needle_count = std::max(b.needle_count, r.info.needle_count);
      b.garbage_bytes = std::max(b.garbage_bytes, r.info.garbage_bytes);
      b.read_only = b.read_only || r.info.read_only;
    }
    b.writable = g.writable_in.has_value();
    snap.block_groups.push_back(std::move(b));
  }
  snap.free_slots = FreeSlots();
  return snap;
}

}  // namespace cfs::master
