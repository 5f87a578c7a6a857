// sentence_retrieval: translation-memory search on a test set. Every test source sentence is indexed;
// each is then queried with one word dropped (its middle word, for sentences of three words or more),
// and the benchmark reports how often the original sentence comes back first, for both sentence
// vectors: the encoder's final state and the mean of its outputs.
// usage: sentence_retrieval --version-dir DIR --test TSV [--threads N]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "model/embed/sentence_index.h"
#include "model/store/model_bundle.h"
#include "model/train/corpus.h"

namespace wb = wordbridge;

namespace {

std::string DropMiddleWord(const std::string& sentence) {
  std::istringstream in(sentence);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  words.erase(words.begin() + static_cast<long>(words.size() / 2));
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string version_dir, test;
  int threads = 1;
  CLI::App app{"sentence retrieval: is a verse with one word dropped found at rank 1?"};
  app.add_option("--version-dir", version_dir, "the model version")->required();
  app.add_option("--test", test, "test TSV")->required();
  app.add_option("--threads", threads)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  auto bundle = wb::ModelBundle::Load("bench", "1", version_dir);
  wb::CorpusReport report;
  auto pairs = wb::ReadTsv(test, wb::CorpusLimits{}, &report);
  std::printf("test pairs %zu, threads %d\n", pairs.size(), threads);
  for (const auto& [name, pooling] : {std::pair<const char*, wb::ModelBundle::SentencePooling>{"final", wb::ModelBundle::SentencePooling::kFinalState},
                                      {"mean", wb::ModelBundle::SentencePooling::kMeanStates}}) {
    const auto start = std::chrono::steady_clock::now();
    auto index = wb::SentenceIndex::Build(
        pairs, [&](const std::vector<std::string>& s) { return bundle->SentenceEmbeddings(s, pooling); }, name);
    const double build = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<std::string> queries;
    std::vector<int64_t> expected;
    for (int64_t i = 0; i < index->size(); ++i) {
      std::istringstream in(index->pairs()[i].source);
      int words = 0;
      for (std::string w; in >> w;) ++words;
      if (words < 3) continue;
      queries.push_back(DropMiddleWord(index->pairs()[i].source));
      expected.push_back(i);
    }
    const auto query_start = std::chrono::steady_clock::now();
    auto vectors = bundle->SentenceEmbeddings(queries, pooling);
    std::vector<std::vector<float>> rows;
    for (int64_t i = 0; i < vectors.size(0); ++i) {
      auto row = vectors[i].contiguous();
      rows.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    }
    auto hits = index->Search(rows, 1);
    const double query = std::chrono::duration<double>(std::chrono::steady_clock::now() - query_start).count();
    int64_t first = 0;
    for (size_t q = 0; q < hits.size(); ++q) first += !hits[q].empty() && hits[q][0].pair == expected[q];
    std::printf("%-5s  indexed %lld in %.1f s  queries %zu  rank-1 %.1f%%  (%.2f ms per query, embedding included)\n", name,
                static_cast<long long>(index->size()), build, queries.size(), 100.0 * first / queries.size(),
                1000.0 * query / queries.size());
  }
  return 0;
}
