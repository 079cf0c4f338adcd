// What the `cfs bench` commands share: a phase of N requests run by C
// workers on the runtime, with a live progress line, then requests per
// second and latency percentiles.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/status.h"
#include "rpc/runtime.h"

namespace cfs::cmd {

using Clock = std::chrono::steady_clock;

struct Phase {
  std::string name;
  std::vector<double> latencies_us;
  std::atomic<int> done{0}, errors{0};
  std::string first_error;
  std::mutex mu;
  double seconds = 0;
};

inline double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

// Prints the phase's figures; `size` > 0 adds MiB/s for that many bytes per request.
inline void Report(Phase& ph, size_t size) {
  std::vector<double>& v = ph.latencies_us;
  double rps = ph.seconds > 0 ? ph.done / ph.seconds : 0;
  double mbps = rps * static_cast<double>(size) / (1 << 20);
  double max = v.empty() ? 0 : *std::max_element(v.begin(), v.end());
  const std::string throughput = size == 0 ? "" : fmt::format(", {:.1f} MiB/s", mbps);
  std::cout << fmt::format(
      "{}: {} requests in {:.2f} s, {} errors: {:.0f} requests/s{}; latency ms p50 {:.3f} p95 {:.3f} p99 "
      "{:.3f} max {:.3f}\n",
      ph.name, ph.done.load(), ph.seconds, ph.errors.load(), rps, throughput, Percentile(v, 0.50) / 1000,
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

}  // namespace cfs::cmd
