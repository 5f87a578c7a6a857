// side_by_side: wordbridge against the PyTorch reference program (attn_baseline.py) on the same split,
// the same threads and an identical model, one after the other so each has the machine to itself.
// Reports for both: the dev BLEU curve against minutes, test BLEU (greedy, beam 5), training target
// tokens/s, and decoding sentences/s (greedy batch 64, greedy batch 1, beam 5), with the ratios.
// wordbridge trains with the attention architecture's defaults; flags override single settings for
// experiments (the report prints every setting that differs from the defaults).
//
// usage: side_by_side --split DIR [--minutes 30] [--threads 2] [--peer PATH] [--results FILE]
//        DIR holds train.tsv, dev.tsv and test.tsv (source<TAB>target), as the reference expects.
#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
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

// One program's figures; negative = not measured.
struct Figures {
  std::vector<std::pair<double, double>> dev_curve;  // (minutes, dev BLEU)
  double train_tokens_per_second = -1;
  double test_bleu_greedy = -1, test_bleu_beam = -1;
  double greedy64 = -1, greedy1 = -1, beam_single = -1, beam_batched = -1;
};

// ---- the reference ----

std::map<std::string, std::string> ParseKeyValues(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  std::string field;
  while (in >> field) {
    auto eq = field.find('=');
    if (eq != std::string::npos) out[field.substr(0, eq)] = field.substr(eq + 1);
  }
  return out;
}

double Number(const std::map<std::string, std::string>& values, const std::string& key) {
  auto it = values.find(key);
  return it == values.end() ? -1 : std::stod(it->second);
}

// Reads the reference's log: its EVAL lines give the dev curve, its RESULT line the rest.
Figures ParseReferenceLog(const std::string& path) {
  Figures f;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("EVAL ", 0) == 0) {
      auto values = ParseKeyValues(line);
      std::string elapsed = values["elapsed"];
      if (!elapsed.empty() && elapsed.back() == 'm') elapsed.pop_back();
      f.dev_curve.emplace_back(std::stod(elapsed), Number(values, "dev_bleu"));
    } else if (line.rfind("RESULT ", 0) == 0) {
      auto values = ParseKeyValues(line);
      f.train_tokens_per_second = Number(values, "train_tgt_tok_per_s");
      f.test_bleu_greedy = Number(values, "test_bleu_greedy");
      f.test_bleu_beam = Number(values, "test_bleu_beam5");
      f.greedy64 = Number(values, "decode_batch64_sent_per_s");
      f.greedy1 = Number(values, "decode_batch1_sent_per_s");
      f.beam_single = Number(values, "decode_beam5_sent_per_s");
    }
  }
  return f;
}

// ---- wordbridge ----

struct DecodeRun {
  double bleu = 0;
  double sentences_per_second = 0;
};

// Decodes the test set the way a server does: through the engine, `workers` workers with
// `threads_per_worker` threads, batches of at most `batch` sentences.
DecodeRun Decode(const std::shared_ptr<const wb::ModelBundle>& bundle, const std::vector<wb::SentencePair>& test,
                 int beam, int batch, int workers, int threads_per_worker, bool one_at_a_time = false,
                 wb::ComputeType compute_type = wb::kDefaultComputeType) {
  std::vector<std::string> sources, references, hypotheses;
  for (const auto& p : test) {
    sources.push_back(p.source);
    references.push_back(p.target);
  }
  wb::TranslationEngine engine(
      wb::bench::WholeTestSetEngine(workers, threads_per_worker, batch, sources.size(), compute_type));
  wb::TranslationOptions options;
  options.beam_size = beam;
  options.replace_unknown = true;
  options.compute_type = compute_type;
  auto start = Clock::now();
  std::vector<wb::Translation> out;
  if (one_at_a_time) {
    // A client that sends one sentence and waits for it: the latency-bound case.
    for (const auto& s : sources) out.push_back(engine.Translate(bundle, {s}, options, nullptr)[0]);
  } else {
    out = engine.Translate(bundle, sources, options, nullptr);
  }
  const double seconds = Seconds(start);
  for (const auto& t : out) hypotheses.push_back(t.hypotheses.empty() ? "" : t.hypotheses[0].text);
  return {wb::CorpusBleu(hypotheses, references).score, sources.size() / seconds};
}

