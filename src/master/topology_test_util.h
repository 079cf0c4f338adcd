// Builders for topology, placement and growth tests.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "master/topology.h"

namespace cfs::master::test {

inline ReplicaPlacement Rp(std::string_view code) {
  Result<ReplicaPlacement> rp = ReplicaPlacement::Parse(code);
  EXPECT_TRUE(rp.ok()) << code << ": " << rp.status().ToString();
  return rp.ok() ? *rp : ReplicaPlacement{};
}

inline BlockGroupInfo Bg(uint32_t id, std::string_view placement = "000", std::string collection = "",
                         uint64_t size_bytes = 0) {
  BlockGroupInfo g;
  g.id = BlockGroupId(id);
  g.collection = std::move(collection);
  g.placement = Rp(placement);
  g.size_bytes = size_bytes;
  return g;
}

inline HeartbeatInfo Hb(std::string address, std::string dc, std::string rack, int max,
                        std::vector<BlockGroupInfo> groups = {}) {
  return HeartbeatInfo{std::move(address), std::move(dc), std::move(rack), max, std::move(groups)};
}

// `n` filler groups (ids from `first_id`) to make a node's used slots n.
inline std::vector<BlockGroupInfo> Fillers(uint32_t first_id, int n) {
  std::vector<BlockGroupInfo> out;
  for (int i = 0; i < n; ++i) out.push_back(Bg(first_id + static_cast<uint32_t>(i), "000", "filler"));
  return out;
}

inline constexpr std::chrono::nanoseconds T(int seconds) { return std::chrono::seconds(seconds); }

// The node of `address` in a snapshot, or nullptr; also its data center and rack.
struct NodePlace {
  const TopologySnapshot::Node* node = nullptr;
  std::string data_center, rack;
};
inline NodePlace FindNode(const TopologySnapshot& snap, const std::string& address) {
  for (const auto& dc : snap.data_centers) {
    for (const auto& rack : dc.racks) {
      for (const auto& n : rack.nodes) {
        if (n.address == address) return {&n, dc.name, rack.name};
      }
    }
  }
  return {};
}

}  // namespace cfs::master::test
