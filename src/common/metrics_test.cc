#include "common/metrics.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

namespace cfs {
namespace {

TEST(MetricsTest, EmptyRegistryRendersNothing) {
  MetricsRegistry r;
  EXPECT_EQ(r.RenderPrometheus(), "");
}

TEST(MetricsTest, CounterRendersHelpTypeAndValue) {
  MetricsRegistry r;
  Counter& c = r.GetCounter("cfs_writes_total", "Needle writes served.");
  c.Inc();
  c.Add(41);
  EXPECT_EQ(c.Value(), 42u);
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP cfs_writes_total Needle writes served.\n"
            "# TYPE cfs_writes_total counter\n"
            "cfs_writes_total 42\n");
}

TEST(MetricsTest, SeriesOfOneFamilyShareHelpAndAreSortedByLabels) {
  MetricsRegistry r;
  r.GetCounter("rpc_calls_total", "Calls.", {{"method", "write"}, {"code", "ok"}}).Add(3);
  r.GetCounter("rpc_calls_total", "Calls.", {{"method", "read"}, {"code", "ok"}}).Add(5);
  r.GetCounter("rpc_calls_total", "Calls.", {{"code", "ok"}, {"method", "read"}}).Inc();  // same series
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP rpc_calls_total Calls.\n"
            "# TYPE rpc_calls_total counter\n"
            "rpc_calls_total{code=\"ok\",method=\"read\"} 6\n"
            "rpc_calls_total{code=\"ok\",method=\"write\"} 3\n");
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameObject) {
  MetricsRegistry r;
  EXPECT_EQ(&r.GetCounter("a", "h"), &r.GetCounter("a", "h"));
  EXPECT_NE(&r.GetCounter("a", "h"), &r.GetCounter("a", "h", {{"x", "1"}}));
  EXPECT_EQ(&r.GetGauge("g", "h", {{"x", "1"}, {"y", "2"}}), &r.GetGauge("g", "h", {{"y", "2"}, {"x", "1"}}));
  EXPECT_EQ(&r.GetHistogram("h", "h", {1, 2}), &r.GetHistogram("h", "h", {1, 2}));
}

TEST(MetricsTest, FamiliesRenderSortedByName) {
  MetricsRegistry r;
  r.GetGauge("zeta", "Z.").Set(1);
  r.GetCounter("alpha", "A.").Inc();
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP alpha A.\n"
            "# TYPE alpha counter\n"
            "alpha 1\n"
            "# HELP zeta Z.\n"
            "# TYPE zeta gauge\n"
            "zeta 1\n");
}

TEST(MetricsTest, GaugeGoesUpAndDown) {
  MetricsRegistry r;
  Gauge& g = r.GetGauge("cfs_inflight", "Requests in flight.", {{"role", "datanode"}});
  g.Set(10);
  g.Inc();
  g.Dec();
  g.Dec();
  g.Add(-20);
  EXPECT_EQ(g.Value(), -11);
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP cfs_inflight Requests in flight.\n"
            "# TYPE cfs_inflight gauge\n"
            "cfs_inflight{role=\"datanode\"} -11\n");
}

TEST(MetricsTest, DoubleGaugeRendersShortestFloatAndSpecials) {
  MetricsRegistry r;
  DoubleGauge& a = r.GetDoubleGauge("ratio", "R.", {{"k", "a"}});
  DoubleGauge& b = r.GetDoubleGauge("ratio", "R.", {{"k", "b"}});
  DoubleGauge& c = r.GetDoubleGauge("ratio", "R.", {{"k", "c"}});
  DoubleGauge& d = r.GetDoubleGauge("ratio", "R.", {{"k", "d"}});
  DoubleGauge& e = r.GetDoubleGauge("ratio", "R.", {{"k", "e"}});
  a.Set(0.25);
  a.Add(0.5);
  b.Set(3);
  c.Set(std::numeric_limits<double>::infinity());
  d.Set(-std::numeric_limits<double>::infinity());
  e.Set(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP ratio R.\n"
            "# TYPE ratio gauge\n"
            "ratio{k=\"a\"} 0.75\n"
            "ratio{k=\"b\"} 3\n"
            "ratio{k=\"c\"} +Inf\n"
            "ratio{k=\"d\"} -Inf\n"
            "ratio{k=\"e\"} NaN\n");
}

