// MetaView: the master leader's live view of the metanodes, built from their
// heartbeats (soft state, like Topology for datanodes): liveness, memory,
// how many partitions each hosts, and each partition's latest report from
// its leader. It also chooses metanodes for new partition replicas.
//
// A metanode not heard from for dead_after is dead (MarkDead); its next
// heartbeat revives it. A master taking over presumes every registered
// metanode alive (Presume) until it misses its heartbeats.
//
// Thread-safety: none; the owner serializes calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"
#include "proto/master.pb.h"

namespace cfs::master {

struct MetaNodeLive {
  std::string address;
  std::chrono::nanoseconds last_seen{0};
  bool alive = true;
  uint64_t memory_bytes = 0;
  uint64_t memory_limit_bytes = 0;
  size_t partitions = 0;  // replicas it hosts (reported, plus placed since)
};

class MetaView {
 public:
  void Presume(uint64_t id, const std::string& address, std::chrono::nanoseconds now);
  void ApplyHeartbeat(uint64_t id, const proto::MetaHeartbeatRequest& hb, std::chrono::nanoseconds now);
  // Marks nodes silent for `dead_after` dead; returns those newly dead.
  std::vector<uint64_t> MarkDead(std::chrono::nanoseconds now, std::chrono::nanoseconds dead_after);

  // `count` distinct live metanodes not in `exclude`: fewest partitions
  // first, then the smallest share of memory in use, then the lowest id.
  // NoSpace if there are not enough.
  Result<std::vector<uint64_t>> Choose(size_t count, const std::set<uint64_t>& exclude) const;
  // A replica was placed on `id` (counts until its heartbeat reports it).
  void NotePlaced(uint64_t id);

  bool Alive(uint64_t id) const;
  size_t LiveCount() const;
  const MetaNodeLive* Find(uint64_t id) const;
  // The latest report of a partition from the metanode leading it (else
  // from any replica); nullptr if none reported it.
  const proto::MetaPartitionReport* Report(uint64_t partition) const;
  // The metanode that last reported leading the partition; 0 if none.
  uint64_t Leader(uint64_t partition) const;

 private:
  struct PartitionLive {
    proto::MetaPartitionReport report;
    uint64_t leader = 0;
  };
  std::map<uint64_t, MetaNodeLive> nodes_;        // by metanode id
  std::map<uint64_t, PartitionLive> partitions_;  // by partition id
};

}  // namespace cfs::master
