#include "master/cluster_map.h"

#include <cctype>
#include <limits>
#include <set>

#include <fmt/format.h>

#include "common/replica_placement.h"
#include "common/strings.h"
#include "common/ttl.h"
#include "master/topology.h"

namespace cfs::master {

Status ClusterMap::Validate(const proto::MasterCommand& command) {
  switch (command.command_case()) {
    case proto::MasterCommand::kRegisterNode: {
      const auto& n = command.register_node();
      if (n.address().empty()) return Status::InvalidArgument("register node: empty address");
      if (n.max_block_groups() < 0 || n.max_block_groups() > kMaxBlockGroupsPerNode) {
        return Status::InvalidArgument(fmt::format("register node {}: max_block_groups {} is outside [0, {}]",
                                                   n.address(), n.max_block_groups(), kMaxBlockGroupsPerNode));
      }
      return Status::OK();
    }
    case proto::MasterCommand::kRegisterBlockGroup: {
      const auto& g = command.register_block_group();
      if (g.id() == 0) return Status::InvalidArgument("register block group: id 0");
      auto placement = ReplicaPlacement::Parse(g.placement());
      if (!placement.ok()) return placement.status().WithContext(fmt::format("register block group {}", g.id()));
      auto ttl = Ttl::Parse(g.ttl());
      if (!ttl.ok()) return ttl.status().WithContext(fmt::format("register block group {}", g.id()));
      if (g.replicas().empty()) return Status::InvalidArgument(fmt::format("register block group {}: no replicas", g.id()));
      for (const auto& r : g.replicas()) {
        if (r.empty()) return Status::InvalidArgument(fmt::format("register block group {}: empty replica address", g.id()));
      }
      return Status::OK();
    }
    case proto::MasterCommand::kReserveIds: {
      const auto& r = command.reserve_ids();
      if (r.kind() != proto::ID_NEEDLE && r.kind() != proto::ID_BLOCK_GROUP) {
        return Status::InvalidArgument(fmt::format("reserve ids: unknown kind {}", static_cast<int>(r.kind())));
      }
      if (r.from() == 0 || r.to() <= r.from()) {
        return Status::InvalidArgument(fmt::format("reserve ids: empty or invalid range [{}, {})", r.from(), r.to()));
      }
      if (r.kind() == proto::ID_BLOCK_GROUP && r.to() - 1 > std::numeric_limits<uint32_t>::max()) {
        return Status::NoSpace(fmt::format("block group ids exhausted (range [{}, {}))", r.from(), r.to()));
      }
      return Status::OK();
    }
    case proto::MasterCommand::kRegisterMetaNode: {
      const auto& n = command.register_meta_node();
      if (n.id() == 0 || n.address().empty()) {
        return Status::InvalidArgument(fmt::format("register metanode {}: needs an id and an address", n.address()));
      }
      return Status::OK();
    }
    case proto::MasterCommand::kCreateVolume:
      return ValidateVolumeName(command.create_volume().name());
    case proto::MasterCommand::kUpdatePartition:
      if (command.update_partition().partition().id() == 0) {
        return Status::InvalidArgument("update partition: no partition id");
      }
      return Status::OK();
    case proto::MasterCommand::COMMAND_NOT_SET:
      break;
  }
  return Status::InvalidArgument("master command without a command");
}

Status ValidateVolumeName(std::string_view name) {
  if (name.empty() || name.size() > kMaxVolumeNameBytes) {
    return Status::InvalidArgument(
        fmt::format("volume name {} must have 1 to {} characters", Quoted(name), kMaxVolumeNameBytes));
  }
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      return Status::InvalidArgument(
          fmt::format("volume name {}: only letters, digits, '-', '_' and '.' are allowed", Quoted(name)));
    }
  }
  return Status::OK();
}

Status ClusterMap::CheckPartitionLocked(const proto::MetaPartitionRecord& p, uint32_t replicas) const {
  if (p.id() == 0) return Status::InvalidArgument("meta partition id 0");
  if (p.start() == 0 || p.end() < p.start()) {
    return Status::InvalidArgument(fmt::format("meta partition {}: bad range [{}, {}]", p.id(), p.start(), p.end()));
  }
  if (p.peers_size() != static_cast<int>(replicas)) {
    return Status::InvalidArgument(
        fmt::format("meta partition {}: {} peers for {} replicas", p.id(), p.peers_size(), replicas));
  }
  for (int i = 0; i < p.peers_size(); ++i) {
    if (!meta_nodes_.contains(p.peers(i))) {
      return Status::InvalidArgument(fmt::format("meta partition {}: metanode {} is not registered", p.id(), p.peers(i)));
    }
    for (int j = 0; j < i; ++j) {
      if (p.peers(j) == p.peers(i)) {
        return Status::InvalidArgument(fmt::format("meta partition {}: metanode {} listed twice", p.id(), p.peers(i)));
      }
    }
  }
  return Status::OK();
}

