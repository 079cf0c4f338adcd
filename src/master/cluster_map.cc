#include "master/cluster_map.h"

#include <limits>

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
    case proto::MasterCommand::COMMAND_NOT_SET:
      break;
  }
  return Status::InvalidArgument("master command without a command");
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
  std::lock_guard l(mu_);
  nodes_ = std::move(nodes);
  groups_ = std::move(groups);
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
  return snap;
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
