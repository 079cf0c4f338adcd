#include "master/meta_view.h"

#include <algorithm>
#include <tuple>

#include <fmt/format.h>

namespace cfs::master {

void MetaView::Presume(uint64_t id, const std::string& address, std::chrono::nanoseconds now) {
  MetaNodeLive& n = nodes_[id];
  n.address = address;
  n.last_seen = now;
  n.alive = true;
}

void MetaView::ApplyHeartbeat(uint64_t id, const proto::MetaHeartbeatRequest& hb, std::chrono::nanoseconds now) {
  MetaNodeLive& n = nodes_[id];
  n.address = hb.address();
  n.last_seen = now;
  n.alive = true;
  n.memory_bytes = hb.memory_bytes();
  n.memory_limit_bytes = hb.memory_limit_bytes();
  n.partitions = static_cast<size_t>(hb.partitions_size());
  for (const auto& p : hb.partitions()) {
    PartitionLive& live = partitions_[p.id()];
    if (p.leader()) {
      live.report = p;
      live.leader = id;
    } else if (live.leader == 0 || live.leader == id) {
      live.report = p;  // no leader heard from: the freshest replica's view
      live.leader = 0;
    }
  }
}

std::vector<uint64_t> MetaView::MarkDead(std::chrono::nanoseconds now, std::chrono::nanoseconds dead_after) {
  std::vector<uint64_t> dead;
  for (auto& [id, n] : nodes_) {
    if (n.alive && now - n.last_seen >= dead_after) {
      n.alive = false;
      dead.push_back(id);
    }
  }
  return dead;
}

Result<std::vector<uint64_t>> MetaView::Choose(size_t count, const std::set<uint64_t>& exclude) const {
  std::vector<std::tuple<size_t, double, uint64_t>> candidates;
  for (const auto& [id, n] : nodes_) {
    if (!n.alive || exclude.contains(id)) continue;
    const double memory = n.memory_limit_bytes == 0 ? 0.0
                                                    : static_cast<double>(n.memory_bytes) /
                                                          static_cast<double>(n.memory_limit_bytes);
    candidates.emplace_back(n.partitions, memory, id);
  }
  if (candidates.size() < count) {
    // NoSpace, not Unavailable: callers would retry an Unavailable as a routing error.
    return Status::NoSpace(fmt::format("{} metanode(s) wanted, {} live and eligible", count, candidates.size()));
  }
  std::sort(candidates.begin(), candidates.end());
  std::vector<uint64_t> out;
  for (size_t i = 0; i < count; ++i) out.push_back(std::get<2>(candidates[i]));
  return out;
}

void MetaView::NotePlaced(uint64_t id) {
  auto it = nodes_.find(id);
  if (it != nodes_.end()) ++it->second.partitions;
}

bool MetaView::Alive(uint64_t id) const {
  auto it = nodes_.find(id);
  return it != nodes_.end() && it->second.alive;
}

size_t MetaView::LiveCount() const {
  return static_cast<size_t>(std::count_if(nodes_.begin(), nodes_.end(), [](const auto& e) { return e.second.alive; }));
}

const MetaNodeLive* MetaView::Find(uint64_t id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

const proto::MetaPartitionReport* MetaView::Report(uint64_t partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? nullptr : &it->second.report;
}

uint64_t MetaView::Leader(uint64_t partition) const {
  auto it = partitions_.find(partition);
  return it == partitions_.end() ? 0 : it->second.leader;
}

}  // namespace cfs::master
