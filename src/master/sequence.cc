#include "master/sequence.h"

#include <algorithm>

#include <fmt/format.h>

namespace cfs::master {

Result<uint64_t> IdRange::Take(uint64_t count) {
  if (count == 0) return Status::InvalidArgument("take 0 ids");
  if (available() < count) {
    return Status::Unavailable(fmt::format("{} ids wanted, {} reserved", count, available()));
  }
  uint64_t first = next_;
  next_ += count;
  return first;
}

void IdRange::SkipThrough(uint64_t v) {
  if (v >= next_) next_ = std::min(v + 1, end_);
}

void IdRange::Add(uint64_t from, uint64_t to) {
  if (to <= from || to <= end_) return;
  if (from == end_) {
    end_ = to;  // continues the current range: keep the leftovers
    return;
  }
  next_ = std::max(from, next_);
  end_ = to;
}

}  // namespace cfs::master
