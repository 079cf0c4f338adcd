// The meta partition state machine alone, without Raft or RPC: how fast it
// applies creates and lookups, what a file costs in memory (inode + dentry,
// measured as malloc heap growth), and how long a snapshot of it takes to
// write and to restore (what a restarted metanode pays before serving).
//
//   build/release/bench/cfs_metanode_bench [FILES]   (default 1,000,000)
//
// Files go 1,000 to a directory, named like "file-000123".
#include <malloc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <fmt/format.h>

#include "metanode/partition.h"

namespace {

using Clock = std::chrono::steady_clock;
using cfs::InodeId;
using namespace cfs::metanode;

size_t HeapBytes() {
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

PartitionOptions Options() {
  PartitionOptions o;
  o.id = cfs::PartitionId(1);
  o.start = InodeId(1);
  o.end = InodeId(uint64_t{1} << 40);
  // The dedup table is per client and bounded; keep it out of the per-file figure.
  o.answers_per_client = 16;
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t files = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
  const uint64_t per_dir = 1000;
  auto p = std::make_unique<Partition>(Options());
  cfs::proto::MetaCommand c;
  c.set_client_id(1);
  uint64_t seq = 0;
  std::vector<uint64_t> dirs;
  for (uint64_t d = 0; d < (files + per_dir - 1) / per_dir; ++d) {
    c.Clear();
    c.set_client_id(1);
    c.set_seq(++seq);
    c.set_now_ns(static_cast<int64_t>(seq));
    auto* op = c.mutable_create();
    op->set_parent(1);
    op->set_name(fmt::format("dir-{:06}", d));
    op->set_mode(S_IFDIR | 0755);
    dirs.push_back(p->Execute(c).attr().inode());
  }
  malloc_trim(0);
  const size_t heap0 = HeapBytes();
  auto t0 = Clock::now();
  for (uint64_t i = 0; i < files; ++i) {
    c.Clear();
    c.set_client_id(1);
    c.set_seq(++seq);
    c.set_now_ns(static_cast<int64_t>(seq));
    auto* op = c.mutable_create();
    op->set_parent(dirs[i / per_dir]);
    op->set_name(fmt::format("file-{:06}", i % per_dir));
    op->set_mode(S_IFREG | 0644);
    cfs::proto::MetaResponse r = p->Execute(c);
    if (r.code() != 0) {
      fmt::print(stderr, "create {}: {}\n", i, r.message());
      return 1;
    }
  }
  const double create_s = Seconds(t0);
  const size_t heap1 = HeapBytes();

  t0 = Clock::now();
  uint64_t found = 0;
  for (uint64_t i = 0; i < files; ++i) {
    auto r = p->Lookup(InodeId(dirs[i / per_dir]), fmt::format("file-{:06}", i % per_dir), cfs::proto::Caller());
    found += r.ok();
  }
  const double lookup_s = Seconds(t0);

  t0 = Clock::now();
  auto snap = p->Snapshot();
  const double snapshot_s = Seconds(t0);
  if (!snap.ok()) return 1;
  auto q = std::make_unique<Partition>(Options());
  t0 = Clock::now();
  cfs::Status s = q->Restore(*snap);
  const double restore_s = Seconds(t0);
  if (!s.ok() || q->StatFs().inodes() != p->StatFs().inodes() || found != files) {
    fmt::print(stderr, "restore: {} (found {} of {})\n", s.ToString(), found, files);
    return 1;
  }
  fmt::print("metanode_bench: {} files, {} per directory, bare state machine (no Raft, no RPC)\n", files, per_dir);
  fmt::print("  creates          {:>10.0f} /s\n", static_cast<double>(files) / create_s);
  fmt::print("  lookups          {:>10.0f} /s\n", static_cast<double>(files) / lookup_s);
  fmt::print("  memory per file  {:>10.1f} bytes (inode + dentry, heap growth)\n",
             static_cast<double>(heap1 - heap0) / static_cast<double>(files));
  fmt::print("  snapshot         {:>10.1f} MB in {:.2f} s\n", static_cast<double>(snap->size()) / 1e6, snapshot_s);
  fmt::print("  restore          {:>10.2f} s\n", restore_s);
  return 0;
}
