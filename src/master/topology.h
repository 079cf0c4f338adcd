// Topology: the master's map of the cluster, data centers -> racks ->
// datanodes, and the block groups the datanodes hold, built from heartbeats.
//
// Model:
//  - A datanode is identified by its address ("host:port"). It is created by
//    its first heartbeat and never removed: a node not heard from for too long
//    is marked dead (MarkDeadNodes), its replicas count as unavailable, and its
//    next heartbeat revives it. Data centers and racks exist as long as some
//    node (live or dead) is placed in them; an empty name is
//    kDefaultDataCenter / kDefaultRack, as in SeaweedFS.
//  - A block group's replicas are the nodes that report it in their
//    heartbeats, plus nodes a growth just allocated it on (RegisterGrownGroup)
//    that have not reported it yet. The first replica known is the primary.
//  - A node's used slots = groups it reports + groups reserved for it by
//    growth and not yet reported; free slots = max_block_groups - used (never
//    below 0). Only live nodes offer free slots.
//  - A layout is (collection, placement, ttl). A block group is writable when
//    its replicas agree on its layout, none reports it read-only, every
//    replica's size is below the size limit, and it has exactly
//    placement.CopyCount() replicas, all on live nodes.
//
// Every state change is one of the explicit methods ApplyHeartbeat,
// MarkDeadNodes and RegisterGrownGroup; each is deterministic given its
// arguments, so they can become Raft log entries. Randomness (placement,
// picking a writable group) comes from a caller's std::mt19937_64 and does not
// change state. Iteration is over ordered containers, so equal histories give
// equal topologies and, with equal seeds, equal choices.
//
// Thread-safety: none; the owner serializes calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/replica_placement.h"
#include "common/status.h"
#include "common/ttl.h"

namespace cfs::master {

inline constexpr char kDefaultDataCenter[] = "DefaultDataCenter";
inline constexpr char kDefaultRack[] = "DefaultRack";
// A heartbeat's max_block_groups is clamped to this (and refused by
// ValidateHeartbeat above it), so slot sums cannot overflow.
inline constexpr int kMaxBlockGroupsPerNode = 100'000;
inline constexpr uint64_t kDefaultBlockGroupSizeLimitBytes = uint64_t{30} << 30;  // 30 GiB

// One block group as one datanode reports it.
struct BlockGroupInfo {
  BlockGroupId id;
  std::string collection;
  ReplicaPlacement placement;
  Ttl ttl;
  uint64_t size_bytes = 0;
  uint64_t needle_count = 0;
  uint64_t garbage_bytes = 0;  // bytes of deleted or overwritten needles
  bool read_only = false;
  uint16_t compaction_revision = 0;
};

struct HeartbeatInfo {
  std::string address;  // host:port, the node's identity
  std::string data_center, rack;  // empty: kDefaultDataCenter / kDefaultRack
  int max_block_groups = 0;
  std::vector<BlockGroupInfo> block_groups;  // every group the node holds
};

// A writable block group for Assign: its id and replica addresses, primary
// first (the datanode that takes the write and forwards it).
struct AssignTarget {
  BlockGroupId id;
  std::vector<std::string> addresses;
};

// A read-only picture of the topology, for `cfs cluster status`.
struct TopologySnapshot {
  struct Node {
    std::string address;
    bool alive = false;
    int max_block_groups = 0;
    int used = 0;  // reported + reserved by growth
    int free = 0;  // max(0, max - used); counts toward the total only if alive
    std::chrono::nanoseconds last_heartbeat{0};
  };
  struct Rack {
    std::string name;
    std::vector<Node> nodes;  // by address
  };
  struct DataCenter {
    std::string name;
    std::vector<Rack> racks;  // by name
  };
  struct BlockGroup {
    BlockGroupId id;
    std::string collection;
    ReplicaPlacement placement;
    Ttl ttl;
    std::vector<std::string> replicas;  // live ones first, as Lookup
    int live_replicas = 0;
    // Over the replicas: the largest size, needle count and garbage; read-only
    // if any replica is.
    uint64_t size_bytes = 0;
    uint64_t needle_count = 0;
    uint64_t garbage_bytes = 0;
    bool read_only = false;
    bool writable = false;
  };
  std::vector<DataCenter> data_centers;  // by name
  std::vector<BlockGroup> block_groups;  // by id
  int free_slots = 0;                    // over live nodes
};

class Topology {
 public:
  explicit Topology(uint64_t size_limit_bytes = kDefaultBlockGroupSizeLimitBytes)
      : size_limit_bytes_(size_limit_bytes) {}

  // InvalidArgument naming the problem when a heartbeat is malformed: empty
  // address, max_block_groups outside [0, kMaxBlockGroupsPerNode], block group
  // id 0, or the same block group listed twice. The service should refuse
  // such heartbeats; if one is applied anyway, ApplyHeartbeat ignores an empty
  // address, clamps max into range, skips id 0 and keeps the last duplicate.
  static Status ValidateHeartbeat(const HeartbeatInfo& hb);

  // Registers or updates the node `hb.address` (moving it when its data
  // center or rack changed), replaces the list of block groups it holds, and
  // marks it alive, heard from at `now`. A group reserved for it by growth is
  // kept until it reports the group, or until two heartbeats after the
  // reservation have not listed it (the first may have been composed before
  // the allocation).
  void ApplyHeartbeat(const HeartbeatInfo& hb, std::chrono::nanoseconds now);

