#include "master/growth.h"

#include <limits>

#include <fmt/format.h>

namespace cfs::master {

int GrowthCount(int copy_count) {
  switch (copy_count) {
    case 1:
      return 7;
    case 2:
      return 6;
    case 3:
      return 3;
    default:
      return 1;
  }
}

GrowthPlan PlanGrowth(Topology& topology, const std::string& collection, const ReplicaPlacement& placement,
                      const Ttl& ttl, IdRange& group_ids, std::mt19937_64& rng) {
  GrowthPlan plan;
  group_ids.SkipThrough(topology.MaxGroupId().value());
  Topology::SlotHolds holds;
  const int target = GrowthCount(placement.CopyCount());
  for (int i = 0; i < target; ++i) {
    Result<std::vector<std::string>> slots = topology.FindSlotsForOneGroup(placement, rng, holds);
    if (!slots.ok()) {
      plan.error = std::move(slots).take_status();
      break;
    }
    if (group_ids.next() > std::numeric_limits<BlockGroupId::rep_type>::max()) {
      plan.error = Status::NoSpace(fmt::format("block group ids exhausted (next would be {})", group_ids.next()));
      break;
    }
    Result<uint64_t> id = group_ids.Take(1);
    if (!id.ok()) {
      plan.error = std::move(id).take_status().WithContext("new block group id");
      break;
    }
    PlannedGroup group;
    group.info.id = BlockGroupId(static_cast<BlockGroupId::rep_type>(*id));
    group.info.collection = collection;
    group.info.placement = placement;
    group.info.ttl = ttl;
    group.addresses = std::move(*slots);
    for (const std::string& address : group.addresses) ++holds[address];
    plan.groups.push_back(std::move(group));
  }
  return plan;
}

}  // namespace cfs::master
