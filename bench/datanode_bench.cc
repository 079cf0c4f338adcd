// Datanode benchmarks (Google Benchmark):
//   BM_Append            appends to a BlockGroup left in the page cache (no
//                        fsync), 1 KiB / 64 KiB / 1 MiB needles, ids rising;
//   BM_AppendSync        Append then Sync per operation, 1 and 8 threads on
//                        one shared BlockGroup: group commit shows as fewer
//                        fsyncs per append (counted by a wrapping Env);
//   BM_RandomRead        random reads of 1 KiB needles from a warm block group
//                        of 100,000 needles, 1 and 2 threads;
//   BM_NeedleMapMemory   NeedleMap bytes per needle at 10,000,000 needles in
//                        rising id order, as the map counts them and as the
//                        heap grew (glibc mallinfo2).
//
// Build and run (release preset):
//   cmake --preset release && cmake --build build/release --target cfs_datanode_bench
//   build/release/bench/cfs_datanode_bench [--benchmark_filter=Append]
//
// Block groups live in a fresh directory under $TMPDIR, else /tmp, removed
// afterwards. Put it on the disk you mean to measure: on tmpfs fsync is free.
// Rates use wall-clock time (UseRealTime), summed over threads.
#include <malloc.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "common/env.h"
#include "common/logging.h"
#include "datanode/block_group.h"
#include "datanode/needle.h"
#include "datanode/needle_map.h"
#include "testing/env_wrapper.h"
#include "testing/temp_dir.h"

namespace cfs::datanode {
namespace {

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * 1024;

void CheckOk(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "datanode_bench: %s: %s\n", what, s.ToString().c_str());
    std::abort();
  }
}

// An Env over the real file system that counts File::Sync calls (fdatasync).
class SyncCountingEnv final : public cfs::testing::EnvWrapper {
 public:
  uint64_t syncs() const { return syncs_.load(); }
  void ResetSyncs() { syncs_ = 0; }

 private:
  class CountingFile final : public cfs::testing::FileWrapper {
   public:
    CountingFile(std::unique_ptr<File> f, std::atomic<uint64_t>* syncs) : FileWrapper(std::move(f)), syncs_(syncs) {}
    Status Sync() override {
      syncs_->fetch_add(1, std::memory_order_relaxed);
      return FileWrapper::Sync();
    }

   private:
    std::atomic<uint64_t>* syncs_;
  };
  std::unique_ptr<File> WrapFile(std::unique_ptr<File> f) override {
    return std::make_unique<CountingFile>(std::move(f), &syncs_);
  }

  std::atomic<uint64_t> syncs_{0};
};

// A fresh, empty block group in its own temp dir; files removed on destruction.
struct BenchGroup {
  cfs::testing::TempDir dir;
  SyncCountingEnv env;
  std::unique_ptr<BlockGroup> bg;  // declared last: closed before env and dir go

  BenchGroup() {
    BlockGroupOptions options;
    options.env = &env;
    auto created = BlockGroup::Create(dir.path(), "bench", BlockGroupId(1), SuperBlock{}, 0, options);
    CheckOk(created.status(), "create block group");
    bg = std::move(*created);
    env.ResetSyncs();  // Create's own fsyncs are not the benchmark's
  }
};

