// libFuzzer target for the .idx format, the NeedleMap it is replayed into,
// and BlockGroup::Open's recovery over damaged .dat/.idx pairs.
//
// Input layout:
//   dat_len u16 (big-endian) | .dat body (dat_len bytes, clamped) | .idx image
//
// 1. .idx images (the one after the split with 4-byte offsets, the whole
//    input with 5-byte offsets) go through ForEachIdxEntry and are
//    replayed into a NeedleMap as BlockGroup::Load does (deletions via
//    IsDeletion()), checked against a std::map reference model, before and
//    after Compact().
// 2. The .dat body, behind a valid 8-byte superblock, and the .idx image are
//    written to <tmpdir>/1.dat and 1.idx and opened writable, so the
//    truncation and catch-up paths run. Every needle id in the .idx is read,
//    one needle is appended and synced, and the block group is reopened:
//    errors are fine, crashes are not, and a needle whose append and sync
//    succeeded must read back after the reopen.
// A broken invariant aborts with a message naming it. UBSan findings are
// fatal too (see __ubsan_default_options).
//
// Seeds: src/datanode/testdata/fuzz/idx/. Run with scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/coding.h"
#include "common/env.h"
#include "common/logging.h"
#include "datanode/block_group.h"
#include "datanode/idx.h"
#include "datanode/needle.h"
#include "datanode/needle_map.h"
#include "testing/env_wrapper.h"
#include "testing/fake_clock.h"
#include "testing/temp_dir.h"

// A recoverable UBSan report would only be printed; make it a crash libFuzzer sees.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace cfs::datanode {
namespace {

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

// Replays `image` into a NeedleMap and into a plain std::map that states the
// contract: the last entry for an id wins; a deletion of an id that is absent
// or already deleted changes nothing.
void CheckReplay(std::string_view image, int offset_bytes) {
  struct ModelValue {
    NeedleValue value;
    bool live;
  };
  NeedleMap map;
  std::map<uint64_t, ModelValue> model;
  uint64_t max_put = 0;
  bool any_put = false;
  uint64_t next_index = 0;
  size_t left = ForEachIdxEntry(image, offset_bytes, [&](const IdxEntry& e, uint64_t index) {
    FUZZ_CHECK(index == next_index++);
    if (offset_bytes == 4) {
      char raw[kIdxEntrySize];
      EncodeIdxEntry(e, raw);
      FUZZ_CHECK(std::memcmp(raw, image.data() + index * kIdxEntrySize, kIdxEntrySize) == 0);
    }
    if (e.IsDeletion()) {
      auto old = map.Delete(e.id);
      auto it = model.find(e.id.value());
      bool was_live = it != model.end() && it->second.live;
      FUZZ_CHECK(old.has_value() == was_live);
      if (was_live) {
        FUZZ_CHECK(old->offset_units == it->second.value.offset_units && old->size == it->second.value.size);
        it->second.live = false;
        it->second.value.size = kTombstoneSize;
      }
    } else {
      NeedleValue v{static_cast<uint32_t>(e.offset_units), e.size};
      auto old = map.Set(e.id, v);
      auto it = model.find(e.id.value());
      FUZZ_CHECK(old.has_value() == (it != model.end()));
      if (old) FUZZ_CHECK(old->offset_units == it->second.value.offset_units && old->size == it->second.value.size);
      model[e.id.value()] = ModelValue{v, true};
      max_put = any_put ? std::max(max_put, e.id.value()) : e.id.value();
      any_put = true;
    }
  });
  size_t entry_size = IdxEntrySize(offset_bytes);
  FUZZ_CHECK(left == image.size() % entry_size);
  FUZZ_CHECK(next_index == image.size() / entry_size);

  auto check_against_model = [&](bool compacted) {
    uint64_t live = 0, deleted = 0, live_bytes = 0;
    for (const auto& [id, mv] : model) {
      auto got = map.Get(NeedleId(id));
      if (mv.live) {
        ++live;
        live_bytes += NeedleRecordSize(mv.value.size);
        FUZZ_CHECK(got.has_value() && !got->deleted());
        FUZZ_CHECK(got->offset_units == mv.value.offset_units && got->size == mv.value.size);
      } else if (compacted) {
        FUZZ_CHECK(!got.has_value());
      } else {
        ++deleted;
        FUZZ_CHECK(got.has_value() && got->deleted());
      }
    }
    FUZZ_CHECK(map.live_count() == live);
    FUZZ_CHECK(map.deleted_count() == deleted);
    FUZZ_CHECK(map.live_bytes() == live_bytes);
    std::map<uint64_t, NeedleValue> seen;
    map.ForEachLive([&](NeedleId id, NeedleValue v) {
      FUZZ_CHECK(!v.deleted());
      FUZZ_CHECK(seen.emplace(id.value(), v).second);  // each id once
    });
    FUZZ_CHECK(seen.size() == live);
    for (const auto& [id, v] : seen) {
      auto it = model.find(id);
      FUZZ_CHECK(it != model.end() && it->second.live);
    }
    (void)map.MemoryBytes();
  };
  check_against_model(false);
  if (any_put) FUZZ_CHECK(map.max_id().value() == max_put);
  // Ids next to the ones present, which the model says are absent.
  for (const auto& [id, mv] : model) {
    for (uint64_t probe : {id - 1, id + 1}) {
      if (!model.contains(probe)) FUZZ_CHECK(!map.Get(NeedleId(probe)).has_value());
    }
  }
  map.Compact();
  check_against_model(true);
}

// An Env over the real file system whose fsyncs do nothing: durability is not
// under test here and a real fdatasync per input would dominate the run time.
class NoSyncEnv final : public cfs::testing::EnvWrapper {
 public:
  Status SyncDir(const std::string&) override { return Status::OK(); }