TEST(MetricsTest, HistogramRendersCumulativeBucketsSumAndCount) {
  MetricsRegistry r;
  Histogram& h = r.GetHistogram("cfs_rpc_seconds", "RPC latency.", {0.001, 0.01, 0.1}, {{"method", "read"}});
  h.Observe(0.0005);
  h.Observe(0.001);  // a bound is inclusive (le)
  h.Observe(0.05);
  h.Observe(2);
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP cfs_rpc_seconds RPC latency.\n"
            "# TYPE cfs_rpc_seconds histogram\n"
            "cfs_rpc_seconds_bucket{method=\"read\",le=\"0.001\"} 2\n"
            "cfs_rpc_seconds_bucket{method=\"read\",le=\"0.01\"} 2\n"
            "cfs_rpc_seconds_bucket{method=\"read\",le=\"0.1\"} 3\n"
            "cfs_rpc_seconds_bucket{method=\"read\",le=\"+Inf\"} 4\n"
            "cfs_rpc_seconds_sum{method=\"read\"} 2.0515\n"
            "cfs_rpc_seconds_count{method=\"read\"} 4\n");
}

TEST(MetricsTest, HistogramWithoutLabelsAndEmpty) {
  MetricsRegistry r;
  r.GetHistogram("size_bytes", "Sizes.", {1024, 65536});
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP size_bytes Sizes.\n"
            "# TYPE size_bytes histogram\n"
            "size_bytes_bucket{le=\"1024\"} 0\n"
            "size_bytes_bucket{le=\"65536\"} 0\n"
            "size_bytes_bucket{le=\"+Inf\"} 0\n"
            "size_bytes_sum 0\n"
            "size_bytes_count 0\n");
}

TEST(MetricsTest, HistogramNaNGoesToInfBucket) {
  Histogram h({1});
  h.Observe(std::numeric_limits<double>::quiet_NaN());
  auto s = h.Snap();
  EXPECT_EQ(s.cumulative, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(s.count, 1u);
}

TEST(MetricsTest, DefaultLatencyBucketsRender) {
  MetricsRegistry r;
  r.GetHistogram("lat_seconds", "L.").Observe(0.003);
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.0001\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.0025\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"0.005\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"10\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("lat_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos) << text;
}

TEST(MetricsTest, LabelValuesAndHelpAreEscaped) {
  MetricsRegistry r;
  r.GetCounter("esc_total", "Help with \\ backslash\nand \"quotes\".", {{"path", "C:\\dir\n\"x\""}}).Inc();
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP esc_total Help with \\\\ backslash\\nand \"quotes\".\n"
            "# TYPE esc_total counter\n"
            "esc_total{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n");
}

TEST(MetricsTest, CallbackGaugeIsEvaluatedAtRenderAndRemovedWithItsHandle) {
  MetricsRegistry r;
  int block_groups = 3;
  {
    MetricCallback cb = r.AddCallbackGauge("cfs_block_groups", "Block groups.", [&] { return block_groups; },
                                           {{"state", "writable"}});
    EXPECT_TRUE(cb.active());
    EXPECT_EQ(r.RenderPrometheus(),
              "# HELP cfs_block_groups Block groups.\n"
              "# TYPE cfs_block_groups gauge\n"
              "cfs_block_groups{state=\"writable\"} 3\n");
    block_groups = 7;
    EXPECT_EQ(r.RenderPrometheus(),
              "# HELP cfs_block_groups Block groups.\n"
              "# TYPE cfs_block_groups gauge\n"
              "cfs_block_groups{state=\"writable\"} 7\n");
  }
  EXPECT_EQ(r.RenderPrometheus(), "");
}

TEST(MetricsTest, CallbackCounterRendersAsCounter) {
  MetricsRegistry r;
  MetricCallback cb = r.AddCallbackCounter("rpc_requests_total", "Requests.", [] { return 12.0; });
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP rpc_requests_total Requests.\n"
            "# TYPE rpc_requests_total counter\n"
            "rpc_requests_total 12\n");
  cb.Reset();
  EXPECT_FALSE(cb.active());
  EXPECT_EQ(r.RenderPrometheus(), "");
}

TEST(MetricsTest, NewestCallbackOfASeriesWinsAndTheOlderReturnsWhenItGoes) {
  MetricsRegistry r;
  MetricCallback first = r.AddCallbackGauge("owners", "O.", [] { return 1.0; });
  MetricCallback second = r.AddCallbackGauge("owners", "O.", [] { return 2.0; });
  MetricCallback other = r.AddCallbackGauge("owners", "O.", [] { return 9.0; }, {{"k", "v"}});
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP owners O.\n"
            "# TYPE owners gauge\n"
            "owners 2\n"
            "owners{k=\"v\"} 9\n");
  second.Reset();
  other = MetricCallback();  // move-assigning removes the old one
  EXPECT_EQ(r.RenderPrometheus(),
            "# HELP owners O.\n"
            "# TYPE owners gauge\n"
            "owners 1\n");
  MetricCallback moved = std::move(first);
  EXPECT_FALSE(first.active());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(moved.active());
}