Status ClusterMap::ApplyCreateVolumeLocked(const proto::VolumeRecord& v) {
  if (volumes_.contains(v.name())) return Status::Exists(fmt::format("volume {} exists", Quoted(v.name())));
  if (v.id() == 0 || v.replicas() == 0 || v.partitions().empty()) {
    return Status::InvalidArgument(fmt::format("volume {}: needs an id, replicas and partitions", Quoted(v.name())));
  }
  std::set<uint64_t> ids;
  for (const auto& [name, other] : volumes_) {
    if (other.id() == v.id()) return Status::Exists(fmt::format("volume id {} is taken", v.id()));
    for (const auto& p : other.partitions()) ids.insert(p.id());
  }
  uint64_t next_start = 1;
  for (const auto& p : v.partitions()) {
    CFS_RETURN_IF_ERROR(CheckPartitionLocked(p, v.replicas()).WithContext(fmt::format("volume {}", Quoted(v.name()))));
    if (!ids.insert(p.id()).second) return Status::Exists(fmt::format("meta partition id {} is taken", p.id()));
    if (p.volume() != v.id() || p.start() != next_start || next_start == 0) {
      return Status::InvalidArgument(fmt::format("volume {}: partitions must cover the inode ids from 1 in order",
                                                 Quoted(v.name())));
    }
    next_start = p.end() + 1;  // wraps to 0 after the open end
  }
  if (v.partitions().rbegin()->end() != kOpenEnd) {
    return Status::InvalidArgument(fmt::format("volume {}: the last partition must be open", Quoted(v.name())));
  }
  volumes_[v.name()] = v;
  return Status::OK();
}

Status ClusterMap::ApplyUpdatePartitionLocked(const proto::UpdatePartition& u) {
  const auto& p = u.partition();
  for (auto& [name, v] : volumes_) {
    if (v.id() != p.volume()) continue;
    for (int i = 0; i < v.partitions_size(); ++i) {
      proto::MetaPartitionRecord* old = v.mutable_partitions(i);
      if (old->id() != p.id()) continue;
      if (p.start() != old->start() || p.end() > old->end()) {
        return Status::InvalidArgument(fmt::format("meta partition {}: a range may only shrink at its end", p.id()));
      }
      CFS_RETURN_IF_ERROR(CheckPartitionLocked(p, v.replicas()));
      const bool split = u.has_split_off();
      if (split != (p.end() != old->end())) {
        return Status::InvalidArgument(fmt::format("meta partition {}: a new end needs a split-off partition", p.id()));
      }
      if (split) {
        const auto& n = u.split_off();
        if (old->end() != kOpenEnd) {
          return Status::InvalidArgument(fmt::format("meta partition {}: only the last partition splits", p.id()));
        }
        CFS_RETURN_IF_ERROR(CheckPartitionLocked(n, v.replicas()));
        if (n.volume() != v.id() || n.start() != p.end() + 1 || n.end() != kOpenEnd) {
          return Status::InvalidArgument(
              fmt::format("meta partition {}: the split-off partition must be [{}, open]", p.id(), p.end() + 1));
        }
        for (const auto& [other_name, other] : volumes_) {
          for (const auto& q : other.partitions()) {
            if (q.id() == n.id()) return Status::Exists(fmt::format("meta partition id {} is taken", n.id()));
          }
        }
        *old = p;
        *v.add_partitions() = n;
      } else {
        *old = p;
      }
      return Status::OK();
    }
    return Status::NotFound(fmt::format("volume {} has no meta partition {}", Quoted(name), p.id()));
  }
  return Status::NotFound(fmt::format("no volume has id {}", p.volume()));
}

uint64_t& ClusterMap::MarkLocked(proto::IdKind kind) {
  return kind == proto::ID_NEEDLE ? needle_mark_ : block_group_mark_;
}

Status ClusterMap::Apply(const proto::MasterCommand& command) {
  CFS_RETURN_IF_ERROR(Validate(command));
  std::lock_guard l(mu_);
  switch (command.command_case()) {
    case proto::MasterCommand::kRegisterNode:
      nodes_[command.register_node().address()] = command.register_node();
      return Status::OK();
    case proto::MasterCommand::kRegisterBlockGroup: {
      const auto& g = command.register_block_group();
      groups_[g.id()] = g;
      block_group_mark_ = std::max<uint64_t>(block_group_mark_, uint64_t{g.id()} + 1);
      return Status::OK();
    }
    case proto::MasterCommand::kReserveIds: {
      const auto& r = command.reserve_ids();
      uint64_t& mark = MarkLocked(r.kind());
      if (r.from() != mark) {
        return Status(Code::kAborted, fmt::format("reserve {} ids [{}, {}): the mark is {}",
                                                  r.kind() == proto::ID_NEEDLE ? "needle" : "block group", r.from(),
                                                  r.to(), mark));
      }
      mark = r.to();
      return Status::OK();
    }
    case proto::MasterCommand::kRegisterMetaNode: {
      const auto& n = command.register_meta_node();
      auto it = meta_nodes_.find(n.id());
      if (it != meta_nodes_.end()) {
        if (it->second.address() == n.address()) return Status::OK();
        return Status::Exists(fmt::format("metanode id {} is {}", n.id(), it->second.address()));
      }
      for (const auto& [id, m] : meta_nodes_) {
        if (m.address() == n.address()) return Status::Exists(fmt::format("metanode {} has id {}", n.address(), id));
      }
      meta_nodes_[n.id()] = n;
      return Status::OK();
    }
    case proto::MasterCommand::kCreateVolume:
      return ApplyCreateVolumeLocked(command.create_volume());
    case proto::MasterCommand::kUpdatePartition:
      return ApplyUpdatePartitionLocked(command.update_partition());
    case proto::MasterCommand::COMMAND_NOT_SET:
      break;
  }
  return Status::InvalidArgument("master command without a command");  // unreachable: Validate
}

