// Metrics: counters, gauges and histograms kept in a registry that renders
// them in the Prometheus text exposition format (version 0.0.4), with no
// external library.
//
// A metric is a time series: a family name, help text, a type and a set of
// constant labels. The registry owns every metric it hands out and never
// frees one, so the reference it returns stays valid for the registry's
// life; code keeps it (often in a function-local static) and updates it on
// the hot path with one relaxed atomic operation and no lock:
//
//   static Counter& writes = MetricsRegistry::Default().GetCounter(
//       "cfs_datanode_writes_total", "Needle writes served.");
//   writes.Inc();
//
// Values owned elsewhere (block group counts, queue depths) are exposed with
// a callback evaluated at render time; the returned MetricCallback removes
// it when destroyed.
//
// Registration with an invalid name, a label that is invalid or repeated, or
// a name already registered with another type (or, for histograms, other
// buckets) or other help text is a programming error: it aborts with a
// message naming the metric.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace cfs {

// Constant labels of one series, as (name, value) pairs. Their order does not
// matter: {a, b} and {b, a} name the same series.
using MetricLabels = std::vector<std::pair<std::string, std::string>>;

// A monotonically increasing count. Thread-safe; Inc and Add are one relaxed
// atomic add.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  void Inc() { value_.fetch_add(1, std::memory_order_relaxed); }
  void Add(uint64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  // Its own cache line: counters of different threads never share one.
  alignas(64) std::atomic<uint64_t> value_{0};
};

// A value that goes up and down, an integer (in-flight requests, open
// connections) or a double. Thread-safe; every method is one relaxed atomic
// operation (Add on a double is a compare-exchange loop).
template <typename T>
class BasicGauge {
  static_assert(std::is_same_v<T, int64_t> || std::is_same_v<T, double>);

 public:
  BasicGauge() = default;
  BasicGauge(const BasicGauge&) = delete;
  BasicGauge& operator=(const BasicGauge&) = delete;

  void Set(T v) { value_.store(v, std::memory_order_relaxed); }
  void Add(T d) { value_.fetch_add(d, std::memory_order_relaxed); }
  void Sub(T d) { value_.fetch_sub(d, std::memory_order_relaxed); }
  void Inc() { Add(1); }
  void Dec() { Sub(1); }
  T Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<T> value_{0};
};
using Gauge = BasicGauge<int64_t>;
using DoubleGauge = BasicGauge<double>;

// Counts observations into fixed buckets and keeps their sum, for latencies
// in seconds and sizes. Buckets are upper bounds, inclusive (Prometheus
// `le`), strictly increasing and finite; +Inf is implicit. Thread-safe:
// Observe is a search over the bounds and two relaxed atomic operations. A
// render racing with Observe may see the bucket count before the sum moves.
class Histogram {
 public:
  // Latency buckets in seconds, 100 µs to 10 s.
  static const std::vector<double>& DefaultLatencyBuckets();

  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);

  const std::vector<double>& bounds() const { return bounds_; }
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot Snap() const;

 private:
  const std::vector<double> bounds_;
  // Per-bucket (not cumulative) counts; the last one is +Inf.
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;
  std::atomic<double> sum_{0};
};

class MetricsRegistry;

// Owns a callback's place in a registry: destroying it (or Reset) removes the
// callback, waiting for a render that is evaluating it. Move-only. Destroy it
// before what the callback reads, and not while holding a lock the callback
// takes.
class MetricCallback {
 public:
  MetricCallback() = default;
  MetricCallback(MetricCallback&& o) noexcept : registry_(std::exchange(o.registry_, nullptr)), id_(o.id_) {}
  MetricCallback& operator=(MetricCallback&& o) noexcept;
  MetricCallback(const MetricCallback&) = delete;
  MetricCallback& operator=(const MetricCallback&) = delete;
  ~MetricCallback() { Reset(); }

  void Reset();
  bool active() const { return registry_ != nullptr; }

 private:
  friend class MetricsRegistry;
  MetricCallback(MetricsRegistry* r, uint64_t id) : registry_(r), id_(id) {}
  MetricsRegistry* registry_ = nullptr;
  uint64_t id_ = 0;
};

// The set of metrics of a process (Default) or of a test. Thread-safe:
// registration and rendering take a mutex; updating a metric takes none.
class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;
  // Every MetricCallback of this registry must be gone by then.
  ~MetricsRegistry();

  // The process-wide registry that /metrics serves. Never destroyed.
  static MetricsRegistry& Default();

  // Return the metric with this name and labels, created on first use: the
  // same arguments always give the same object, valid for the registry's
  // life. Names are [a-zA-Z_:][a-zA-Z0-9_:]*; label names
  // [a-zA-Z_][a-zA-Z0-9_]* and not starting with "__"; label values are any
  // bytes (escaped on output). A histogram's labels may not use "le".
  Counter& GetCounter(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  Gauge& GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  DoubleGauge& GetDoubleGauge(std::string_view name, std::string_view help, const MetricLabels& labels = {});
  // `bounds` as for Histogram; every series of one family has the same.
  Histogram& GetHistogram(std::string_view name, std::string_view help,
                          const std::vector<double>& bounds = Histogram::DefaultLatencyBuckets(),
                          const MetricLabels& labels = {});

  // A gauge (or counter) whose value `fn` returns at each render, for values
  // owned elsewhere. `fn` runs under the registry's mutex: it must be quick
  // and must not use this registry. When several live callbacks name the
  // same series, the newest is rendered (a series appears once), so a test
  // may run two owners side by side.
  [[nodiscard]] MetricCallback AddCallbackGauge(std::string_view name, std::string_view help,
                                                std::function<double()> fn, const MetricLabels& labels = {});
  [[nodiscard]] MetricCallback AddCallbackCounter(std::string_view name, std::string_view help,
                                                  std::function<double()> fn, const MetricLabels& labels = {});

  // Every family, sorted by name, as "# HELP", "# TYPE" and one sample line
  // per series (series sorted by labels); histograms as _bucket{le=...}
  // (cumulative, ending with +Inf), _sum and _count.
  std::string RenderPrometheus() const;

  static bool IsValidMetricName(std::string_view name);
  static bool IsValidLabelName(std::string_view name);

 private:
  friend class MetricCallback;
  enum class Type { kCounter, kGauge, kDoubleGauge, kHistogram, kCallbackGauge, kCallbackCounter };
  struct Callback {
    uint64_t id;
    std::function<double()> fn;
  };
  struct Series {
    std::string labels;  // rendered: `a="x",b="y"`, sorted by name; empty for none
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<DoubleGauge> double_gauge;
    std::unique_ptr<Histogram> histogram;
    std::vector<Callback> callbacks;  // oldest first; the last is rendered
  };
  struct Family {
    Type type;
    std::string help;
    std::vector<double> bounds;               // histograms
    std::map<std::string, Series> series;     // by rendered labels
  };

  Series& SeriesLocked(std::string_view name, std::string_view help, Type type, const MetricLabels& labels,
                       const std::vector<double>* bounds);
  MetricCallback AddCallback(std::string_view name, std::string_view help, Type type, std::function<double()> fn,
                             const MetricLabels& labels);
  void RemoveCallback(uint64_t id);

  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;  // guarded by mu_
  uint64_t next_callback_id_ = 1;                        // guarded by mu_
  // Callback id -> its family and series, for removal; guarded by mu_.
  std::map<uint64_t, std::pair<std::string, std::string>> callbacks_;
};

}  // namespace cfs