TEST(MetricsTest, NameValidation) {
  EXPECT_TRUE(MetricsRegistry::IsValidMetricName("cfs_rpc_seconds"));
  EXPECT_TRUE(MetricsRegistry::IsValidMetricName("ns:sub:metric_1"));
  EXPECT_TRUE(MetricsRegistry::IsValidMetricName("_x"));
  EXPECT_TRUE(MetricsRegistry::IsValidMetricName(":x"));
  EXPECT_FALSE(MetricsRegistry::IsValidMetricName(""));
  EXPECT_FALSE(MetricsRegistry::IsValidMetricName("1abc"));
  EXPECT_FALSE(MetricsRegistry::IsValidMetricName("a-b"));
  EXPECT_FALSE(MetricsRegistry::IsValidMetricName("a b"));
  EXPECT_FALSE(MetricsRegistry::IsValidMetricName("é"));
  EXPECT_TRUE(MetricsRegistry::IsValidLabelName("method"));
  EXPECT_TRUE(MetricsRegistry::IsValidLabelName("_m2"));
  EXPECT_FALSE(MetricsRegistry::IsValidLabelName(""));
  EXPECT_FALSE(MetricsRegistry::IsValidLabelName("__name__"));
  EXPECT_FALSE(MetricsRegistry::IsValidLabelName("a:b"));
  EXPECT_FALSE(MetricsRegistry::IsValidLabelName("2a"));
}

TEST(MetricsDeathTest, MisuseAbortsNamingTheMetric) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  MetricsRegistry r;
  r.GetCounter("taken", "T.");
  EXPECT_DEATH(r.GetCounter("bad-name", "B."), "\"bad-name\": invalid metric name");
  EXPECT_DEATH(r.GetCounter("ok", "B.", {{"bad-label", "x"}}), "\"ok\": label name \"bad-label\" is invalid");
  EXPECT_DEATH(r.GetCounter("ok", "B.", {{"a", "x"}, {"a", "y"}}), "label \"a\" given twice");
  EXPECT_DEATH(r.GetGauge("taken", "T."), "\"taken\": registered again with another type");
  EXPECT_DEATH(r.GetCounter("taken", "Other."), "registered again with other help text");
  EXPECT_DEATH(r.GetHistogram("h", "H.", {1, 1}), "strictly increasing");
  EXPECT_DEATH(r.GetHistogram("h", "H.", {1, 2}, {{"le", "x"}}), "label named \"le\"");
  r.GetHistogram("h2", "H.", {1, 2});
  EXPECT_DEATH(r.GetHistogram("h2", "H.", {1, 3}), "other histogram bounds");
}

TEST(MetricsTest, DefaultIsOneProcessWideRegistry) {
  EXPECT_EQ(&MetricsRegistry::Default(), &MetricsRegistry::Default());
}

TEST(MetricsTest, ConcurrentUpdatesRegistrationsAndRendersLoseNothing) {
  MetricsRegistry r;
  Counter& c = r.GetCounter("hits_total", "Hits.");
  Gauge& g = r.GetGauge("level", "Level.");
  Histogram& h = r.GetHistogram("lat_seconds", "Latency.", {0.5});
  constexpr int kThreads = 8;
  constexpr int kIters = 100000;
  std::atomic<bool> done{false};
  std::thread renderer([&] {
    while (!done.load()) {
      std::string text = r.RenderPrometheus();
      ASSERT_NE(text.find("# TYPE hits_total counter\n"), std::string::npos);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Registration from many threads at once lands on one object.
      Counter& mine = r.GetCounter("per_thread_total", "Per thread.", {{"t", std::to_string(t % 2)}});
      for (int i = 0; i < kIters; ++i) {
        c.Inc();
        g.Inc();
        mine.Inc();
        h.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& t : threads) t.join();
  done = true;
  renderer.join();
  EXPECT_EQ(c.Value(), uint64_t{kThreads} * kIters);
  EXPECT_EQ(g.Value(), int64_t{kThreads} * kIters);
  EXPECT_EQ(r.GetCounter("per_thread_total", "Per thread.", {{"t", "0"}}).Value(), uint64_t{kThreads / 2} * kIters);
  auto s = h.Snap();
  EXPECT_EQ(s.count, uint64_t{kThreads} * kIters);
  EXPECT_EQ(s.cumulative[0], uint64_t{kThreads} * kIters / 2);
  EXPECT_DOUBLE_EQ(s.sum, kThreads * (kIters / 2) * 1.25);
  std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("hits_total 800000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("per_thread_total{t=\"1\"} 400000\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace cfs