std::string Cell(double value, int digits) { return value < 0 ? "-" : Fixed(value, digits); }
std::string Ratio(double ours, double theirs) {
  return ours < 0 || theirs <= 0 ? "-" : Fixed(ours / theirs, 2) + "x";
}

void Row(const std::string& name, double ours, double theirs, int digits, bool ratio = true) {
  std::ostringstream line;
  line << std::left << std::setw(34) << name << std::right << std::setw(12) << Cell(ours, digits) << std::setw(12)
       << Cell(theirs, digits) << std::setw(10) << (ratio ? Ratio(ours, theirs) : Fixed(ours - theirs, 2));
  Say(line.str());
}

std::string Curve(const std::vector<std::pair<double, double>>& curve) {
  std::string out;
  for (const auto& [minutes, bleu] : curve) out += Fixed(minutes, 1) + "m:" + Fixed(bleu, 2) + " ";
  return out;
}

// Dev BLEU reached by `minutes` (the best of the evaluations so far), -1 before the first.
double BleuBy(const std::vector<std::pair<double, double>>& curve, double minutes) {
  double best = -1;
  for (const auto& [m, bleu] : curve) {
    if (m <= minutes) best = std::max(best, bleu);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  std::string split_dir = "data/bible/es-en", peer = "../shared/peers/attn_baseline.py", python = "/usr/bin/python3";
  std::string results_path, peer_log, workdir = "/tmp/wb_side_by_side", save_dir, load_dir;
  double minutes = 30;
  int threads = 2;
  size_t train_n = 0;
  bool skip_peer = false, skip_wordbridge = false, skip_decode = false;
  wb::ModelConfig config = wb::ModelConfig::ForArchitecture("attention");
  wb::TrainingOptions options = wb::TrainingOptions::ForArchitecture("attention");
  const wb::ModelConfig default_config = config;
  const wb::TrainingOptions default_options = options;

  CLI::App app{"wordbridge against the PyTorch reference, on an identical model"};
  app.add_option("--split", split_dir, "directory with train.tsv, dev.tsv, test.tsv")->capture_default_str();
  app.add_option("--minutes", minutes, "training budget of each program")->capture_default_str();
  app.add_option("--threads", threads, "compute threads of each program")->capture_default_str();
  app.add_option("--peer", peer, "the reference program")->capture_default_str();
  app.add_option("--python", python, "the Python that has torch and sentencepiece")->capture_default_str();
  app.add_option("--peer-log", peer_log, "read the reference's figures from this log instead of running it");
  app.add_option("--workdir", workdir, "the reference's work directory")->capture_default_str();
  app.add_option("--train-n", train_n, "train on the first N pairs only (experiments)");
  app.add_option("--results", results_path, "also write the report here");
  app.add_option("--save", save_dir, "save wordbridge's trained model in this (existing) directory");
  app.add_option("--load", load_dir, "skip wordbridge's training: decode the model saved in this directory");
  app.add_flag("--skip-peer", skip_peer, "only wordbridge");
  app.add_flag("--skip-wordbridge", skip_wordbridge, "only the reference");
  app.add_flag("--skip-decode", skip_decode, "only training and dev BLEU (experiments)");
  // Model and training overrides, for experiments; both programs get the same model sizes.
  app.add_option("--embed-dim", config.embed_dim);
  app.add_option("--hidden-dim", config.hidden_dim, "decoder units; the encoder has half per direction");
  app.add_option("--dropout", config.dropout);
  app.add_option("--vocab", config.max_vocab_size);
  app.add_option("--bridge", config.bridge);
  app.add_option("--lr", options.learning_rate);
  app.add_option("--clip", options.clip_norm);
  app.add_option("--label-smoothing", options.label_smoothing);
  app.add_option("--batch-tokens", options.batch_tokens);
  app.add_option("--init-range", options.init_range);
  app.add_option("--epochs", options.epochs);
  app.add_option("--mixed-precision", options.mixed_precision);
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);
  options.max_minutes = minutes;
  options.threads = threads;

  wb::CorpusReport counts;
  auto train = wb::ReadTsv(split_dir + "/train.tsv", wb::CorpusLimits{}, &counts);
  if (train_n > 0 && train.size() > train_n) train.resize(train_n);
  auto dev = wb::ReadTsv(split_dir + "/dev.tsv", wb::CorpusLimits{}, &counts);
  auto test = wb::ReadTsv(split_dir + "/test.tsv", wb::CorpusLimits{}, &counts);
  Say("# wordbridge side by side with the PyTorch reference");
  Say("split " + split_dir + ": train " + std::to_string(train.size()) + ", dev " + std::to_string(dev.size()) +
      ", test " + std::to_string(test.size()));
  Say("model (both): embedding " + std::to_string(config.embed_dim) + ", encoder " +
      std::to_string(config.hidden_dim / 2) + " per direction, decoder " + std::to_string(config.hidden_dim) +
      ", 1 layer, tied, " + std::to_string(config.max_vocab_size) + " pieces per side, dropout " +
      Fixed(config.dropout, 2));
  Say("budget " + Fixed(minutes, 1) + " min each, " + std::to_string(threads) + " threads, one program at a time");
  {
    std::string changed;
    for (const auto& [key, value] : options.Settings()) {
      if (key != "max_minutes" && default_options.Settings().at(key) != value) {
        changed += " " + key + "=" + Fixed(value, 4);
      }
    }
    Say("wordbridge settings: the attention defaults" + (changed.empty() ? "" : ", except" + changed));
  }

  Figures theirs, ours;
  if (!peer_log.empty()) {
    theirs = ParseReferenceLog(peer_log);
    Say("-- reference: figures read from " + peer_log);
  } else if (!skip_peer) {
    std::filesystem::create_directories(workdir);
    const std::string log = workdir + "/reference.log";
    const std::string command = python + " " + peer + " --split " + split_dir + " --workdir " + workdir +
                                " --minutes " + Fixed(minutes, 2) + " --threads " + std::to_string(threads) +
                                " --emb " + std::to_string(config.embed_dim) + " --enc-hid " +
                                std::to_string(config.hidden_dim / 2) + " --dec-hid " +
                                std::to_string(config.hidden_dim) + " --vocab " +
                                std::to_string(config.max_vocab_size) + " --dropout " + Fixed(config.dropout, 3) +
                                (train_n > 0 ? " --train-n " + std::to_string(train_n) : "") + " > " + log +
                                " 2>&1";
    Say("-- reference: " + command);
    if (std::system(command.c_str()) != 0) Say("reference failed; see " + log);
    theirs = ParseReferenceLog(log);
  }

  std::shared_ptr<const wb::ModelBundle> bundle;
  if (!skip_wordbridge && !load_dir.empty()) {
    Say("-- wordbridge: model loaded from " + load_dir + " (not trained in this run)");
    bundle = wb::ModelBundle::Load("side-by-side", "1", load_dir);
  } else if (!skip_wordbridge) {
    Say("-- wordbridge: training");
    wb::CorpusReport report_counts;
    report_counts.lines = report_counts.kept = static_cast<int64_t>(train.size());
    double train_seconds = 0, train_tokens = 0;
    auto result = wb::TrainModel(
        config, train, dev, options, report_counts,
        [&](const wb::EpochProgress& p) {
          // Training time excludes the dev evaluations, as the reference counts it.
          ours.dev_curve.emplace_back(p.elapsed_seconds / 60.0, p.dev_bleu);
          Say("   epoch " + std::to_string(p.epoch) + "  loss " + Fixed(p.loss, 3) + "  " +
              Fixed(p.tokens_per_second, 0) + " tok/s  dev BLEU " + Fixed(p.dev_bleu, 2) + "  at " +
              Fixed(p.elapsed_seconds / 60.0, 1) + " min");
          train_seconds += p.train_seconds;
          train_tokens += p.train_tokens;
        },
        nullptr);
    Say("   stop: " + result.stop_reason + "; vocab " + std::to_string(result.parts.config.source_vocab_size) + "/" +
        std::to_string(result.parts.config.target_vocab_size));
    ours.train_tokens_per_second = train_tokens / std::max(1e-9, train_seconds);
    bundle = std::make_shared<const wb::ModelBundle>("side-by-side", "1", std::move(result.parts));
    if (!save_dir.empty()) bundle->Save(save_dir);
  }
  if (bundle) {
    if (!skip_decode) {
      Say("-- wordbridge: decoding the test set");
      auto greedy64 = Decode(bundle, test, 1, 64, threads, 1);
      // One sentence at a time through the server's default layout (one single-threaded worker per
      // core): a team of OpenMP threads on one sentence's small products mostly waits on itself.
      auto greedy1 = Decode(bundle, test, 1, 1, threads, 1, /*one_at_a_time=*/true);
      auto beam_single = Decode(bundle, test, 5, 1, threads, 1, /*one_at_a_time=*/true);
      auto beam_batched = Decode(bundle, test, 5, 64, threads, 1);
      ours.test_bleu_greedy = greedy64.bleu;
      ours.test_bleu_beam = beam_batched.bleu;
      ours.greedy64 = greedy64.sentences_per_second;
      ours.greedy1 = greedy1.sentences_per_second;
      ours.beam_single = beam_single.sentences_per_second;
      ours.beam_batched = beam_batched.sentences_per_second;
      Say("   compute type " + std::string(wb::ComputeTypeName(wb::kDefaultComputeType)) +
          " (the default); greedy batch 1 BLEU " + Fixed(greedy1.bleu, 2) + ", beam 5 one at a time BLEU " +
          Fixed(beam_single.bleu, 2));
      auto exact64 = Decode(bundle, test, 1, 64, threads, 1, false, wb::ComputeType::kFloat32);
      auto exact_beam = Decode(bundle, test, 5, 64, threads, 1, false, wb::ComputeType::kFloat32);
      Say("   float32: greedy batch 64 " + Fixed(exact64.sentences_per_second, 1) + " sent/s, BLEU " +
          Fixed(exact64.bleu, 2) + "; beam 5 batched " + Fixed(exact_beam.sentences_per_second, 1) +
          " sent/s, BLEU " + Fixed(exact_beam.bleu, 2));
      for (auto type : {wb::ComputeType::kBFloat16, wb::ComputeType::kInt8}) {
        if (type == wb::kDefaultComputeType) continue;  // its figures are the table's
        auto g = Decode(bundle, test, 1, 64, threads, 1, false, type);
        auto b = Decode(bundle, test, 5, 64, threads, 1, false, type);
        Say("   " + std::string(wb::ComputeTypeName(type)) + ": greedy batch 64 " + Fixed(g.sentences_per_second, 1) +
            " sent/s, BLEU " + Fixed(g.bleu, 2) + "; beam 5 batched " + Fixed(b.sentences_per_second, 1) +
            " sent/s, BLEU " + Fixed(b.bleu, 2));
      }
    }
  }

  Say("");
  Say("dev BLEU curve, wordbridge: " + Curve(ours.dev_curve));
  Say("dev BLEU curve, reference:  " + Curve(theirs.dev_curve));
  std::ostringstream head;
  head << std::left << std::setw(34) << "" << std::right << std::setw(12) << "wordbridge" << std::setw(12)
       << "reference" << std::setw(10) << "ratio";
  Say(head.str());
  for (double at : {5.0, 10.0, 15.0, 20.0, 30.0, 40.0}) {
    if (at > minutes + 1e-9) break;
    Row("dev BLEU by " + Fixed(at, 0) + " min (best so far)", BleuBy(ours.dev_curve, at), BleuBy(theirs.dev_curve, at),
        2, false);
  }
  Row("test BLEU, greedy", ours.test_bleu_greedy, theirs.test_bleu_greedy, 2, false);
  Row("test BLEU, beam 5", ours.test_bleu_beam, theirs.test_bleu_beam, 2, false);
  Row("training target tokens/s", ours.train_tokens_per_second, theirs.train_tokens_per_second, 0);
  Row("greedy batch 64, sentences/s", ours.greedy64, theirs.greedy64, 1);
  Row("greedy batch 1, sentences/s", ours.greedy1, theirs.greedy1, 1);
  Row("beam 5 one at a time, sentences/s", ours.beam_single, theirs.beam_single, 1);
  Row("beam 5 batched (64), sentences/s", ours.beam_batched, theirs.beam_single, 1);
  Say("(BLEU rows show the difference, speed rows the ratio wordbridge / reference; wordbridge decodes through "
      "its serving engine with the server's default layout, " + std::to_string(threads) +
      " workers x 1 thread; the reference decodes beam 5 one sentence at a time only)");
  if (!results_path.empty()) std::ofstream(results_path) << bench::Report().str();
  return 0;
}
