// A small Prometheus metrics registry (counters, gauges, histograms with labels) rendered in the text
// exposition format 0.0.4. Plain C++: the serving engine records into it, the server exposes it over HTTP.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace wordbridge {

// Label name -> value, in order. A family's label names are fixed by its first use; later calls may list
// the same names in any order.
using Labels = std::vector<std::pair<std::string, std::string>>;

// A value that only goes up (requests, tokens, errors). Lock-free.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // Negative amounts are ignored: a counter that went down would read as a process restart.
  void Increment(double by = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down (queue depth, loaded models, resident memory). Lock-free.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double by);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets with upper bounds (`le`, inclusive), plus their sum and count.
// A per-histogram mutex keeps buckets, sum and count consistent with each other in a render.
class Histogram {
 public:
  // A consistent copy: cumulative[i] counts observations <= bounds[i]; the +Inf bucket equals count.
  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;
    double sum = 0.0;
    uint64_t count = 0;
  };

  // `bounds` must be finite and strictly increasing (a last +Inf is implied and may be given); else
  // std::invalid_argument.
  explicit Histogram(std::vector<double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double v);
  Snapshot Read() const;
  uint64_t count() const;
  double sum() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mutex_;
  // Per bucket, not cumulative; the last entry is the +Inf bucket.
  std::vector<uint64_t> bucket_counts_;
  double sum_ = 0.0;
  uint64_t count_ = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the metric of family `name` with these label values, creating the family/child on first use.
  // The reference stays valid for the registry's lifetime. Same name with another type, other label
  // names or (histograms) other bucket bounds -> std::logic_error; an invalid metric or label name ->
  // std::invalid_argument. `help` of later calls is ignored. Thread-safe; cache the result on hot paths.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help, const std::vector<double>& bucket_bounds,
                          const Labels& labels = {});

  // Called at the start of every RenderText, e.g. to set gauges computed on demand (RSS, queue depth).
  // Collectors may call Get* and must be thread-safe: two renders may run at once.
  void AddCollector(std::function<void()> collect);

  // Prometheus text exposition format 0.0.4: # HELP / # TYPE lines, label values escaped (\\, \", \n),
  // histograms as _bucket{le="..."} (cumulative, ending with le="+Inf"), _sum, _count. Families sorted by
  // name, children by label values.
  std::string RenderText() const;

 private:
  enum class MetricType { kCounter, kGauge, kHistogram };
  struct Child;
  struct Family;

  // Finds or creates family `name` and its child for `labels`, under mutex_. `bounds` are the validated
  // bucket bounds of a histogram, empty otherwise.
  Child& GetChild(const std::string& name, const std::string& help, MetricType type, const Labels& labels,
                  const std::vector<double>& bounds);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<Family>> families_;
  mutable std::mutex collectors_mutex_;
  std::vector<std::function<void()>> collectors_;
};

// `count` bounds start, start*factor, start*factor^2, ... Throws std::invalid_argument unless start > 0,
// factor > 1 and count >= 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

// The process's resident set size in bytes (/proc/self/statm x page size); 0 if unavailable.
double ProcessResidentBytes();

}  // namespace wordbridge
