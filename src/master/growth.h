// Block group growth: how many block groups to add to a layout that has no
// writable one, and where to put them (SeaweedFS's VolumeGrowth).
//
// Planning only chooses; it changes no topology state. The caller (the master
// service) then calls AllocateBlockGroup on every node of each planned group
// and, when all of them succeeded, Topology::RegisterGrownGroup. Growth must be
// serialized (one plan allocated and registered at a time), because a plan's
// slots are not counted by the topology until they are registered.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "common/replica_placement.h"
#include "common/status.h"
#include "common/ttl.h"
#include "master/sequence.h"
#include "master/topology.h"

namespace cfs::master {

// How many block groups one growth adds for a placement of `copy_count`
// copies: 7, 6, 3 for 1, 2, 3 copies and 1 for more (SeaweedFS's
// findVolumeCount), so that a growth uses about the same number of slots
// whatever the replication.
int GrowthCount(int copy_count);

// One block group to create: `info` (id, collection, placement, ttl; sizes
// 0) on `addresses`, primary first.
struct PlannedGroup {
  BlockGroupInfo info;
  std::vector<std::string> addresses;
};

struct GrowthPlan {
  std::vector<PlannedGroup> groups;
  // Why planning stopped before GrowthCount groups; OK when all were planned.
  // When `groups` is empty this is the reason nothing can grow (NoSpace "no
  // free block group slots", a placement message, or the id sequence's
  // error).
  Status error;
};

// Plans up to GrowthCount(placement.CopyCount()) new block groups of the
// layout: for each, Topology::FindSlotsForOneGroup (with the slots of the
// groups planned before it held back) and a new id from `group_ids`, first
// moved past topology.MaxGroupId(). Stops at the first failure (Unavailable
// "new block group id" when the range runs out: the caller reserves at least
// GrowthCount ids first). Ids taken are never reused (they were reserved
// through the cluster map), even if the caller then fails to allocate them.
GrowthPlan PlanGrowth(Topology& topology, const std::string& collection, const ReplicaPlacement& placement,
                      const Ttl& ttl, IdRange& group_ids, std::mt19937_64& rng);

}  // namespace cfs::master