  // Marks dead every live node last heard from more than `dead_after` before
  // `now`, and returns their addresses (sorted). Their replicas become
  // unavailable and their growth reservations are dropped; a later heartbeat
  // revives them.
  std::vector<std::string> MarkDeadNodes(std::chrono::nanoseconds now, std::chrono::nanoseconds dead_after);

  // Records block group `info` just allocated on `addresses` (primary first):
  // it counts against those nodes' slots and is writable at once (if the rules
  // above hold) until their heartbeats report it. Addresses of unknown nodes
  // are skipped; nodes that already report the group need no reservation.
  void RegisterGrownGroup(const BlockGroupInfo& info, const std::vector<std::string>& addresses);

  // A random writable block group of the layout, or nullopt if none.
  std::optional<AssignTarget> PickWritable(const std::string& collection, const ReplicaPlacement& placement,
                                           const Ttl& ttl, std::mt19937_64& rng) const;

  // Free slots a planner has already promised but not registered yet, by node
  // address (see PlanGrowth).
  using SlotHolds = std::map<std::string, int>;

  // Chooses the datanodes for the replicas of one new block group, as
  // SeaweedFS's findEmptySlotsForOneVolume does for placement xyz: a main data
  // center among those with free slots, which must have y+1 racks that each
  // have z+1 datanodes with a free slot; in it a main rack with z+1 such
  // datanodes, z+1 of which are taken; y other racks of that data center with
  // one datanode each; x other data centers with one datanode each. Data
  // centers, racks and datanodes are drawn at random weighted by their free
  // slots. Only live nodes are used and no node is chosen twice. The result is
  // ordered: the main rack's nodes (the first is the primary), then the other
  // racks', then the other data centers'. Nothing is reserved: the caller
  // registers the group (RegisterGrownGroup) once it is allocated.
  // Errors, all NoSpace: "no free block group slots" when no live node has a
  // free slot; otherwise a message naming what is missing, e.g. "placement 010
  // needs 2 racks with free slots in one data center; the best has 1".
  Result<std::vector<std::string>> FindSlotsForOneGroup(const ReplicaPlacement& placement,
                                                        std::mt19937_64& rng) const;
  // The same, with `holds` subtracted from the nodes' free slots.
  Result<std::vector<std::string>> FindSlotsForOneGroup(const ReplicaPlacement& placement, std::mt19937_64& rng,
                                                        const SlotHolds& holds) const;

  // Replica addresses of a block group, live ones first (each part in replica
  // order, the primary first); empty if unknown.
  std::vector<std::string> Lookup(BlockGroupId id) const;
  // Block groups where some live replica has garbage_bytes / size_bytes above
  // `ratio` (vacuum candidates), by id.
  std::vector<BlockGroupId> GroupsOverGarbage(double ratio) const;
  // Free slots over live nodes.
  int FreeSlots() const;
  // The largest block group id ever reported or registered (0 if none); feed
  // it to the block group id Sequencer's AtLeast.
  BlockGroupId MaxGroupId() const { return max_group_id_; }
  bool IsWritable(BlockGroupId id) const;
  // Whether a node is known, and alive.
  bool HasNode(const std::string& address) const { return nodes_.count(address) != 0; }
  bool IsAlive(const std::string& address) const;
  TopologySnapshot Snapshot() const;

  uint64_t size_limit_bytes() const { return size_limit_bytes_; }

 private:
  struct LayoutKey {
    std::string collection;
    uint8_t placement = 0;  // ReplicaPlacement::ToByte
    uint8_t ttl_count = 0;
    uint8_t ttl_unit = 0;
    auto operator<=>(const LayoutKey&) const = default;
  };
  static LayoutKey KeyOf(const std::string& collection, const ReplicaPlacement& placement, const Ttl& ttl);

  struct Node {
    std::string address;
    std::string data_center, rack;
    int max_block_groups = 0;
    bool alive = true;
    std::chrono::nanoseconds last_heartbeat{0};
    std::set<BlockGroupId> reported;
    // Growth reservations not yet reported -> heartbeats since that missed it.
    std::map<BlockGroupId, int> reserved;
    int used() const { return static_cast<int>(reported.size() + reserved.size()); }
    int free() const { return max_block_groups > used() ? max_block_groups - used() : 0; }
  };

  struct Replica {
    std::string address;
    BlockGroupInfo info;  // as reported, or as registered by growth
    bool reported = false;
  };

  struct Group {
    std::vector<Replica> replicas;  // in order first known; [0] is the primary
    std::optional<LayoutKey> writable_in;  // the layout whose writable list holds it
  };

  void UpsertReplica(const std::string& address, const BlockGroupInfo& info, bool reported);
  void RemoveReplica(BlockGroupId id, const std::string& address);
  // Recomputes whether the group is writable and updates the layout lists;
  // erases the group when it has no replica left.
  void Refresh(BlockGroupId id);
  bool ComputeWritable(const Group& g) const;
  void RefreshNodeGroups(const Node& node);
  void PlaceNode(Node& node, const std::string& dc, const std::string& rack);
  void NoteGroupId(BlockGroupId id);

  uint64_t size_limit_bytes_;
  std::map<std::string, Node> nodes_;
  // data center -> rack -> node addresses
  std::map<std::string, std::map<std::string, std::set<std::string>>> tree_;
  std::map<BlockGroupId, Group> groups_;
  std::map<LayoutKey, std::vector<BlockGroupId>> writable_;  // each list sorted
  BlockGroupId max_group_id_{0};
};

}  // namespace cfs::master
