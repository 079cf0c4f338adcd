#include "common/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "common/strings.h"

namespace cfs {
namespace {

// A registration that breaks the rules is a bug in the caller: say which
// metric, then abort.
[[noreturn]] void MetricsBug(std::string_view name, std::string_view what) {
  std::string msg = fmt::format("metrics: {}: {}\n", Quoted(name), what);
  std::fputs(msg.c_str(), stderr);
  std::abort();
}

// Prometheus floats: Go's spellings for the specials, else the shortest text
// that reads back as the same double.
void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    fmt::format_to(std::back_inserter(out), "{}", v);
  }
}

// Label values: backslash, double quote and line feed are escaped.
void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

// HELP text: backslash and line feed are escaped.
void AppendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

// `a="x",b="y"`, sorted by label name; aborts on an invalid or repeated name.
std::string RenderLabels(std::string_view metric, const MetricLabels& labels, bool histogram) {
  std::vector<const std::pair<std::string, std::string>*> sorted;
  sorted.reserve(labels.size());
  for (const auto& l : labels) {
    if (!MetricsRegistry::IsValidLabelName(l.first)) {
      MetricsBug(metric, fmt::format("label name {} is invalid", Quoted(l.first)));
    }
    if (histogram && l.first == "le") MetricsBug(metric, "a histogram may not have a label named \"le\"");
    sorted.push_back(&l);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  std::string out;
  for (size_t i = 0; i < sorted.size(); ++i) {
    if (i > 0 && sorted[i]->first == sorted[i - 1]->first) {
      MetricsBug(metric, fmt::format("label {} given twice", Quoted(sorted[i]->first)));
    }
    if (i > 0) out += ',';
    out += sorted[i]->first;
    out += "=\"";
    AppendLabelValue(out, sorted[i]->second);
    out += '"';
  }
  return out;
}

// name{labels} value\n, with `extra` (already rendered) after the labels.
void AppendSampleStart(std::string& out, std::string_view name, std::string_view suffix, std::string_view labels,
                       std::string_view extra = {}) {
  out += name;
  out += suffix;
  if (!labels.empty() || !extra.empty()) {
    out += '{';
    out += labels;
    if (!labels.empty() && !extra.empty()) out += ',';
    out += extra;
    out += '}';
  }
  out += ' ';
}

}  // namespace

// ---- Histogram ----

const std::vector<double>& Histogram::DefaultLatencyBuckets() {
  static const std::vector<double> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                               0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
  return kBuckets;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  // The first bound >= v; NaN and values past the last bound go to +Inf.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  if (std::isnan(v)) i = bounds_.size();
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  // _count is the +Inf bucket, so the two always agree.
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- MetricCallback ----

MetricCallback& MetricCallback::operator=(MetricCallback&& o) noexcept {
  if (this != &o) {
    Reset();
    registry_ = std::exchange(o.registry_, nullptr);
    id_ = o.id_;
  }
  return *this;
}

void MetricCallback::Reset() {
  if (registry_ != nullptr) std::exchange(registry_, nullptr)->RemoveCallback(id_);
}

// ---- MetricsRegistry ----

MetricsRegistry::~MetricsRegistry() {
  if (!callbacks_.empty()) {
    MetricsBug(callbacks_.begin()->second.first, "registry destroyed while a MetricCallback still refers to it");
  }
}

MetricsRegistry& MetricsRegistry::Default() {
  // Leaked on purpose: metrics may be touched by static destructors and
  // threads still running at exit.
  static MetricsRegistry* r = new MetricsRegistry();
  return *r;
}

bool MetricsRegistry::IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool MetricsRegistry::IsValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

MetricsRegistry::Series& MetricsRegistry::SeriesLocked(std::string_view name, std::string_view help, Type type,
                                                       const MetricLabels& labels,
                                                       const std::vector<double>* bounds) {
  if (!IsValidMetricName(name)) MetricsBug(name, "invalid metric name");
  if (bounds != nullptr) {
    for (size_t i = 0; i < bounds->size(); ++i) {
      if (!std::isfinite((*bounds)[i]) || (i > 0 && (*bounds)[i] <= (*bounds)[i - 1])) {
        MetricsBug(name, "histogram bounds must be finite and strictly increasing");
      }
    }
  }
  std::string rendered = RenderLabels(name, labels, type == Type::kHistogram);
  auto it = families_.find(name);
  if (it == families_.end()) {
    Family f;
    f.type = type;
    f.help = std::string(help);
    if (bounds != nullptr) f.bounds = *bounds;
    it = families_.emplace(std::string(name), std::move(f)).first;
  }
  Family& f = it->second;
  if (f.type != type) MetricsBug(name, "registered again with another type");
  if (f.help != help) MetricsBug(name, fmt::format("registered again with other help text {}", Quoted(help)));
  if (bounds != nullptr && f.bounds != *bounds) MetricsBug(name, "registered again with other histogram bounds");
  auto [sit, inserted] = f.series.try_emplace(rendered);
  Series& s = sit->second;
  if (inserted) {
    s.labels = std::move(rendered);
    switch (type) {
      case Type::kCounter: s.counter = std::make_unique<Counter>(); break;
      case Type::kGauge: s.gauge = std::make_unique<Gauge>(); break;
      case Type::kDoubleGauge: s.double_gauge = std::make_unique<DoubleGauge>(); break;
      case Type::kHistogram: s.histogram = std::make_unique<Histogram>(f.bounds); break;
      case Type::kCallbackGauge:
      case Type::kCallbackCounter: break;
    }
  }
  return s;
}

Counter& MetricsRegistry::GetCounter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  std::lock_guard l(mu_);
  return *SeriesLocked(name, help, Type::kCounter, labels, nullptr).counter;
}