Result<std::string> ClusterMap::Apply(LogIndex index, std::string_view data) {
  proto::MasterCommand command;
  if (!command.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return Status::Corruption(fmt::format("master log entry {}: not a MasterCommand ({} bytes)", index, data.size()));
  }
  CFS_RETURN_IF_ERROR(Apply(command));
  return std::string();
}

Result<std::string> ClusterMap::Snapshot() {
  return Copy().SerializeAsString();
}

Status ClusterMap::Restore(std::string_view data) {
  proto::ClusterMapSnapshot snap;
  if (!snap.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return Status::Corruption(fmt::format("cluster map snapshot does not parse ({} bytes)", data.size()));
  }
  std::map<std::string, proto::NodeRecord> nodes;
  for (const auto& n : snap.nodes()) nodes[n.address()] = n;
  std::map<uint32_t, proto::BlockGroupRecord> groups;
  for (const auto& g : snap.block_groups()) groups[g.id()] = g;
  std::map<uint64_t, proto::MetaNodeRecord> meta_nodes;
  for (const auto& n : snap.meta_nodes()) meta_nodes[n.id()] = n;
  std::map<std::string, proto::VolumeRecord> volumes;
  for (const auto& v : snap.volumes()) volumes[v.name()] = v;
  std::lock_guard l(mu_);
  nodes_ = std::move(nodes);
  groups_ = std::move(groups);
  meta_nodes_ = std::move(meta_nodes);
  volumes_ = std::move(volumes);
  needle_mark_ = std::max<uint64_t>(snap.needle_mark(), 1);
  block_group_mark_ = std::max<uint64_t>(snap.block_group_mark(), 1);
  return Status::OK();
}

proto::ClusterMapSnapshot ClusterMap::Copy() const {
  proto::ClusterMapSnapshot snap;
  std::lock_guard l(mu_);
  for (const auto& [address, n] : nodes_) *snap.add_nodes() = n;
  for (const auto& [id, g] : groups_) *snap.add_block_groups() = g;
  snap.set_needle_mark(needle_mark_);
  snap.set_block_group_mark(block_group_mark_);
  for (const auto& [id, n] : meta_nodes_) *snap.add_meta_nodes() = n;
  for (const auto& [name, v] : volumes_) *snap.add_volumes() = v;
  return snap;
}

uint64_t ClusterMap::MetaNodeId(const std::string& address) const {
  std::lock_guard l(mu_);
  for (const auto& [id, n] : meta_nodes_) {
    if (n.address() == address) return id;
  }
  return 0;
}

std::vector<proto::MetaNodeRecord> ClusterMap::MetaNodes() const {
  std::lock_guard l(mu_);
  std::vector<proto::MetaNodeRecord> out;
  for (const auto& [id, n] : meta_nodes_) out.push_back(n);
  return out;
}

Result<proto::VolumeRecord> ClusterMap::FindVolume(const std::string& name) const {
  std::lock_guard l(mu_);
  auto it = volumes_.find(name);
  if (it == volumes_.end()) return Status::NotFound(fmt::format("no volume {}", Quoted(name)));
  return it->second;
}

std::vector<proto::VolumeRecord> ClusterMap::Volumes() const {
  std::lock_guard l(mu_);
  std::vector<proto::VolumeRecord> out;
  for (const auto& [name, v] : volumes_) out.push_back(v);
  return out;
}

uint64_t ClusterMap::NextMetaNodeId() const {
  std::lock_guard l(mu_);
  return meta_nodes_.empty() ? 1 : meta_nodes_.rbegin()->first + 1;
}

uint64_t ClusterMap::NextVolumeId() const {
  std::lock_guard l(mu_);
  uint64_t next = 1;
  for (const auto& [name, v] : volumes_) next = std::max(next, v.id() + 1);
  return next;
}

uint64_t ClusterMap::NextPartitionId() const {
  std::lock_guard l(mu_);
  uint64_t next = 1;
  for (const auto& [name, v] : volumes_) {
    for (const auto& p : v.partitions()) next = std::max(next, p.id() + 1);
  }
  return next;
}

uint64_t ClusterMap::mark(proto::IdKind kind) const {
  std::lock_guard l(mu_);
  return kind == proto::ID_NEEDLE ? needle_mark_ : block_group_mark_;
}

bool ClusterMap::FindNode(const std::string& address, proto::NodeRecord* out) const {
  std::lock_guard l(mu_);
  auto it = nodes_.find(address);
  if (it == nodes_.end()) return false;
  *out = it->second;
  return true;
}

}  // namespace cfs::master
