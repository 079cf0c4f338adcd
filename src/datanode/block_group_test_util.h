// Shared fixture for the BlockGroup tests.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>

#include "datanode/block_group.h"
#include "testing/fake_clock.h"
#include "testing/fault_injection_env.h"
#include "testing/temp_dir.h"

namespace cfs::datanode {

// Deterministic payload for needle `id`, `len` bytes.
inline std::string Payload(uint64_t id, size_t len) {
  std::string s(len, '\0');
  uint64_t x = id * 0x9E3779B97F4A7C15ull + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  return s;
}

inline Cookie CookieFor(uint64_t id) { return Cookie(static_cast<uint32_t>(id * 2654435761u) | 1); }

class BlockGroupFixture : public ::testing::Test {
 protected:
  BlockGroupOptions Options() {
    BlockGroupOptions o;
    o.env = &env_;
    o.clock = &clock_;
    o.size_limit_bytes = size_limit_;
    return o;
  }

  std::unique_ptr<BlockGroup> Create(SuperBlock sb = {}, std::optional<BlockGroupOptions> options = std::nullopt) {
    auto bg = BlockGroup::Create(dir_.path(), "", BlockGroupId(7), sb, 0, options ? *options : Options());
    EXPECT_TRUE(bg.ok()) << bg.status().ToString();
    return bg.ok() ? std::move(*bg) : nullptr;
  }

  std::unique_ptr<BlockGroup> Open() {
    auto bg = BlockGroup::Open(dir_.path(), "", BlockGroupId(7), Options());
    EXPECT_TRUE(bg.ok()) << bg.status().ToString();
    return bg.ok() ? std::move(*bg) : nullptr;
  }

  std::string DatPath() const { return dir_.Join("7.dat"); }
  std::string IdxPath() const { return dir_.Join("7.idx"); }

  // Appends needle `id` with Payload(id, len) and remembers it as live.
  NeedleLocation Put(BlockGroup* bg, uint64_t id, size_t len) {
    std::string data = Payload(id, len);
    NeedleView n;
    n.id = NeedleId(id);
    n.cookie = CookieFor(id);
    n.data = data;
    auto loc = bg->Append(n);
    EXPECT_TRUE(loc.ok()) << loc.status().ToString();
    live_[id] = data;
    return loc.ok() ? *loc : NeedleLocation{};
  }

  void Del(BlockGroup* bg, uint64_t id) {
    auto r = bg->Delete(NeedleId(id), CookieFor(id));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    live_.erase(id);
    deleted_.insert(id);
  }

  // Every remembered live needle reads back byte-identical; every deleted
  // one is NotFound.
  void ExpectContents(const BlockGroup& bg) {
    std::string buf;
    for (const auto& [id, data] : live_) {
      auto n = bg.Read(NeedleId(id), CookieFor(id), &buf);
      ASSERT_TRUE(n.ok()) << "needle " << id << ": " << n.status().ToString();
      ASSERT_EQ(n->data, data) << "needle " << id;
    }
    for (uint64_t id : deleted_) {
      if (live_.contains(id)) continue;
      auto n = bg.Read(NeedleId(id), CookieFor(id), &buf);
      ASSERT_TRUE(n.status().Is(Code::kNotFound)) << "deleted needle " << id << ": " << n.status().ToString();
    }
  }

  testing::TempDir dir_;
  testing::FaultInjectionEnv env_;
  testing::FakeClock clock_;
  uint64_t size_limit_ = kMaxBlockGroupBytes;
  std::map<uint64_t, std::string> live_;
  std::set<uint64_t> deleted_;
};

}  // namespace cfs::datanode