std::string Payload(size_t size) {
  std::string s(size, '\0');
  std::mt19937_64 rng(size);
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

Cookie CookieFor(uint64_t id) { return Cookie(static_cast<uint32_t>(id * 2654435761u)); }

NeedleView MakeNeedle(uint64_t id, std::string_view data) {
  NeedleView n;
  n.id = NeedleId(id);
  n.cookie = CookieFor(id);
  n.data = data;
  return n;
}

// Appends to the page cache only: nothing is synced while timing.
void BM_Append(benchmark::State& state) {
  const std::string data = Payload(static_cast<size_t>(state.range(0)));
  BenchGroup g;
  uint64_t id = 0;
  for (auto _ : state) {
    auto loc = g.bg->Append(MakeNeedle(++id, data));
    if (!loc.ok()) CheckOk(loc.status(), "append");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_Append)->Arg(kKiB)->Arg(64 * kKiB)->Arg(kMiB)->UseRealTime();

// Append then Sync per operation; with threads, all share one block group so
// concurrent Syncs can share one fdatasync (group commit).
void BM_AppendSync(benchmark::State& state) {
  static std::unique_ptr<BenchGroup> group;
  static std::atomic<uint64_t> next_id{0};
  if (state.thread_index() == 0) {
    group = std::make_unique<BenchGroup>();
    next_id = 0;
  }
  const std::string data = Payload(static_cast<size_t>(state.range(0)));
  // The benchmark loop starts only when every thread reaches it, after the
  // setup above, and ends only when every thread has left it.
  for (auto _ : state) {
    auto loc = group->bg->Append(MakeNeedle(next_id.fetch_add(1) + 1, data));
    if (!loc.ok()) CheckOk(loc.status(), "append");
    CheckOk(group->bg->Sync(), "sync");
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0));
  if (state.thread_index() == 0) {
    // Counters are summed over threads: only thread 0 reports the totals.
    const double appends = static_cast<double>(next_id.load());
    const double syncs = static_cast<double>(group->env.syncs());
    state.counters["fsyncs_per_append"] = syncs / appends;
    state.counters["appends_per_fsync"] = syncs > 0 ? appends / syncs : 0;
    group.reset();
  }
}
BENCHMARK(BM_AppendSync)
    ->Arg(kKiB)->Arg(64 * kKiB)->Arg(kMiB)
    ->Threads(1)->Threads(8)
    ->UseRealTime()->MinTime(1.0);

constexpr uint64_t kReadNeedles = 100'000;
constexpr size_t kReadNeedleBytes = 1024;

// 100,000 needles of 1 KiB, written once per process and left in the page
// cache; removed at exit.
BlockGroup& WarmReadGroup() {
  static std::unique_ptr<BenchGroup> group = [] {
    auto g = std::make_unique<BenchGroup>();
    const std::string data = Payload(kReadNeedleBytes);
    for (uint64_t id = 1; id <= kReadNeedles; ++id) {
      auto loc = g->bg->Append(MakeNeedle(id, data));
      if (!loc.ok()) CheckOk(loc.status(), "append");
    }
    return g;
  }();
  return *group->bg;
}

void BM_RandomRead(benchmark::State& state) {
  BlockGroup& bg = WarmReadGroup();  // built by the first thread to get here
  std::mt19937_64 rng(42 + state.thread_index());
  std::uniform_int_distribution<uint64_t> pick(1, kReadNeedles);
  std::string buffer;
  for (auto _ : state) {
    uint64_t id = pick(rng);
    auto n = bg.Read(NeedleId(id), CookieFor(id), &buffer);
    if (!n.ok()) CheckOk(n.status(), "read");
    benchmark::DoNotOptimize(n->data.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(kReadNeedleBytes));
}
BENCHMARK(BM_RandomRead)->Threads(1)->Threads(2)->UseRealTime();

// Heap in use: arena chunks plus mmapped ones (large segments may be either).
size_t HeapInUse() {
  struct mallinfo2 mi = ::mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

void BM_NeedleMapMemory(benchmark::State& state) {
  const uint64_t n = static_cast<uint64_t>(state.range(0));
  double map_bytes = 0, heap_bytes = 0;
  for (auto _ : state) {
    const size_t before = HeapInUse();
    auto map = std::make_unique<NeedleMap>();
    for (uint64_t id = 1; id <= n; ++id) {
      map->Set(NeedleId(id), NeedleValue{static_cast<uint32_t>(id), 1024});
    }
    heap_bytes = static_cast<double>(HeapInUse() - before);
    map_bytes = static_cast<double>(map->MemoryBytes());
    benchmark::DoNotOptimize(map.get());
    state.PauseTiming();
    map.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bytes_per_needle"] = map_bytes / static_cast<double>(n);
  state.counters["heap_bytes_per_needle"] = heap_bytes / static_cast<double>(n);
}
BENCHMARK(BM_NeedleMapMemory)->Arg(10'000'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace cfs::datanode

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const char* tmp = std::getenv("TMPDIR");
  benchmark::AddCustomContext("block_group_dir", std::string(tmp && *tmp ? tmp : "/tmp") + "/cfs-test-*");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
