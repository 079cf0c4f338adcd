// `cfs bench meta`: N files created in a fresh directory of a volume, then
// looked up, stat'ed and unlinked, through the metanodes' RPC path (Raft
// replicated, as a mount would do it); each phase's requests/s and latency,
// and the metanodes' resident memory per file after the creates.
#include <sys/stat.h>

#include <iostream>
#include <map>
#include <random>

#include <fmt/format.h>

#include "client/meta_client.h"
#include "cmd/bench_phase.h"
#include "cmd/commands.h"
#include "cmd/serve.h"
#include "proto/metanode.pb.h"
#include "rpc/runtime.h"

namespace cfs::cmd {
namespace {

struct BenchMetaArgs {
  std::string master = "127.0.0.1:9333";
  std::string volume;
  int n = 100000;
  int concurrency = 64;
  int threads = 1;
  bool keep = false;
  std::string dir;
};

struct Memory {
  uint64_t resident = 0;  // 0: no answer
  uint64_t heap = 0;
};

// Every metanode of the volume: its resident and malloc'd bytes.
std::map<std::string, Memory> MetanodeMemory(rpc::Runtime& runtime, rpc::ChannelPool& pool,
                                               const proto::VolumeView& view) {
  std::map<std::string, Memory> out;
  for (const auto& p : view.partitions()) {
    for (const auto& address : p.replicas()) out[address] = Memory{};
  }
  for (auto& [address, memory] : out) {
    proto::MetanodeStatusResponse resp;
    auto r = runtime.Run(pool.Get(address)->Call(proto::METANODE_STATUS, proto::MetanodeStatusRequest(), &resp, "",
                                                 std::chrono::seconds(10)));
    if (r.ok()) memory = Memory{resp.resident_bytes(), resp.heap_bytes()};
  }
  return out;
}

int RunBenchMeta(const BenchMetaArgs& a) {
  if (a.n <= 0 || a.concurrency <= 0 || a.volume.empty()) {
    std::cerr << "cfs bench meta: --volume is needed, -n and -c must be positive\n";
    return 2;
  }
  rpc::Runtime runtime(a.threads);
  rpc::ChannelPool pool(runtime.executor());
  client::MetaClientOptions o;
  o.masters = SplitList(a.master);
  o.volume = a.volume;
  client::MetaClient meta(pool, o);
  if (Status s = runtime.Run(meta.Open()); !s.ok()) {
    std::cerr << "cfs bench meta: " << s.ToString() << "\n";
    runtime.Stop();
    return 1;
  }
  const proto::VolumeView view = meta.view();
  std::cout << fmt::format("cfs bench meta: {} files, concurrency {}, volume {} ({} replicas, {} meta partitions)\n",
                           a.n, a.concurrency, a.volume, view.replicas(), view.partitions_size());
  const proto::Caller root;
  const std::string dir_name = a.dir.empty() ? fmt::format("cfs-bench-{:016x}", meta.client_id()) : a.dir;
  auto dir = runtime.Run(meta.Create(client::kRootInode, dir_name, S_IFDIR | 0755, root));
  if (!dir.ok() && dir.status().Is(Code::kExists) && !a.dir.empty()) {
    dir = runtime.Run(meta.Lookup(client::kRootInode, dir_name, root));  // --dir names one made before
  }
  if (!dir.ok()) {
    std::cerr << "cfs bench meta: mkdir /" << dir_name << ": " << dir.status().ToString() << "\n";
    runtime.Stop();
    return 1;
  }
  const uint64_t parent = dir->inode();
  const auto memory_before = MetanodeMemory(runtime, pool, view);

  std::vector<uint64_t> inodes(static_cast<size_t>(a.n), 0);
  const auto name = [](int i) { return fmt::format("f{:08d}", i); };
  Phase create;
  create.name = "create";
  RunPhase(runtime, create, a.n, a.concurrency, [&](int i) -> boost::asio::awaitable<Status> {
    auto attr = co_await meta.Create(parent, name(i), S_IFREG | 0644, root);
    if (!attr.ok()) co_return attr.status();
    inodes[static_cast<size_t>(i)] = attr->inode();
    co_return Status::OK();
  });
  Report(create, 0);

  const auto memory_after = MetanodeMemory(runtime, pool, view);
  double sum = 0;
  int counted = 0;
  for (const auto& [address, after] : memory_after) {
    const Memory before = memory_before.at(address);
    if (before.resident == 0 || after.resident == 0) continue;
    const auto per_file = [&](uint64_t b, uint64_t e) {
      return (static_cast<double>(e) - static_cast<double>(b)) / a.n;
    };
    const double per_file_resident = per_file(before.resident, after.resident);
    std::cout << fmt::format(
        "  metanode {}: resident {:.1f} -> {:.1f} MiB: {:.1f} bytes per file (malloc'd in use: {:.1f})\n", address,
        before.resident / 1048576.0, after.resident / 1048576.0, per_file_resident, per_file(before.heap, after.heap));
    sum += per_file_resident;
    ++counted;
  }
  if (counted > 0) {
    std::cout << fmt::format("memory: {:.1f} bytes per file (inode + dentry, mean of {} metanode(s))\n", sum / counted,
                             counted);
  }

  std::vector<int> order(static_cast<size_t>(a.n));
  for (int i = 0; i < a.n; ++i) order[static_cast<size_t>(i)] = i;
  std::mt19937_64 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  Phase lookup;
  lookup.name = "lookup";
  RunPhase(runtime, lookup, a.n, a.concurrency, [&](int i) -> boost::asio::awaitable<Status> {
    const int k = order[static_cast<size_t>(i)];
    auto attr = co_await meta.Lookup(parent, name(k), root);
    if (!attr.ok()) co_return attr.status();
    if (attr->inode() != inodes[static_cast<size_t>(k)]) co_return Status::Corruption("lookup found another inode");
    co_return Status::OK();
  });
  Report(lookup, 0);

  Phase getattr;
  getattr.name = "getattr";
  RunPhase(runtime, getattr, a.n, a.concurrency, [&](int i) -> boost::asio::awaitable<Status> {
    const uint64_t inode = inodes[static_cast<size_t>(order[static_cast<size_t>(i)])];
    if (inode == 0) co_return Status::NotFound("not created");
    auto attr = co_await meta.GetAttr(inode);
    if (!attr.ok()) co_return attr.status();
    co_return Status::OK();
  });
  Report(getattr, 0);

  int errors = create.errors + lookup.errors + getattr.errors;
  if (!a.keep) {
    Phase unlink;
    unlink.name = "unlink";
    RunPhase(runtime, unlink, a.n, a.concurrency, [&](int i) -> boost::asio::awaitable<Status> {
      co_return co_await meta.Unlink(parent, name(order[static_cast<size_t>(i)]), false, root);
    });
    Report(unlink, 0);
    errors += unlink.errors;
    if (Status s = runtime.Run(meta.Unlink(client::kRootInode, dir_name, true, root)); !s.ok()) {
      std::cerr << "cfs bench meta: rmdir /" << dir_name << ": " << s.ToString() << "\n";
      ++errors;
    }
  }
  pool.CloseAll();
  runtime.Stop();
  return errors == 0 ? 0 : 1;
}

}  // namespace

std::function<int()> SetupBenchMeta(CLI::App* app) {
  auto a = std::make_shared<BenchMetaArgs>();
  app->add_option("--master", a->master, "HOST:PORT[,HOST:PORT...] of the masters")->capture_default_str();
  app->add_option("--volume", a->volume, "the volume to run in (a new directory is made in its root)")->required();
  app->add_option("-n", a->n, "files")->capture_default_str();
  app->add_option("-c,--concurrency", a->concurrency, "requests in flight")->capture_default_str();
  app->add_option("--threads", a->threads, "client event loop threads")->capture_default_str();
  app->add_flag("--keep", a->keep, "skip the unlink phase (leave the files)");
  app->add_option("--dir", a->dir, "the directory in the root to work in, made unless it exists (default: a new cfs-bench-<client id>)");
  return [a] { return RunBenchMeta(*a); };
}

}  // namespace cfs::cmd