 private:
  class NoSyncFile final : public cfs::testing::FileWrapper {
   public:
    using FileWrapper::FileWrapper;
    Status Sync() override { return Status::OK(); }
  };
  std::unique_ptr<File> WrapFile(std::unique_ptr<File> f) override { return std::make_unique<NoSyncFile>(std::move(f)); }
};

void WriteWholeFile(Env* env, const std::string& path, std::string_view data) {
  auto f = env->Open(path, OpenMode::kTruncate);
  FUZZ_CHECK(f.ok());
  if (!data.empty()) FUZZ_CHECK((*f)->WriteAt(0, data).ok());
}

void FuzzBlockGroup(std::string_view dat_body, std::string_view idx_image) {
  static cfs::testing::TempDir dir;  // one per process, removed at exit
  static NoSyncEnv env;
  static cfs::testing::FakeClock clock;
  const BlockGroupId kId(1);
  const std::string base = BlockGroup::BasePath(dir.path(), "", kId);

  static const std::string kSuperBlock("\x03\x00\x00\x00\x00\x00\x00\x00", kSuperBlockSize);
  std::string dat = kSuperBlock;
  dat.append(dat_body);
  WriteWholeFile(&env, base + ".dat", dat);
  WriteWholeFile(&env, base + ".idx", idx_image);

  BlockGroupOptions options;
  options.env = &env;
  options.clock = &clock;
  auto bg = BlockGroup::Open(dir.path(), "", kId, options);
  if (!bg.ok()) return;
  BlockGroupStats stats = (*bg)->Stats();
  FUZZ_CHECK(stats.size_bytes >= kSuperBlockSize && stats.size_bytes <= dat.size());
  (void)stats.GarbageRatio();
  (void)(*bg)->Expired();

  std::string buffer;
  ForEachIdxEntry(idx_image, 4, [&](const IdxEntry& e, uint64_t) {
    // The cookie of whatever record the entry points at, so reads get past
    // the cookie check to the checksum.
    Cookie cookie(0);
    uint64_t off = e.offset_bytes();
    if (off + kNeedleHeaderSize <= dat.size()) cookie = DecodeNeedleHeader(dat.data() + off).cookie;
    auto n = (*bg)->Read(e.id, cookie, &buffer);
    if (n.ok()) {
      FUZZ_CHECK(n->id == e.id && n->cookie == cookie);
      FUZZ_CHECK(NeedleChecksumMatches(n->checksum, n->data));
    }
  });

  // One append (its id may also be in the fuzzed files: the last write
  // wins), then a sync, a close and a reopen.
  NeedleView n;
  n.id = NeedleId(0x7f00000000000000ull);
  n.cookie = Cookie(0x12345678);
  n.data = "fuzz needle";
  n.flags = kFlagName;
  n.name = "f.txt";
  auto loc = (*bg)->Append(n);
  bool durable = loc.ok() && (*bg)->Sync().ok();
  if (loc.ok()) {
    auto got = (*bg)->Read(n.id, n.cookie, &buffer);
    FUZZ_CHECK(got.ok());
    FUZZ_CHECK(got->data == n.data && got->name == n.name);
  }
  Status closed = (*bg)->Close();
  bg->reset();
  if (!durable || !closed.ok()) return;

  auto reopened = BlockGroup::Open(dir.path(), "", kId, options);
  FUZZ_CHECK(reopened.ok());
  auto got = (*reopened)->Read(n.id, n.cookie, &buffer);
  if (!got.ok()) std::fprintf(stderr, "read after reopen: %s\n", got.status().ToString().c_str());
  FUZZ_CHECK(got.ok());
  FUZZ_CHECK(got->data == n.data && got->name == n.name);
}

}  // namespace
}  // namespace cfs::datanode

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cfs::datanode;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  // The whole input as a 5BytesOffset image; the 4-byte replay runs on the
  // .idx image proper, which the seeds make meaningful.
  CheckReplay(bytes, 5);
  if (bytes.size() < 2) {
    CheckReplay(bytes, 4);
    return 0;
  }
  std::string_view rest = bytes.substr(2);
  size_t dat_len = std::min<size_t>(cfs::DecodeBE16(bytes.data()), rest.size());
  std::string_view dat_body = rest.substr(0, dat_len), idx_image = rest.substr(dat_len);
  CheckReplay(idx_image, 4);
  FuzzBlockGroup(dat_body, idx_image);
  return 0;
}
