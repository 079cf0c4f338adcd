#include "common/strings.h"
#include "datanode/store.h"

#include <charconv>

#include <fmt/format.h>

#include "common/logging.h"

namespace cfs::datanode {
namespace {

// "collection_7.dat" -> ("collection", 7); "7.dat" -> ("", 7).
bool ParseDatName(std::string_view name, std::string* collection, BlockGroupId* id) {
  if (!name.ends_with(".dat")) return false;
  name.remove_suffix(4);
  size_t us = name.rfind('_');
  std::string_view num = us == std::string_view::npos ? name : name.substr(us + 1);
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (num.empty() || ec != std::errc() || end != num.data() + num.size()) return false;
  *collection = us == std::string_view::npos ? "" : std::string(name.substr(0, us));
  *id = BlockGroupId(v);
  return true;
}

}  // namespace

Result<std::unique_ptr<Store>> Store::Open(std::vector<DiskLocationSpec> locations, BlockGroupOptions options) {
  if (locations.empty()) return Status::InvalidArgument("a store needs at least one directory");
  std::unique_ptr<Store> store(new Store(options));
  for (auto& spec : locations) {
    if (spec.max_block_groups < 0) {
      return Status::InvalidArgument(fmt::format("{}: max block groups must not be negative", spec.dir));
    }
    store->locations_.push_back(Location{std::move(spec), {}});
  }
  for (auto& loc : store->locations_) CFS_RETURN_IF_ERROR(store->LoadLocation(&loc));
  return store;
}

Status Store::LoadLocation(Location* loc) {
  Env* env = options_.env;
  CFS_RETURN_IF_ERROR(env->CreateDirs(loc->spec.dir));
  CFS_ASSIGN_OR_RETURN(auto names, env->ListDir(loc->spec.dir));
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string collection;
    BlockGroupId id;
    if (!ParseDatName(name, &collection, &id)) continue;
    if (FindLocked(id)) {  // Open runs before the store is shared
      load_errors_.push_back(fmt::format("{}/{}: block group {} is already loaded from another file", loc->spec.dir,
                                         name, id));
      spdlog::error("{}", load_errors_.back());
      continue;
    }
    auto bg = BlockGroup::Open(loc->spec.dir, collection, id, options_);
    if (!bg.ok()) {
      load_errors_.push_back(fmt::format("{}/{}: {}", loc->spec.dir, name, bg.status().ToString()));
      spdlog::error("{}", load_errors_.back());
      continue;
    }
    loc->groups[id] = std::move(*bg);
  }
  spdlog::info("store: {} holds {} block group(s) of at most {}", loc->spec.dir, loc->groups.size(),
               loc->spec.max_block_groups);
  return Status::OK();
}

Status Store::AllocateBlockGroup(BlockGroupId id, const std::string& collection, ReplicaPlacement placement, Ttl ttl,
                                 uint64_t preallocate_bytes) {
  if (collection.find('/') != std::string::npos || collection.find('\0') != std::string::npos) {
    return Status::InvalidArgument(fmt::format("collection {} may not contain '/'", Quoted(collection)));
  }
  std::unique_lock l(mu_);
  Location* best = nullptr;
  int best_free = 0;
  if (FindLocked(id)) return Status::Exists(fmt::format("block group {} already exists", id));
  for (auto& loc : locations_) {
    int free = loc.spec.max_block_groups - static_cast<int>(loc.groups.size());
    if (free > best_free) {
      best = &loc;
      best_free = free;
    }
  }
  if (best == nullptr) return Status::NoSpace("no more free space left");
  SuperBlock sb;
  sb.placement = placement;
  sb.ttl = ttl;
  CFS_ASSIGN_OR_RETURN(auto bg, BlockGroup::Create(best->spec.dir, collection, id, sb, preallocate_bytes, options_));
  best->groups[id] = std::move(bg);
  spdlog::info("store: allocated block group {} (collection {}, placement {}, ttl {}) in {}", id, Quoted(collection),
               placement.ToString(), Quoted(ttl.ToString()), best->spec.dir);
  return Status::OK();
}

std::shared_ptr<BlockGroup> Store::Find(BlockGroupId id) const {
  std::shared_lock l(mu_);
  return FindLocked(id);
}

std::shared_ptr<BlockGroup> Store::FindLocked(BlockGroupId id) const {
  for (const auto& loc : locations_) {
    auto it = loc.groups.find(id);
    if (it != loc.groups.end()) return it->second;
  }
  return nullptr;
}

Status Store::DeleteBlockGroup(BlockGroupId id) {
  // The lock is held until the files are gone, so an allocation of the same
  // id cannot have its new files removed.
  std::unique_lock l(mu_);
  std::shared_ptr<BlockGroup> bg;
  for (auto& loc : locations_) {
    auto it = loc.groups.find(id);
    if (it != loc.groups.end()) {
      bg = std::move(it->second);
      loc.groups.erase(it);
      break;
    }
  }
  if (!bg) return Status::NotFound(fmt::format("block group {} not found", id));
  (void)bg->Close();
  std::string base = bg->base_path();
  for (const char* ext : {".dat", ".idx"}) {
    Status s = options_.env->Remove(base + ext);
    if (!s.ok() && !s.Is(Code::kNotFound)) return s;
  }
  return Status::OK();
}

std::vector<BlockGroupStats> Store::BlockGroupStatsAll() const {
  std::shared_lock l(mu_);
  std::vector<BlockGroupStats> out;
  for (const auto& loc : locations_) {
    for (const auto& [id, bg] : loc.groups) out.push_back(bg->Stats());
  }
  return out;
}

std::vector<DiskLocationStats> Store::Locations() const {
  std::shared_lock l(mu_);
  std::vector<DiskLocationStats> out;
  for (const auto& loc : locations_) {
    out.push_back({loc.spec.dir, loc.spec.max_block_groups, static_cast<int>(loc.groups.size())});
  }
  return out;
}

int Store::FreeSlots() const {
  std::shared_lock l(mu_);
  int free = 0;
  for (const auto& loc : locations_) free += std::max(0, loc.spec.max_block_groups - static_cast<int>(loc.groups.size()));
  return free;
}

}  // namespace cfs::datanode
