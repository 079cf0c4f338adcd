// Store: the block groups of one datanode across its disk locations
// (directories), each with a maximum block group count.
//
// Thread-safety: all methods may be called concurrently; the returned
// BlockGroup pointers stay valid while held.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "common/env.h"
#include "common/ids.h"
#include "common/replica_placement.h"
#include "common/status.h"
#include "common/ttl.h"
#include "datanode/block_group.h"

namespace cfs::datanode {

struct DiskLocationSpec {
  std::string dir;
  int max_block_groups = 8;
};

struct DiskLocationStats {
  std::string dir;
  int max_block_groups = 0;
  int block_groups = 0;
};

class Store {
 public:
  // Creates missing directories and opens every block group found in them.
  // A block group that fails to open is logged and listed in load_errors();
  // the others are served.
  static Result<std::unique_ptr<Store>> Open(std::vector<DiskLocationSpec> locations, BlockGroupOptions options = {});

  // Creates a block group in the location with the most free slots.
  // Exists: "block group N already exists"; NoSpace: "no more free space left".
  Status AllocateBlockGroup(BlockGroupId id, const std::string& collection, ReplicaPlacement placement, Ttl ttl,
                            uint64_t preallocate_bytes = 0);

  // The block group, or null.
  std::shared_ptr<BlockGroup> Find(BlockGroupId id) const;
  // Closes a block group and deletes its files.
  Status DeleteBlockGroup(BlockGroupId id);

  std::vector<BlockGroupStats> BlockGroupStatsAll() const;
  std::vector<DiskLocationStats> Locations() const;
  int FreeSlots() const;
  const std::vector<std::string>& load_errors() const { return load_errors_; }

 private:
  struct Location {
    DiskLocationSpec spec;
    std::map<BlockGroupId, std::shared_ptr<BlockGroup>> groups;
  };
  explicit Store(BlockGroupOptions options) : options_(options) {}
  Status LoadLocation(Location* loc);
  std::shared_ptr<BlockGroup> FindLocked(BlockGroupId id) const;

  const BlockGroupOptions options_;
  mutable std::shared_mutex mu_;
  std::vector<Location> locations_;  // guarded by mu_
  std::vector<std::string> load_errors_;
};

}  // namespace cfs::datanode
