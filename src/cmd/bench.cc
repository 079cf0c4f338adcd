// `cfs bench blob`: writes N blobs, then reads them back in random order,
// like `weed benchmark`: a live progress line, then requests per second and
// latency percentiles for each phase.
#include <algorithm>
#include <fstream>
#include <atomic>
#include <iostream>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "client/blob_client.h"
#include "cmd/bench_phase.h"
#include "cmd/commands.h"
#include "cmd/serve.h"
#include "rpc/runtime.h"

namespace cfs::cmd {
namespace {

struct BenchArgs {
  int n = 10000;
  size_t size = 1024;
  int concurrency = 16;
  std::string replication = "000";
  std::string collection = "benchmark";
  std::string master = "127.0.0.1:9333";
  int threads = 1;
  bool write_only = false;
  std::string fids_out;
};

int RunBench(const BenchArgs& a) {
  if (a.n <= 0 || a.concurrency <= 0 || a.size == 0) {
    std::cerr << "cfs bench blob: -n, -c and --size must be positive\n";
    return 2;
  }
  rpc::Runtime runtime(a.threads);
  rpc::ChannelPool pool(runtime.executor());
  client::BlobClientOptions co;
  co.masters = SplitList(a.master);
  client::BlobClient client(pool, co);
  client::PutOptions po;
  po.replication = a.replication;
  po.collection = a.collection;

  std::cout << fmt::format("cfs bench blob: {} blobs of {} bytes, concurrency {}, replication {}, master {}\n", a.n,
                           a.size, a.concurrency, a.replication, a.master);
  std::string payload(a.size, '\0');
  std::mt19937_64 rng(42);
  for (auto& c : payload) c = static_cast<char>(rng());
  std::vector<std::string> fids(a.n);

  Phase write;
  write.name = "write";
  RunPhase(runtime, write, a.n, a.concurrency, [&](int i) -> boost::asio::awaitable<Status> {
    auto fid = co_await client.Put(payload, po);
    if (!fid.ok()) co_return fid.status();
    fids[i] = *fid;
    co_return Status::OK();
  });
  Report(write, a.size);
  if (!a.fids_out.empty()) {
    std::ofstream out(a.fids_out, std::ios::trunc);
    for (const auto& f : fids) {
      if (!f.empty()) out << f << "\n";
    }
  }
  if (a.write_only) return write.errors == 0 ? 0 : 1;

  std::vector<int> order(a.n);
  for (int i = 0; i < a.n; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), rng);
  Phase read;
  read.name = "read";
  RunPhase(runtime, read, a.n, a.concurrency, [&](int i) -> boost::asio::awaitable<Status> {
    const std::string& fid = fids[order[i]];
    if (fid.empty()) co_return Status::NotFound("not written");
    auto blob = co_await client.Get(fid);
    if (!blob.ok()) co_return blob.status();
    if (blob->data != payload) co_return Status::Corruption(fmt::format("{}: data differs", fid));
    co_return Status::OK();
  });
  Report(read, a.size);
  pool.CloseAll();
  runtime.Stop();
  return write.errors == 0 && read.errors == 0 ? 0 : 1;
}

}  // namespace

std::function<int()> SetupBenchBlob(CLI::App* app) {
  auto a = std::make_shared<BenchArgs>();
  app->add_option("-n", a->n, "blobs to write and read")->capture_default_str();
  app->add_option("--size", a->size, "bytes per blob")->capture_default_str();
  app->add_option("-c,--concurrency", a->concurrency, "requests in flight")->capture_default_str();
  app->add_option("--replication", a->replication, "placement xyz")->capture_default_str();
  app->add_option("--collection", a->collection, "collection to write into")->capture_default_str();
  app->add_option("--master", a->master, "HOST:PORT[,HOST:PORT...] of the masters")->capture_default_str();
  app->add_option("--threads", a->threads, "client event loop threads")->capture_default_str();
  app->add_flag("--write-only", a->write_only, "skip the read phase");
  app->add_option("--fids-out", a->fids_out, "write the file ids of the acknowledged writes here");
  return [a] { return RunBench(*a); };
}

}  // namespace cfs::cmd