Gauge& MetricsRegistry::GetGauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  std::lock_guard l(mu_);
  return *SeriesLocked(name, help, Type::kGauge, labels, nullptr).gauge;
}

DoubleGauge& MetricsRegistry::GetDoubleGauge(std::string_view name, std::string_view help,
                                             const MetricLabels& labels) {
  std::lock_guard l(mu_);
  return *SeriesLocked(name, help, Type::kDoubleGauge, labels, nullptr).double_gauge;
}

Histogram& MetricsRegistry::GetHistogram(std::string_view name, std::string_view help,
                                         const std::vector<double>& bounds, const MetricLabels& labels) {
  std::lock_guard l(mu_);
  return *SeriesLocked(name, help, Type::kHistogram, labels, &bounds).histogram;
}

MetricCallback MetricsRegistry::AddCallbackGauge(std::string_view name, std::string_view help,
                                                 std::function<double()> fn, const MetricLabels& labels) {
  return AddCallback(name, help, Type::kCallbackGauge, std::move(fn), labels);
}

MetricCallback MetricsRegistry::AddCallbackCounter(std::string_view name, std::string_view help,
                                                   std::function<double()> fn, const MetricLabels& labels) {
  return AddCallback(name, help, Type::kCallbackCounter, std::move(fn), labels);
}

MetricCallback MetricsRegistry::AddCallback(std::string_view name, std::string_view help, Type type,
                                            std::function<double()> fn, const MetricLabels& labels) {
  if (!fn) MetricsBug(name, "empty callback");
  std::lock_guard l(mu_);
  Series& s = SeriesLocked(name, help, type, labels, nullptr);
  uint64_t id = next_callback_id_++;
  s.callbacks.push_back(Callback{id, std::move(fn)});
  callbacks_.emplace(id, std::make_pair(std::string(name), s.labels));
  return MetricCallback(this, id);
}

void MetricsRegistry::RemoveCallback(uint64_t id) {
  std::function<double()> doomed;  // destroyed after the lock is released
  std::lock_guard l(mu_);
  auto it = callbacks_.find(id);
  if (it == callbacks_.end()) return;
  auto fit = families_.find(it->second.first);
  if (fit != families_.end()) {
    auto sit = fit->second.series.find(it->second.second);
    if (sit != fit->second.series.end()) {
      auto& cbs = sit->second.callbacks;
      auto cit = std::find_if(cbs.begin(), cbs.end(), [id](const Callback& c) { return c.id == id; });
      if (cit != cbs.end()) {
        doomed = std::move(cit->fn);
        cbs.erase(cit);
      }
      // A callback series with no callback left is not rendered; the family
      // (type and help) stays so a later registration must agree with it.
      if (cbs.empty()) fit->second.series.erase(sit);
    }
  }
  callbacks_.erase(it);
}

std::string MetricsRegistry::RenderPrometheus() const {
  std::string out;
  std::lock_guard l(mu_);
  for (const auto& [name, f] : families_) {
    if (f.series.empty()) continue;
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendHelp(out, f.help);
    out += "\n# TYPE ";
    out += name;
    switch (f.type) {
      case Type::kCounter:
      case Type::kCallbackCounter: out += " counter\n"; break;
      case Type::kGauge:
      case Type::kDoubleGauge:
      case Type::kCallbackGauge: out += " gauge\n"; break;
      case Type::kHistogram: out += " histogram\n"; break;
    }
    for (const auto& [labels, s] : f.series) {
      switch (f.type) {
        case Type::kCounter:
          AppendSampleStart(out, name, "", labels);
          fmt::format_to(std::back_inserter(out), "{}\n", s.counter->Value());
          break;
        case Type::kGauge:
          AppendSampleStart(out, name, "", labels);
          fmt::format_to(std::back_inserter(out), "{}\n", s.gauge->Value());
          break;
        case Type::kDoubleGauge:
          AppendSampleStart(out, name, "", labels);
          AppendValue(out, s.double_gauge->Value());
          out += '\n';
          break;
        case Type::kCallbackGauge:
        case Type::kCallbackCounter:
          AppendSampleStart(out, name, "", labels);
          AppendValue(out, s.callbacks.back().fn());
          out += '\n';
          break;
        case Type::kHistogram: {
          Histogram::Snapshot snap = s.histogram->Snap();
          std::string le;
          for (size_t i = 0; i <= f.bounds.size(); ++i) {
            le = "le=\"";
            if (i < f.bounds.size()) {
              AppendValue(le, f.bounds[i]);
            } else {
              le += "+Inf";
            }
            le += '"';
            AppendSampleStart(out, name, "_bucket", labels, le);
            fmt::format_to(std::back_inserter(out), "{}\n", snap.cumulative[i]);
          }
          AppendSampleStart(out, name, "_sum", labels);
          AppendValue(out, snap.sum);
          out += '\n';
          AppendSampleStart(out, name, "_count", labels);
          fmt::format_to(std::back_inserter(out), "{}\n", snap.count);
          break;
        }
      }
    }
  }
  return out;
}

}  // namespace cfs
