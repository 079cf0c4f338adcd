// ClusterMap: the masters' replicated state, the state machine of their Raft
// group. It holds what must survive a master failover: the datanodes that
// registered (address, data center, rack, slots), the block groups that were
// grown and their replicas, the marks of the two id sequences, the
// metanodes that registered (id, address) and the volumes with their meta
// partitions (range and replicas).
//
// What it does not hold is soft state that heartbeats rebuild within seconds
// on whichever master leads: liveness, block group sizes, garbage, read-only
// flags (master/topology.h is that live view, built from this map when a
// master takes over, then kept by heartbeats).
//
// Every change is a MasterCommand applied in log order (Apply); answers are
// deterministic, so every master's map is the same at the same index.
// Id sequences: a mark M means every id below M may have been handed out.
// ReserveIds{from, to} moves the mark from exactly `from` to `to` (else
// Aborted, naming the current mark): the leader that proposed it owns
// [from, to). A registered block group also lifts the block group mark past
// its id. Marks start at 1: id 0 is never handed out.
//
// Volumes: a volume's partitions cover [1, 2^64-1] without gap or overlap,
// by start; only the last is open ([start, kOpenEnd]). A split fixes the
// last one's end and adds [end + 1, kOpenEnd] in the same entry, so every
// applied index has a complete cover. Volume and partition ids are new
// ones (the proposer takes NextVolumeId/NextPartitionId; a duplicate is
// refused with Exists).
//
// Thread-safety: Apply/Restore run on the group's apply thread; the readers
// may run on any thread (one internal mutex).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "proto/master.pb.h"
#include "raft/state_machine.h"

namespace cfs::master {

// The end of a volume's last, open meta partition.
inline constexpr uint64_t kOpenEnd = std::numeric_limits<uint64_t>::max();
inline constexpr size_t kMaxVolumeNameBytes = 128;

// InvalidArgument unless `name` is 1 to kMaxVolumeNameBytes of [A-Za-z0-9._-].
Status ValidateVolumeName(std::string_view name);

class ClusterMap : public raft::StateMachine {
 public:
  // Checks a command before it is proposed (so a bad one never enters the
  // log): InvalidArgument naming the problem.
  static Status Validate(const proto::MasterCommand& command);

  // Applies one command. Errors are answers, not failures: InvalidArgument
  // (a command that fails Validate), Aborted (a reservation whose `from` is
  // not the mark).
  Status Apply(const proto::MasterCommand& command);

  // raft::StateMachine: the data is a serialized MasterCommand; Corruption if
  // it does not parse. The answer is empty.
  Result<std::string> Apply(LogIndex index, std::string_view data) override;
  Result<std::string> Snapshot() override;
  Status Restore(std::string_view data) override;

  // Readers: copies, consistent with one applied index.
  proto::ClusterMapSnapshot Copy() const;
  uint64_t mark(proto::IdKind kind) const;
  // The node's record, if it registered; false otherwise.
  bool FindNode(const std::string& address, proto::NodeRecord* out) const;
  // The metanode registered at `address`: its id, or 0.
  uint64_t MetaNodeId(const std::string& address) const;
  std::vector<proto::MetaNodeRecord> MetaNodes() const;
  // NotFound if there is no volume of that name.
  Result<proto::VolumeRecord> FindVolume(const std::string& name) const;
  std::vector<proto::VolumeRecord> Volumes() const;
  uint64_t NextMetaNodeId() const;
  uint64_t NextVolumeId() const;
  uint64_t NextPartitionId() const;

 private:
  uint64_t& MarkLocked(proto::IdKind kind);
  // The checks of the volume commands against the map (mu_ held).
  Status CheckPartitionLocked(const proto::MetaPartitionRecord& p, uint32_t replicas) const;
  Status ApplyCreateVolumeLocked(const proto::VolumeRecord& v);
  Status ApplyUpdatePartitionLocked(const proto::UpdatePartition& u);

  mutable std::mutex mu_;
  std::map<std::string, proto::NodeRecord> nodes_;         // by address
  std::map<uint32_t, proto::BlockGroupRecord> groups_;     // by id
  uint64_t needle_mark_ = 1;
  uint64_t block_group_mark_ = 1;
  std::map<uint64_t, proto::MetaNodeRecord> meta_nodes_;  // by id
  std::map<std::string, proto::VolumeRecord> volumes_;    // by name
};

}  // namespace cfs::master
