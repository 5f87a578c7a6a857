// Prometheus metrics registry: metric updates are atomics (a tiny mutex per histogram), the registry's
// mutex guards only the family/child maps, so recording never waits for a render.
#include "model/serve/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <stdexcept>

namespace wordbridge {
namespace {

void AtomicAdd(std::atomic<double>& target, double by) {
  double current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + by, std::memory_order_relaxed)) {
  }
}

bool IsMetricName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(const std::string& name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  // Names starting with "__" are reserved for Prometheus itself.
  return name.compare(0, 2, "__") != 0;
}

// Bounds as the family keeps them: strictly increasing, finite, without the implied +Inf.
std::vector<double> ValidatedBucketBounds(std::vector<double> bounds) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i])) throw std::invalid_argument("histogram bucket bounds must be finite");
    if (i > 0 && !(bounds[i - 1] < bounds[i])) {
      throw std::invalid_argument("histogram bucket bounds must be strictly increasing");
    }
  }
  return bounds;
}

// Shortest text that reads back as the same double; Prometheus spells the specials +Inf, -Inf, NaN.
std::string FormatNumber(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buffer[32];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);
  return std::string(buffer, result.ptr);
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// HELP text escapes backslash and newline only (format 0.0.4).
std::string EscapeHelp(const std::string& help) {
  std::string out;
  out.reserve(help.size());
  for (const char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// `{a="x",b="y"}`, with an optional extra label (a histogram's `le`) last; empty when there are no labels.
std::string FormatLabels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                         const char* extra_name = nullptr, const std::string& extra_value = "") {
  if (names.empty() && extra_name == nullptr) return "";
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + '"';
  }
  if (extra_name != nullptr) {
    if (!names.empty()) out += ',';
    out += std::string(extra_name) + "=\"" + extra_value + '"';
  }
  return out + '}';
}

}  // namespace

void Counter::Increment(double by) {
  if (!(by >= 0.0)) return;
  AtomicAdd(value_, by);
}

void Gauge::Add(double by) { AtomicAdd(value_, by); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(ValidatedBucketBounds(std::move(bounds))), bucket_counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double v) {
  // NaN compares false with every bound; it belongs only to +Inf, as in the Go client.
  const size_t bucket = std::isnan(v) ? bounds_.size()
                                      : static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) -
                                                            bounds_.begin());
  std::lock_guard lock(mutex_);
  ++bucket_counts_[bucket];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  snapshot.cumulative.reserve(bucket_counts_.size());
  std::lock_guard lock(mutex_);
  uint64_t running = 0;
  for (const uint64_t n : bucket_counts_) {
    running += n;
    snapshot.cumulative.push_back(running);
  }
  snapshot.sum = sum_;
  snapshot.count = count_;
  return snapshot;
}

uint64_t Histogram::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

double Histogram::sum() const {
  std::lock_guard lock(mutex_);
  return sum_;
}

struct MetricsRegistry::Child {
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  MetricType type;
  std::string help;
  std::vector<std::string> label_names;
  std::vector<double> bounds;
  // Keyed by label values in label_names order; std::map keeps the rendering order stable.
  std::map<std::vector<std::string>, Child> children;
};

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  return *GetChild(name, help, MetricType::kCounter, labels, {}).counter;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
  return *GetChild(name, help, MetricType::kGauge, labels, {}).gauge;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& bucket_bounds, const Labels& labels) {
  return *GetChild(name, help, MetricType::kHistogram, labels, ValidatedBucketBounds(bucket_bounds)).histogram;
}

