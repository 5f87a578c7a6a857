// index_scale: every word-search index kind on a synthetic table (default 1M words x 256 dimensions,
// clustered like word vectors): build time, size, single-query latency (p50, p99) and recall@10
// against exact search. The size is that of the index's FAISS file, which holds all it keeps in
// memory (the resident set's growth is no measure under tcmalloc, which reuses pages freed earlier).
// usage: index_scale [--rows N] [--dim D] [--queries Q] [--kinds flat,hnsw,sq8,ivf-pq] [--threads T]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>
#include <sstream>

#include <omp.h>

#include "model/index/embedding_index.h"

namespace wb = wordbridge;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1000000, dim = 256, queries = 1000;
  int threads = 1;
  std::string kinds = "flat,hnsw,sq8,ivf-pq";
  CLI::App app{"word-search index kinds at scale"};
  app.add_option("--rows", rows)->capture_default_str();
  app.add_option("--dim", dim)->capture_default_str();
  app.add_option("--queries", queries)->capture_default_str();
  app.add_option("--kinds", kinds)->capture_default_str();
  app.add_option("--threads", threads, "threads for building (searches are single queries)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  omp_set_num_threads(threads);

  torch::manual_seed(5);
  const int64_t centres = std::max<int64_t>(16, rows / 1000);
  auto table = torch::randn({centres, dim}).index_select(0, torch::randint(0, centres, {rows}, torch::kInt64)) +
               0.5 * torch::randn({rows, dim});
  std::vector<std::vector<float>> probes;
  for (int64_t q = 0; q < queries; ++q) {
    auto row = (table[(q * 7919) % rows] + 0.1 * torch::randn({dim})).contiguous();
    probes.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + dim);
  }
  std::printf("table %lld x %lld (float32 %.0f MiB), %lld queries, build threads %d\n", static_cast<long long>(rows),
              static_cast<long long>(dim), rows * dim * 4 / 1048576.0, static_cast<long long>(queries), threads);

  std::vector<std::set<int64_t>> truth;
  std::printf("%-7s %10s %12s %10s %10s %11s\n", "kind", "build s", "size MiB", "p50 ms", "p99 ms", "recall@10");
  std::stringstream names(kinds);
  for (std::string name; std::getline(names, name, ',');) {
    const auto kind = wb::ParseIndexKind(name);
    const auto start = Clock::now();
    wb::EmbeddingIndex index(table, 0, kind);
    const double build = Seconds(start);
    const double memory = static_cast<double>(index.Serialize().size()) / 1048576.0;
    std::vector<double> latencies;
    std::vector<std::set<int64_t>> answers;
    for (const auto& probe : probes) {
      const auto t = Clock::now();
      auto hits = index.Search(probe, 10);
      latencies.push_back(Seconds(t) * 1000);
      std::set<int64_t> ids;
      for (const auto& hit : hits) ids.insert(hit.id);
      answers.push_back(std::move(ids));
    }
    if (kind == wb::IndexKind::kFlat) truth = answers;
    double recall = -1;
    if (!truth.empty()) {
      int64_t found = 0;
      for (size_t q = 0; q < answers.size(); ++q) {
        for (int64_t id : answers[q]) found += truth[q].count(id);
      }
      recall = static_cast<double>(found) / (10.0 * answers.size());
    }
    std::sort(latencies.begin(), latencies.end());
    const std::string note = index.kind() != kind ? "  (fell back to flat)"
                             : index.search_breadth() > 0
                                 ? "  (search breadth " + std::to_string(index.search_breadth()) + ", calibrated)"
                                 : "";
    std::printf("%-7s %10.1f %12.0f %10.3f %10.3f %11.3f%s\n", wb::IndexKindName(index.kind()), build, memory,
                latencies[latencies.size() / 2], latencies[latencies.size() * 99 / 100], recall, note.c_str());
    std::fflush(stdout);
  }
  return 0;
}
