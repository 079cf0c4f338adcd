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
#include "cmd/commands.h"
#include "cmd/serve.h"
#include "rpc/runtime.h"

namespace cfs::cmd {
namespace {

using Clock = std::chrono::steady_clock;

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

struct Phase {
  std::string name;
  std::vector<double> latencies_us;
  std::atomic<int> done{0}, errors{0};
  std::string first_error;
  std::mutex mu;
  double seconds = 0;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

void Report(Phase& ph, size_t size) {
  std::vector<double>& v = ph.latencies_us;
  double rps = ph.seconds > 0 ? ph.done / ph.seconds : 0;
  double mbps = rps * static_cast<double>(size) / (1 << 20);
  double max = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  std::cout << fmt::format(
      "{}: {} requests in {:.2f} s, {} errors: {:.0f} requests/s, {:.1f} MiB/s; latency ms p50 {:.3f} p95 {:.3f} p99 "
      "{:.3f} max {:.3f}\n",
      ph.name, ph.done.load(), ph.seconds, ph.errors.load(), rps, mbps, Percentile(v, 0.50) / 1000,
      Percentile(v, 0.95) / 1000, Percentile(v, 0.99) / 1000, max / 1000);
  if (!ph.first_error.empty()) std::cout << "  first error: " << ph.first_error << "\n";
}

// Runs `total` operations with `concurrency` workers; op(i) is one request.
template <typename Op>
void RunPhase(rpc::Runtime& runtime, Phase& ph, int total, int concurrency, Op op) {
  std::atomic<int> next{0};
  std::atomic<bool> finished{false};
  std::thread progress([&] {
    while (!finished) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      std::cerr << fmt::format("\r{}: {}/{} ({} errors)   ", ph.name, ph.done.load(), total, ph.errors.load())
                << std::flush;
    }
    std::cerr << "\r" << std::string(60, ' ') << "\r" << std::flush;
  });
  auto start = Clock::now();
  std::vector<std::future<void>> workers;
  for (int w = 0; w < concurrency; ++w) {
    workers.push_back(boost::asio::co_spawn(
        runtime.executor(),
        [&]() -> boost::asio::awaitable<void> {
          std::vector<double> mine;
          for (int i; (i = next++) < total;) {
            // Give up when nothing works at all (no cluster there).
            if (ph.errors >= 100 && ph.done == 0) break;
            auto t0 = Clock::now();
            Status s = co_await op(i);
            mine.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            if (s.ok()) {
              ph.done++;
            } else {
              ph.errors++;
              std::lock_guard l(ph.mu);
              if (ph.first_error.empty()) ph.first_error = s.ToString();
            }
          }
          std::lock_guard l(ph.mu);
          ph.latencies_us.insert(ph.latencies_us.end(), mine.begin(), mine.end());
        },
        boost::asio::use_future));
  }
  for (auto& w : workers) w.get();
  ph.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  finished = true;
  progress.join();
}

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
