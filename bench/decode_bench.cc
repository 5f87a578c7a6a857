// decode_bench: decoding throughput of a stored model by batch size and worker layout, on one
// thread per worker, through the serving engine - the figures a server's batching can reach.
// usage: decode_bench --model-dir DIR --model NAME --test TSV [--batches 1,8,32,64] [--workers 1]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "model/eval/bleu.h"
#include "model/serve/translation_engine.h"
#include "model/store/model_store.h"
#include "model/train/corpus.h"

namespace wb = wordbridge;

int main(int argc, char** argv) {
  std::string model_dir, model = "es-en", test;
  std::vector<int> batches = {1, 8, 32, 64};
  int workers = 1, beam = 1;
  size_t limit = 640;
  CLI::App app{"decoding throughput by batch size"};
  app.add_option("--model-dir", model_dir)->required();
  app.add_option("--model", model);
  app.add_option("--test", test)->required();
  app.add_option("--batches", batches)->delimiter(',');
  app.add_option("--workers", workers);
  app.add_option("--beam", beam);
  app.add_option("--limit", limit, "test sentences to decode");
  CLI11_PARSE(app, argc, argv);

  wb::ModelStore store(model_dir);
  store.LoadAll();
  auto bundle = store.Get(model);
  wb::CorpusReport report;
  auto pairs = wb::ReadTsv(test, wb::CorpusLimits{}, &report);
  std::vector<std::string> sources, references;
  for (size_t i = 0; i < pairs.size() && i < limit; ++i) {
    sources.push_back(pairs[i].source);
    references.push_back(pairs[i].target);
  }
  std::printf("%-8s %-8s %12s %14s %8s\n", "batch", "workers", "sentences/s", "out tokens/s", "BLEU");
  for (int batch : batches) {
    wb::EngineOptions options;
    options.workers = workers;
    options.threads_per_worker = 1;
    options.max_batch_sentences = batch;
    options.max_batch_tokens = 1 << 30;
    options.queue_capacity = static_cast<int>(sources.size());
    wb::TranslationEngine engine(options);
    wb::TranslationOptions translation;
    translation.beam_size = beam;
    const auto start = std::chrono::steady_clock::now();
    auto out = engine.Translate(bundle, sources, translation, nullptr);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<std::string> hypotheses;
    size_t tokens = 0;
    for (const auto& t : out) {
      hypotheses.push_back(t.hypotheses.empty() ? "" : t.hypotheses[0].text);
      if (!t.hypotheses.empty()) tokens += t.hypotheses[0].tokens.size() + 1;
    }
    std::printf("%-8d %-8d %12.1f %14.0f %8.2f\n", batch, workers, sources.size() / seconds, tokens / seconds,
                wb::CorpusBleu(hypotheses, references).score);
  }
  return 0;
}