MetricsRegistry::Child& MetricsRegistry::GetChild(const std::string& name, const std::string& help, MetricType type,
                                                  const Labels& labels, const std::vector<double>& bounds) {
  std::lock_guard lock(mutex_);
  auto family_it = families_.find(name);
  if (family_it == families_.end()) {
    if (!IsMetricName(name)) throw std::invalid_argument("invalid metric name '" + name + "'");
    auto family = std::make_unique<Family>();
    family->type = type;
    family->help = help;
    family->bounds = bounds;
    for (const auto& [label_name, value] : labels) {
      if (!IsLabelName(label_name)) {
        throw std::invalid_argument("invalid label name '" + label_name + "' for metric '" + name + "'");
      }
      if (type == MetricType::kHistogram && label_name == "le") {
        throw std::invalid_argument("label 'le' is reserved for histogram buckets ('" + name + "')");
      }
      if (std::find(family->label_names.begin(), family->label_names.end(), label_name) !=
          family->label_names.end()) {
        throw std::invalid_argument("label '" + label_name + "' given twice for metric '" + name + "'");
      }
      family->label_names.push_back(label_name);
    }
    family_it = families_.emplace(name, std::move(family)).first;
  }
  Family& family = *family_it->second;
  if (family.type != type) throw std::logic_error("metric '" + name + "' is already registered with another type");
  if (type == MetricType::kHistogram && family.bounds != bounds) {
    throw std::logic_error("histogram '" + name + "' is already registered with other bucket bounds");
  }

  // Label values in the family's label order, so callers may list the labels in any order.
  std::vector<std::string> values;
  values.reserve(family.label_names.size());
  bool names_match = labels.size() == family.label_names.size();
  for (size_t i = 0; names_match && i < family.label_names.size(); ++i) {
    const std::string& label_name = family.label_names[i];
    if (labels[i].first == label_name) {
      values.push_back(labels[i].second);
      continue;
    }
    const auto it = std::find_if(labels.begin(), labels.end(), [&](const auto& l) { return l.first == label_name; });
    if (it == labels.end()) {
      names_match = false;
    } else {
      values.push_back(it->second);
    }
  }
  if (!names_match) {
    std::string expected;
    for (const auto& label_name : family.label_names) expected += (expected.empty() ? "" : ", ") + label_name;
    throw std::logic_error("metric '" + name + "' has labels {" + expected + "}; got other label names");
  }

  Child& child = family.children[std::move(values)];
  if (!child.counter && !child.gauge && !child.histogram) {
    switch (type) {
      case MetricType::kCounter:
        child.counter = std::make_unique<Counter>();
        break;
      case MetricType::kGauge:
        child.gauge = std::make_unique<Gauge>();
        break;
      case MetricType::kHistogram:
        child.histogram = std::make_unique<Histogram>(family.bounds);
        break;
    }
  }
  return child;
}

void MetricsRegistry::AddCollector(std::function<void()> collect) {
  std::lock_guard lock(collectors_mutex_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::RenderText() const {
  // Collectors run unlocked: they call Get* and Set, which take mutex_ themselves.
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(collectors_mutex_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect();

  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, family] : families_) {
    const char* type_name = family->type == MetricType::kCounter ? "counter"
                            : family->type == MetricType::kGauge ? "gauge"
                                                                 : "histogram";
    out += "# HELP " + name + ' ' + EscapeHelp(family->help) + '\n';
    out += "# TYPE " + name + ' ' + type_name + '\n';
    for (const auto& [values, child] : family->children) {
      const std::string labels = FormatLabels(family->label_names, values);
      switch (family->type) {
        case MetricType::kCounter:
          out += name + labels + ' ' + FormatNumber(child.counter->value()) + '\n';
          break;
        case MetricType::kGauge:
          out += name + labels + ' ' + FormatNumber(child.gauge->value()) + '\n';
          break;
        case MetricType::kHistogram: {
          const Histogram::Snapshot snapshot = child.histogram->Read();
          for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
            const std::string le = i < snapshot.bounds.size() ? FormatNumber(snapshot.bounds[i]) : "+Inf";
            out += name + "_bucket" + FormatLabels(family->label_names, values, "le", le) + ' ' +
                   std::to_string(snapshot.cumulative[i]) + '\n';
          }
          out += name + "_sum" + labels + ' ' + FormatNumber(snapshot.sum) + '\n';
          out += name + "_count" + labels + ' ' + std::to_string(snapshot.count) + '\n';
          break;
        }
      }
    }
  }
  return out;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  if (!(start > 0.0) || !(factor > 1.0) || count < 1) {
    throw std::invalid_argument("exponential buckets need start > 0, factor > 1 and count >= 1");
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

double ProcessResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size_pages = 0;
  uint64_t resident_pages = 0;
  if (!(statm >> size_pages >> resident_pages)) return 0.0;
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return 0.0;
  return static_cast<double>(resident_pages) * static_cast<double>(page_size);
}

}  // namespace wordbridge
