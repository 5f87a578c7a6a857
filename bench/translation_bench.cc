// translation_bench: the Bible es-en benchmark of issue "real translation".
// Trains the attention model for a wall-clock budget and reports test BLEU (greedy, beam 5), training
// target tokens/s and decode sentences/s (batch 1 and 64); trains the seed architecture at batch 64
// and reports its tokens/s, achieved GFLOP/s against the machine's measured matmul rate, and decode
// speed; then runs the Python seed program (bench/python_seed.py) on the same data for the same time
// and prints the ratios.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <regex>
#include <sstream>

#include "bench/bench_report.h"
#include "model/eval/bleu.h"
#include "bench/bench_engine.h"
#include "model/serve/translation_engine.h"
#include "model/store/model_bundle.h"
#include "model/train/corpus.h"
#include "model/train/trainer.h"

namespace wb = wordbridge;
using bench::Clock;

namespace {

using bench::Fixed;
using bench::Say;
using bench::Seconds;

// Best of a few runs of an n x n float matmul.
double MeasureMatmulGflops(int64_t n) {
  auto a = torch::randn({n, n});
  auto b = torch::randn({n, n});
  auto c = torch::matmul(a, b);
  double best = 0;
  for (int run = 0; run < 5; ++run) {
    auto start = Clock::now();
    for (int i = 0; i < 5; ++i) c = torch::matmul(a, b);
    best = std::max(best, 5 * 2.0 * n * n * n / Seconds(start) / 1e9);
  }
  return best;
}

struct DecodeResult {
  double bleu = 0;
  double sentences_per_second = 0;
};

DecodeResult Decode(const wb::ModelBundle& bundle, const std::vector<wb::SentencePair>& test, int beam,
                    int batch, size_t limit = 0, int workers = 1) {
  std::vector<std::string> sources, references, hypotheses;
  for (size_t i = 0; i < test.size() && (limit == 0 || i < limit); ++i) {
    sources.push_back(test[i].source);
    references.push_back(test[i].target);
  }
  wb::TranslationOptions options;
  options.beam_size = beam;
  options.max_batch_size = batch;
  options.replace_unknown = bundle.network().has_attention();
  auto start = Clock::now();
  std::vector<wb::Translation> out;
  if (workers <= 1) {
    out = bundle.Translate(sources, options, nullptr);
  } else {
    // The serving engine: `workers` workers with one thread each, batches of `batch` sentences.
    wb::TranslationEngine engine(wb::bench::WholeTestSetEngine(workers, 1, batch, sources.size()));
    out = engine.Translate(std::shared_ptr<const wb::ModelBundle>(&bundle, [](const wb::ModelBundle*) {}), sources,
                           options, nullptr);
  }
  double seconds = Seconds(start);
  for (const auto& t : out) hypotheses.push_back(t.hypotheses.empty() ? "" : t.hypotheses[0].text);
  return {wb::CorpusBleu(hypotheses, references).score, sources.size() / seconds};
}

std::shared_ptr<const wb::ModelBundle> Train(const std::string& label, const wb::ModelConfig& config,
                                             const std::vector<wb::SentencePair>& train,
                                             const std::vector<wb::SentencePair>& dev,
                                             const wb::TrainingOptions& options) {
  Say("-- training " + label);
  wb::CorpusReport report_counts;
  report_counts.lines = report_counts.kept = static_cast<int64_t>(train.size());
  auto result = wb::TrainModel(
      config, train, dev, options, report_counts,
      [&](const wb::EpochProgress& p) {
        Say("   epoch " + std::to_string(p.epoch) + "  loss " + Fixed(p.loss, 3) + "  " +
            Fixed(p.tokens_per_second, 0) + " tok/s" + (p.dev_bleu >= 0 ? "  dev BLEU " + Fixed(p.dev_bleu, 2) : "") +
            "  elapsed " + Fixed(p.elapsed_seconds, 0) + " s");
      },
      nullptr);
  Say("   stop: " + result.stop_reason + "; " + result.report.Summary() + "; vocab " +
      std::to_string(result.parts.config.source_vocab_size) + "/" +
      std::to_string(result.parts.config.target_vocab_size));
  return std::make_shared<const wb::ModelBundle>(label, "1", std::move(result.parts));
}

// Target and source token counts of the training data (whitespace words), for the FLOP estimate.
std::pair<double, double> MeanLengths(const std::vector<wb::SentencePair>& pairs) {
  double s = 0, t = 0;
  for (const auto& p : pairs) {
    s += wb::SplitWhitespace(p.source).size();
    t += wb::SplitWhitespace(p.target).size() + 1;
  }
  return {s / pairs.size(), t / pairs.size()};
}

double JsonNumber(const std::string& json, const std::string& key) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + key + "\"\\s*:\\s*([-0-9.eE+]+)"))) return std::stod(m[1]);
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string corpus_path = "data/bible/bible.es-en.tsv", results_path, python = "bench/python_seed.py";
  std::string save_dir, load_dir, tokenizer;
  double minutes = 30, seed_minutes = 3;
  int threads = 2;
  bool skip_python = false, skip_attention = false, skip_seed = false;
  CLI::App app{"wordbridge Bible benchmark"};
  app.add_option("--corpus", corpus_path, "es-en TSV from scripts/corpus/bible")->capture_default_str();
  app.add_option("--minutes", minutes, "attention model training budget")->capture_default_str();
  app.add_option("--seed-minutes", seed_minutes, "seed architecture (and Python peer) training budget")
      ->capture_default_str();
  app.add_option("--threads", threads, "compute threads")->capture_default_str();
  app.add_option("--python", python, "the Python seed program")->capture_default_str();
  app.add_option("--results", results_path, "also write the report here");
  app.add_flag("--skip-python", skip_python, "do not run the Python peer");
  app.add_flag("--skip-attention", skip_attention, "only the seed architecture");
  app.add_flag("--skip-seed", skip_seed, "only the attention architecture");
  app.add_option("--save-attention", save_dir, "save the trained attention model in this (existing) directory");
  app.add_option("--load-attention", load_dir, "skip attention training: measure the model saved here");
  app.add_option("--tokenizer", tokenizer, "attention model tokenizer (default: the architecture's)");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);

  wb::CorpusReport counts;
  auto pairs = wb::ReadTsv(corpus_path, wb::CorpusLimits{}, &counts);
  auto split = wb::SplitCorpus(pairs, 0.02, 0.02, 1);
  Say("# wordbridge Bible es-en benchmark");
  Say("corpus " + corpus_path + ": " + counts.Summary());
  Say("split (seed 1): train " + std::to_string(split.train.size()) + ", dev " + std::to_string(split.dev.size()) +
      ", test " + std::to_string(split.test.size()));
  Say("threads " + std::to_string(threads) + " (torch reports " + std::to_string(torch::get_num_threads()) + ")");
  const double matmul = MeasureMatmulGflops(1024);
  Say("measured 1024^2 float matmul: " + Fixed(matmul, 1) + " GFLOP/s");
  // Write the split so the Python peer trains and decodes the same sentences.
  const std::string train_tsv = "/tmp/wb_bench_train.tsv", test_tsv = "/tmp/wb_bench_test.tsv";
  {
    std::ofstream train_out(train_tsv), test_out(test_tsv);
    for (const auto& p : split.train) train_out << p.source << "\t" << p.target << "\n";
    for (const auto& p : split.test) test_out << p.source << "\t" << p.target << "\n";
  }

  // ---- seed architecture, batches of 64 sentences grouped by length ----
  if (!skip_seed) {
  wb::ModelConfig seed_config = wb::ModelConfig::ForArchitecture("seed");
  wb::TrainingOptions seed_options;
  seed_options.epochs = 1000;
  seed_options.batch_size = 64;
  seed_options.bucket_by_length = true;
  seed_options.max_minutes = seed_minutes;
  auto seed = Train("seed architecture, batch 64 by length, " + Fixed(seed_minutes, 1) + " min", seed_config,
                    split.train, {}, seed_options);
  const double seed_tps = seed->metrics().at("tokens_per_second");
  auto [src_len, tgt_len] = MeanLengths(split.train);
  const double E = 64, H = 128, V = seed->config().target_vocab_size;
  // Forward FLOPs per target token: encoder and decoder LSTM steps plus the output layer; x3 for
  // the backward pass.
  const double lstm_step = 2.0 * 4 * H * (E + H);
  const double flops_per_token = 3.0 * (lstm_step * (src_len / tgt_len) + lstm_step + 2.0 * H * V);
  const double seed_gflops = seed_tps * flops_per_token / 1e9;
  auto seed_greedy64 = Decode(*seed, split.test, 1, 64);
  auto seed_greedy64_w = Decode(*seed, split.test, 1, 64, 0, threads);
  auto seed_greedy1 = Decode(*seed, split.test, 1, 1, 300);
  Say("seed: train " + Fixed(seed_tps, 0) + " target tok/s, ~" + Fixed(seed_gflops, 1) + " GFLOP/s (" +
      Fixed(100.0 * seed_gflops / matmul, 0) + "% of one matmul rate)");
  Say("seed: greedy batch 64 " + Fixed(seed_greedy64.sentences_per_second, 1) + " sent/s, batch 1 " +
      Fixed(seed_greedy1.sentences_per_second, 1) + " sent/s, test BLEU " + Fixed(seed_greedy64.bleu, 2) +
      "; greedy batch 64 with " + std::to_string(threads) + " workers x 1 thread " +
      Fixed(seed_greedy64_w.sentences_per_second, 1) + " sent/s");

  if (!skip_python) {
    Say("-- Python seed program (python3-torch), same data, batch 64, " + Fixed(seed_minutes, 1) + " min");
    const std::string command = "python3 " + python + " --train " + train_tsv + " --test " + test_tsv +
                                " --minutes " + Fixed(seed_minutes, 2) + " --batch-size 64 --threads " +
                                std::to_string(threads) + " --decode-sentences 300 2>/tmp/wb_bench_python.log";
    std::string json;
    if (FILE* pipe = popen(command.c_str(), "r")) {
      char buffer[4096];
      while (fgets(buffer, sizeof(buffer), pipe)) json = buffer;  // the last line is the JSON
      pclose(pipe);
    }
    const double py_tps = JsonNumber(json, "train_target_tokens_per_second");
    const double py_decode = JsonNumber(json, "decode_sentences_per_second_batch1");
    Say("python: " + json.substr(0, json.find_last_not_of("\n") + 1));
    if (py_tps > 0) {
      Say("ratio seed training tok/s, wordbridge / python: " + Fixed(seed_tps / py_tps, 2) + "x (target >= 3x)");
      Say("ratio greedy batch 64 sent/s, wordbridge / python one at a time: " +
          Fixed(seed_greedy64.sentences_per_second / py_decode, 2) + "x (target >= 5x); with workers " +
          Fixed(seed_greedy64_w.sentences_per_second / py_decode, 2) + "x");
    } else {
      Say("python peer failed; see /tmp/wb_bench_python.log");
    }
  }

  }

  if (!skip_attention) {
    wb::ModelConfig config = wb::ModelConfig::ForArchitecture("attention");
    if (!tokenizer.empty()) {
      config.tokenizer = tokenizer;
      // Word vocabularies are capped at the same size as the subword ones.
      if (tokenizer != "sentencepiece") config.max_vocab_size = 30000;
    }
    wb::TrainingOptions options;
    options.epochs = 1000;
    options.batch_tokens = 2500;
    options.learning_rate = 2e-3;
    options.label_smoothing = 0.1;
    options.clip_norm = 5.0;
    options.max_minutes = minutes;
    options.max_dev_sentences = 400;
    options.threads = threads;
    auto model = !load_dir.empty()
                     ? wb::ModelBundle::Load("attention", "1", load_dir)
                     : Train("attention (" + config.tokenizer + " " + std::to_string(config.max_vocab_size) + ", " +
                                 std::to_string(config.hidden_dim) + " units, tied), " + Fixed(minutes, 1) + " min",
                             config, split.train, split.dev, options);
    if (!save_dir.empty()) model->Save(save_dir);
    auto greedy64 = Decode(*model, split.test, 1, 64);
    auto greedy1 = Decode(*model, split.test, 1, 1, 300);
    auto beam5 = Decode(*model, split.test, 5, 64);
    auto beam5_single = Decode(*model, split.test, 5, 1, 100);
    Say("attention: train " + Fixed(model->metrics().at("tokens_per_second"), 0) + " target tok/s over " +
        Fixed(model->metrics().at("epochs"), 0) + " epoch(s), best dev BLEU " +
        Fixed(model->metrics().count("dev_bleu") ? model->metrics().at("dev_bleu") : -1, 2));
    Say("attention: test BLEU greedy " + Fixed(greedy64.bleu, 2) + ", beam 5 " + Fixed(beam5.bleu, 2) +
        " (target >= 40 with beam 5)");
    Say("attention: greedy batch 64 " + Fixed(greedy64.sentences_per_second, 1) + " sent/s (target >= 450), batch 1 " +
        Fixed(greedy1.sentences_per_second, 1) + " sent/s");
    Say("attention: beam 5 batched (64) " + Fixed(beam5.sentences_per_second, 1) +
        " sent/s (target >= 40), one at a time " + Fixed(beam5_single.sentences_per_second, 1) + " sent/s");
    // The same batches, two decoded at once with one thread each (inter-op workers).
    auto greedy64_w = Decode(*model, split.test, 1, 64, 0, threads);
    auto beam5_w = Decode(*model, split.test, 5, 64, 0, threads);
    Say("attention, " + std::to_string(threads) + " workers x 1 thread: greedy batch 64 " +
        Fixed(greedy64_w.sentences_per_second, 1) + " sent/s (BLEU " + Fixed(greedy64_w.bleu, 2) + "), beam 5 batch 64 " +
        Fixed(beam5_w.sentences_per_second, 1) + " sent/s (BLEU " + Fixed(beam5_w.bleu, 2) + ")");
  }
  if (!results_path.empty()) std::ofstream(results_path) << bench::Report().str();
  return 0;
}
