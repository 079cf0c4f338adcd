// The RPC layer alone, over loopback in one process: 64-byte echoes with 1
// and 32 calls in flight (calls/s and CPU microseconds per call, both sides
// counted), and 1 MiB payloads (MB/s).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <atomic>
#include <future>

#include "rpc/channel.h"
#include "rpc/runtime.h"
#include "rpc/server.h"

namespace cfs::rpc {
namespace {

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Fixture {
  Runtime server_rt{1};
  Runtime client_rt{1};
  Server server{server_rt.executor()};
  std::shared_ptr<Channel> channel;
  Fixture() {
    server.Register(proto::RPC_ECHO, [](Call& call) -> asio::awaitable<Reply> {
      co_return Reply{Status::OK(), std::move(call.message), std::move(call.payload)};
    });
    auto addr = server.Listen("127.0.0.1:0");
    channel = Channel::Make(client_rt.executor(), *addr);
  }
};

// Each of `inflight` workers makes calls until `total` are done.
void RunCalls(benchmark::State& state, int inflight, std::string message, std::string payload) {
  Fixture f;
  for (auto _ : state) {
  }
  // Warm up the connection.
  if (!f.client_rt.Run(f.channel->Call(proto::RPC_ECHO, message, payload, std::chrono::seconds(5))).ok()) std::abort();
  const int64_t calls = state.range(1);
  std::atomic<int64_t> next{0};
  double cpu0 = CpuSeconds();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::future<void>> workers;
  for (int w = 0; w < inflight; ++w) {
    workers.push_back(asio::co_spawn(
        f.client_rt.executor(),
        [&]() -> asio::awaitable<void> {
          while (next++ < calls) {
            auto r = co_await f.channel->Call(proto::RPC_ECHO, message, payload, std::chrono::seconds(10));
            if (!r.ok()) std::abort();
          }
        },
        asio::use_future));
  }
  for (auto& w : workers) w.get();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double cpu = CpuSeconds() - cpu0;
  state.counters["calls_per_s"] = static_cast<double>(calls) / secs;
  state.counters["cpu_us_per_call"] = cpu * 1e6 / static_cast<double>(calls);
  state.counters["MB_per_s"] = static_cast<double>(calls) * static_cast<double>(payload.size()) / secs / 1e6;
}

void BM_Echo64(benchmark::State& state) {
  RunCalls(state, static_cast<int>(state.range(0)), std::string(64, 'x'), "");
}
BENCHMARK(BM_Echo64)->ArgNames({"inflight", "calls"})->Args({1, 50000})->Args({32, 200000})->Iterations(1)->UseRealTime();

void BM_Payload1MiB(benchmark::State& state) {
  RunCalls(state, static_cast<int>(state.range(0)), "", std::string(1 << 20, 'p'));
}
BENCHMARK(BM_Payload1MiB)->ArgNames({"inflight", "calls"})->Args({1, 1000})->Args({4, 2000})->Iterations(1)->UseRealTime();

}  // namespace
}  // namespace cfs::rpc

BENCHMARK_MAIN();
