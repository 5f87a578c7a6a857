// decode_bench: decoding throughput of a stored model by compute type, batch size and worker layout,
// on one thread per worker, through the serving engine - the figures a server's batching can reach.
// Also reports the decoder's achieved GFLOP/s (the matrix products and attention of every decoder
// step, Seq2SeqNet::DecodeStepFlops) against the packed matrix-product rate of the same compute type
// measured in the same run (output layer shape, 64 rows, one thread).
// With --shortlist off,on each row runs without and with the version's vocabulary shortlist (the
// version needs one: learn_shortlist writes it into a copy of an older version) and reports the mean
// union size per batch; the FLOP count then uses that size for the output layer.
// usage: decode_bench --model-dir DIR --model NAME --test TSV [--batches 1,8,32,64] [--workers 1,2]
//                     [--beam 1] [--compute-types float32,bfloat16,int8] [--limit 640] [--shortlist off,on]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>

#include "model/eval/bleu.h"
#include "bench/bench_engine.h"
#include "model/serve/compute_slots.h"
#include "model/serve/translation_engine.h"
#include "model/store/model_store.h"
#include "model/train/corpus.h"

namespace wb = wordbridge;

namespace {

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// GFLOP/s of `run` (which performs `flops` per call): best of 5 rounds of at least 0.2 s.
template <typename Run>
double Rate(double flops, Run run) {
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    int calls = 0;
    const auto start = std::chrono::steady_clock::now();
    do {
      run();
      ++calls;
    } while (Seconds(start) < 0.2);
    best = std::max(best, flops * calls / Seconds(start) / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_dir, model = "es-en", test;
  std::vector<int> batches = {1, 8, 32, 64};
  std::vector<int> worker_counts = {1};
  std::vector<std::string> type_names = {"float32", "bfloat16", "int8"};
  std::vector<std::string> shortlist_modes = {"off"};
  int beam = 1;
  size_t limit = 640;
  CLI::App app{"decoding throughput by compute type, batch size and workers"};
  app.add_option("--model-dir", model_dir)->required();
  app.add_option("--model", model);
  app.add_option("--test", test)->required();
  app.add_option("--batches", batches)->delimiter(',');
  app.add_option("--workers", worker_counts, "worker counts to run (one thread each)")->delimiter(',');
  app.add_option("--beam", beam);
  app.add_option("--compute-types", type_names, "float32, bfloat16, int8 or default")->delimiter(',');
  app.add_option("--limit", limit, "test sentences to decode");
  app.add_option("--shortlist", shortlist_modes, "off, on or both (off,on)")
      ->delimiter(',')
      ->check(CLI::IsMember({"off", "on"}));
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
  std::vector<wb::ComputeType> types;
  for (const auto& name : type_names) types.push_back(wb::ParseComputeType(name));
  // Source lengths in tokens, for the FLOP count.
  std::vector<int64_t> source_tokens;
  for (size_t i = 0; i < sources.size(); ++i) {
    source_tokens.push_back(static_cast<int64_t>(bundle->PrepareSource(sources[i], i, {}).ids.size()));
  }

  // The matrix-product rate on this machine, one thread, output-layer shape [64, E] x [E, V].
  wb::SetThreadComputeThreads(1);
  const auto& config = bundle->config();
  const int64_t vocab = config.target_vocab_size, width = config.embed_dim;
  auto weight = torch::randn({vocab, width}) * 0.05;
  auto x = torch::randn({64, width});
  const double gemm_flops = 2.0 * 64 * width * vocab;
  std::map<wb::ComputeType, double> peak;
  {
    c10::InferenceMode inference;
    std::printf("matrix-product rate, [64 x %ld] x [%ld x %ld], 1 thread:\n", static_cast<long>(width),
                static_cast<long>(width), static_cast<long>(vocab));
    std::printf("  %-24s %8.1f GFLOP/s\n", "float32 at::linear",
                Rate(gemm_flops, [&] { torch::linear(x, weight); }));
    for (auto type : types) {
      wb::PackedLinear packed(weight, torch::Tensor(), type);
      peak[type] = Rate(gemm_flops, [&] { packed.Forward(x); });
      std::printf("  %-24s %8.1f GFLOP/s\n", (std::string(wb::ComputeTypeName(type)) + " packed").c_str(), peak[type]);
    }
  }

  const int64_t output_width = config.tie_embeddings ? config.embed_dim : config.hidden_dim;
  std::printf("\n%-9s %-9s %-5s %-6s %-8s %12s %13s %7s %9s %8s %7s\n", "compute", "shortlist", "beam", "batch",
              "workers", "sentences/s", "out tokens/s", "BLEU", "GFLOP/s", "of peak", "union");
  for (auto type : types) {
    bundle->Packed(type);  // packed before the clock starts (a server packs on first use, once)
    for (const auto& mode : shortlist_modes) {
      const bool use_shortlist = mode == "on";
      if (use_shortlist && bundle->shortlist() == nullptr) {
        std::fprintf(stderr, "model %s has no vocabulary shortlist (see bench/learn_shortlist)\n", model.c_str());
        return 2;
      }
      for (int workers : worker_counts) {
        for (int batch : batches) {
          wb::TranslationEngine engine(wb::bench::WholeTestSetEngine(workers, 1, batch, sources.size(), type));
          wb::TranslationOptions translation;
          translation.beam_size = beam;
          translation.use_shortlist = use_shortlist;
          if (use_shortlist) bundle->shortlist()->ResetStats();
          const auto start = std::chrono::steady_clock::now();
          auto out = engine.Translate(bundle, sources, translation, nullptr);
          const double seconds = Seconds(start);
          std::vector<std::string> hypotheses;
          size_t tokens = 0;
          double flops = 0;
          double mean_union = static_cast<double>(vocab);
          if (use_shortlist) {
            const auto stats = bundle->shortlist()->stats();
            mean_union = stats.unions > 0 ? static_cast<double>(stats.ids) / stats.unions : 0.0;
          }
          // The output layer multiplies by the union's rows only.
          const double saved_per_step = 2.0 * output_width * (static_cast<double>(vocab) - mean_union);
          for (size_t i = 0; i < out.size(); ++i) {
            const auto& t = out[i];
            hypotheses.push_back(t.hypotheses.empty() ? "" : t.hypotheses[0].text);
            if (t.hypotheses.empty()) continue;
            const size_t steps = t.hypotheses[0].tokens.size() + 1;  // + <EOS>
            tokens += steps;
            // Beam: every step decodes `beam` rows for the sentence; counted up to its best hypothesis'
            // end (an estimate: the search may run a few steps longer).
            flops += static_cast<double>(steps) * beam *
                     (static_cast<double>(bundle->network().DecodeStepFlops(source_tokens[i])) - saved_per_step);
          }
          const double gflops = flops / seconds / 1e9;
          std::printf("%-9s %-9s %-5d %-6d %-8d %12.1f %13.0f %7.2f %9.1f %7.1f%% %7.0f\n", wb::ComputeTypeName(type),
                      mode.c_str(), beam, batch, workers, sources.size() / seconds, tokens / seconds,
                      wb::CorpusBleu(hypotheses, references).score, gflops, 100.0 * gflops / (workers * peak[type]),
                      mean_union);
          std::fflush(stdout);
        }
      }
    }
  }
  return 0;
}
