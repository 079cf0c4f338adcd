#include "datanode/needle_map.h"

#include <algorithm>

#include "datanode/needle.h"

namespace cfs::datanode {

bool NeedleValue::deleted() const { return size == kTombstoneSize; }

NeedleMap::NeedleMap() = default;
NeedleMap::~NeedleMap() = default;
NeedleMap::NeedleMap(NeedleMap&&) noexcept = default;
NeedleMap& NeedleMap::operator=(NeedleMap&&) noexcept = default;

NeedleMap::Entry* NeedleMap::FindInSegments(uint64_t id) const {
  // Segments hold disjoint, rising id ranges: find the last one starting <= id.
  auto seg = std::upper_bound(segments_.begin(), segments_.end(), id,
                              [](uint64_t v, const Segment& s) { return v < s.first(); });
  if (seg == segments_.begin()) return nullptr;
  --seg;
  Entry* begin = seg->entries.get();
  Entry* end = begin + seg->count;
  Entry* e = std::lower_bound(begin, end, id, [](const Entry& a, uint64_t v) { return a.id < v; });
  return (e != end && e->id == id) ? e : nullptr;
}

void NeedleMap::Account(const std::optional<NeedleValue>& old, const NeedleValue& now) {
  if (old) {
    if (old->deleted()) {
      --deleted_count_;
    } else {
      --live_count_;
      live_bytes_ -= NeedleRecordSize(old->size);
    }
  }
  if (now.deleted()) {
    ++deleted_count_;
  } else {
    ++live_count_;
    live_bytes_ += NeedleRecordSize(now.size);
  }
}

std::optional<NeedleValue> NeedleMap::Set(NeedleId needle, NeedleValue v) {
  uint64_t id = needle.value();
  std::optional<NeedleValue> old;
  if (empty_ || id > max_id_) {
    if (segments_.empty() || segments_.back().count == kSegmentCapacity) {
      Segment s;
      s.capacity = kFirstSegmentCapacity;
      s.entries.reset(new Entry[s.capacity]);
      segments_.push_back(std::move(s));
    } else if (Segment& last = segments_.back(); last.count == last.capacity) {
      uint32_t grown = std::min(kSegmentCapacity, last.capacity * 2);
      std::unique_ptr<Entry[]> bigger(new Entry[grown]);
      std::copy_n(last.entries.get(), last.count, bigger.get());
      last.entries = std::move(bigger);
      last.capacity = grown;
    }
    Segment& s = segments_.back();
    s.entries[s.count++] = Entry{id, v};
    max_id_ = id;
    empty_ = false;
  } else if (Entry* e = FindInSegments(id)) {
    old = e->value;
    e->value = v;
  } else {
    auto [it, inserted] = overflow_.try_emplace(id, v);
    if (!inserted) {
      old = it->second;
      it->second = v;
    }
  }
  Account(old, v);
  return old;
}

std::optional<NeedleValue> NeedleMap::Get(NeedleId needle) const {
  uint64_t id = needle.value();
  if (empty_ || id > max_id_) return std::nullopt;
  if (Entry* e = FindInSegments(id)) return e->value;
  if (!overflow_.empty()) {
    auto it = overflow_.find(id);
    if (it != overflow_.end()) return it->second;
  }
  return std::nullopt;
}

std::optional<NeedleValue> NeedleMap::Delete(NeedleId needle) {
  uint64_t id = needle.value();
  NeedleValue* slot = nullptr;
  if (!empty_ && id <= max_id_) {
    if (Entry* e = FindInSegments(id)) {
      slot = &e->value;
    } else if (auto it = overflow_.find(id); it != overflow_.end()) {
      slot = &it->second;
    }
  }
  if (slot == nullptr || slot->deleted()) return std::nullopt;
  NeedleValue old = *slot;
  slot->size = kTombstoneSize;
  Account(old, *slot);
  return old;
}

size_t NeedleMap::MemoryBytes() const {
  size_t bytes = segments_.capacity() * sizeof(Segment);
  for (const Segment& s : segments_) bytes += size_t{s.capacity} * sizeof(Entry);
  // absl's B-tree nodes hold up to 256 bytes of values: about 24 bytes an
  // entry at typical fill.
  bytes += overflow_.size() * 24;
  return bytes;
}

void NeedleMap::ForEachLive(const std::function<void(NeedleId, NeedleValue)>& fn) const {
  for (const Segment& s : segments_) {
    for (uint32_t i = 0; i < s.count; ++i) {
      if (!s.entries[i].value.deleted()) fn(NeedleId(s.entries[i].id), s.entries[i].value);
    }
  }
  for (const auto& [id, v] : overflow_) {
    if (!v.deleted()) fn(NeedleId(id), v);
  }
}

void NeedleMap::Compact() {
  std::vector<Entry> all;
  all.reserve(live_count_);
  ForEachLive([&](NeedleId id, NeedleValue v) { all.push_back(Entry{id.value(), v}); });
  std::sort(all.begin(), all.end(), [](const Entry& a, const Entry& b) { return a.id < b.id; });
  NeedleMap fresh;
  for (const Entry& e : all) fresh.Set(NeedleId(e.id), e.value);
  *this = std::move(fresh);
}

}  // namespace cfs::datanode
