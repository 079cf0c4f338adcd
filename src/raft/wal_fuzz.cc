// libFuzzer target for the write-ahead log's frames and recovery.
//
// Input layout:
//   split u16 (big-endian) | segment images
// split 0: the images are one segment; else the first `split` bytes
// (clamped) are segment 1 and the rest segment 2.
//
// 1. The whole input goes through ScanWalSegment, as a last segment and as
//    an earlier one: every frame it yields must re-encode to the same bytes,
//    and a walk that is not the last segment's must cover everything.
// 2. The segments are written to <tmpdir>/wal and Wal::Open recovers them.
//    Errors are fine, crashes are not. When it opens, every group's entries
//    must continue right after its mark; then one group gets two entries, a
//    hard state and a mark, the log is synced and collected, and a reopen
//    must show exactly that change and nothing else.
// A broken invariant aborts with a message naming it. UBSan findings are
// fatal too (see __ubsan_default_options).
//
// Seeds: src/raft/testdata/fuzz/wal/. Run with scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "common/coding.h"
#include "common/env.h"
#include "common/logging.h"
#include "raft/wal.h"
#include "raft/wal_format.h"
#include "testing/env_wrapper.h"
#include "testing/temp_dir.h"

// A recoverable UBSan report would only be printed; make it a crash libFuzzer sees.
extern "C" const char* __ubsan_default_options() { return "halt_on_error=1:print_stacktrace=1"; }

namespace cfs::raft {
namespace {

#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

void CheckScan(std::string_view image, bool last) {
  uint64_t valid_end = 0;
  uint64_t next = 0;
  Status s = ScanWalSegment(
      image, last,
      [&](uint64_t offset, const WalFrame& frame) {
        FUZZ_CHECK(offset == next);
        FUZZ_CHECK(frame.size == kWalFrameHeaderBytes + frame.payload.size());
        std::string again;
        AppendWalFrame(&again, frame.kind, frame.payload);
        FUZZ_CHECK(image.substr(offset, frame.size) == again);
        next = offset + frame.size;
        return Status::OK();
      },
      &valid_end);
  if (!s.ok()) return;
  FUZZ_CHECK(valid_end == next);
  FUZZ_CHECK(valid_end <= image.size());
  if (!last) FUZZ_CHECK(valid_end == image.size());
}

// An Env over the real file system whose fsyncs do nothing: durability is
// not under test here and a real fdatasync per input would dominate.
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

std::string Describe(const WalGroupState& s) {
  std::string out = fmt::format("hs({},{},{}) mark {}/{} [", s.hard_state.term(), s.hard_state.vote(),
                                s.hard_state.commit(), s.snapshot.index(), s.snapshot.term());
  for (const auto& e : s.entries) out += fmt::format(" {}:{}:{}", e.index(), e.term(), e.data().size());
  return out + " ]";
}

void CheckRecovery(std::string_view seg1, std::string_view seg2, bool two) {
  static cfs::testing::TempDir tmp;  // one per process, removed at exit
  static NoSyncEnv env;
  const std::string dir = tmp.Join("wal");
  FUZZ_CHECK(env.CreateDirs(dir).ok());
  auto names = env.ListDir(dir);
  FUZZ_CHECK(names.ok());
  for (const auto& name : *names) FUZZ_CHECK(env.Remove(dir + "/" + name).ok());
  auto write = [&](const std::string& name, std::string_view bytes) {
    auto f = env.Open(dir + "/" + name, OpenMode::kTruncate);
    FUZZ_CHECK(f.ok());
    if (!bytes.empty()) FUZZ_CHECK((*f)->WriteAt(0, bytes).ok());
  };
  write("0000000000000001.wal", seg1);
  if (two) write("0000000000000002.wal", seg2);

  WalOptions options;
  options.segment_bytes = 512;
  auto wal = Wal::Open(&env, dir, options);
  if (!wal.ok()) return;
  std::map<GroupId, std::string> before;
  for (const auto& [group, state] : (*wal)->recovered()) {
    const auto& entries = state.entries;
    for (size_t i = 0; i < entries.size(); ++i) {
      FUZZ_CHECK(entries[i].index() == state.snapshot.index() + 1 + i);
    }
    before[group] = Describe(state);
  }

  // Change one group and check a reopen shows exactly that.
  GroupId group = before.empty() ? GroupId(1) : before.begin()->first;
  uint64_t last = 0;
  if (auto it = (*wal)->recovered().find(group); it != (*wal)->recovered().end()) {
    last = it->second.entries.empty() ? it->second.snapshot.index() : it->second.entries.back().index();
  }
  if (last > UINT64_MAX - 3) return;  // no room for two more entries
  std::vector<proto::Entry> more(2);
  more[0].set_index(last + 1);
  more[0].set_term(7);
  more[0].set_data("x");
  more[1].set_index(last + 2);
  more[1].set_term(7);
  proto::HardState hs;
  hs.set_term(7);
  hs.set_vote(1);
  hs.set_commit(last + 1);
  proto::SnapshotMeta meta;
  meta.set_index(last + 1);
  meta.set_term(7);
  // The mark must not go back; a recovered mark is never above `last`.
  FUZZ_CHECK((*wal)->AppendEntries(group, more).ok());
  FUZZ_CHECK((*wal)->SaveHardState(group, hs).ok());
  FUZZ_CHECK((*wal)->MarkSnapshot(group, meta).ok());
  Status synced = (*wal)->Sync();
  if (!synced.ok()) std::fprintf(stderr, "sync: %s\n", synced.ToString().c_str());
  FUZZ_CHECK(synced.ok());
  auto collected = (*wal)->CollectGarbage();
  FUZZ_CHECK(collected.ok());
  wal->reset();

  auto reopened = Wal::Open(&env, dir, options);
  if (!reopened.ok()) std::fprintf(stderr, "reopen: %s\n", reopened.status().ToString().c_str());
  FUZZ_CHECK(reopened.ok());
  std::map<GroupId, std::string> after;
  for (const auto& [g, state] : (*reopened)->recovered()) after[g] = Describe(state);
  WalGroupState changed;
  changed.hard_state = hs;
  changed.snapshot = meta;
  changed.entries = {more[1]};
  before[group] = Describe(changed);
  if (before != after) {
    for (const auto& [g, d] : before) std::fprintf(stderr, "want g%llu %s\n", (unsigned long long)g.value(), d.c_str());
    for (const auto& [g, d] : after) std::fprintf(stderr, "got  g%llu %s\n", (unsigned long long)g.value(), d.c_str());
  }
  FUZZ_CHECK(before == after);
}

}  // namespace
}  // namespace cfs::raft

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cfs::raft;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckScan(bytes, true);
  CheckScan(bytes, false);
  if (bytes.size() < 2) {
    CheckRecovery(bytes, {}, false);
    return 0;
  }
  std::string_view rest = bytes.substr(2);
  size_t split = std::min<size_t>(cfs::DecodeBE16(bytes.data()), rest.size());
  if (split == 0) {
    CheckRecovery(rest, {}, false);
  } else {
    CheckRecovery(rest.substr(0, split), rest.substr(split), true);
  }
  return 0;
}
