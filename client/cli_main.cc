// wordbridge: the command-line client. `wordbridge --server HOST:PORT <command> ...`; run with --help.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "client/load_generator.h"
#include "client/vector_export.h"
#include "client/wordbridge_client.h"
#include "model/embed/projection_svg.h"
#include "model/eval/bleu.h"
#include "model/train/corpus.h"

namespace {

using wordbridge::WordBridgeClient;
namespace v1 = wordbridge::v1;

int Fail(const grpc::Status& status) {
  std::cerr << "error (" << status.error_code() << "): " << status.error_message() << std::endl;
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ? 3 : 2;
}

v1::Side ParseSide(const std::string& side) { return side == "target" ? v1::TARGET : v1::SOURCE; }

std::string Clock(double seconds) {
  long s = static_cast<long>(seconds + 0.5);
  std::ostringstream out;
  out << s / 3600 << ":" << std::setw(2) << std::setfill('0') << (s / 60) % 60 << ":" << std::setw(2)
      << std::setfill('0') << s % 60;
  return out.str();
}

// Reads a local TSV into the request's inline pairs; lines the server would reject are counted there.
void AddTsvPairs(const std::string& path, v1::Corpus* corpus) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::string line;
  while (std::getline(in, line)) {
    auto* pair = corpus->add_pairs();
    auto tab = line.find('\t');
    if (tab == std::string::npos) {
      pair->set_source(line);  // no target: the server counts it as empty
    } else {
      pair->set_source(line.substr(0, tab));
      pair->set_target(line.substr(tab + 1));
    }
  }
}

std::vector<std::string> ReadLines(std::istream& in) {
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

// Reads a local Moses-style pair of line-aligned files into inline pairs. Extra lines in the longer
// file are sent with an empty side, so the server counts them as misaligned input.
void AddParallelPairs(const std::string& source_path, const std::string& target_path, v1::Corpus* corpus) {
  std::ifstream s(source_path), t(target_path);
  if (!s) throw std::runtime_error("cannot open " + source_path);
  if (!t) throw std::runtime_error("cannot open " + target_path);
  auto sources = ReadLines(s), targets = ReadLines(t);
  if (sources.size() != targets.size()) {
    std::cerr << "warning: " << source_path << " has " << sources.size() << " lines, " << target_path << " has "
              << targets.size() << std::endl;
  }
  for (size_t i = 0; i < std::max(sources.size(), targets.size()); ++i) {
    auto* p = corpus->add_pairs();
    p->set_source(i < sources.size() ? sources[i] : "");
    p->set_target(i < targets.size() ? targets[i] : "");
  }
}

// Registers two options that must be given together (a Moses-style source/target pair); returns the first.
CLI::Option* AddFilePair(CLI::App* command, const std::string& first_name, std::string* first,
                         const std::string& first_help, const std::string& second_name, std::string* second,
                         const std::string& second_help) {
  auto* a = command->add_option(first_name, *first, first_help);
  auto* b = command->add_option(second_name, *second, second_help);
  a->needs(b);
  b->needs(a);
  return a;
}

struct TrainArgs {
  std::string model, corpus, server_corpus, source, target, server_source, server_target, dev, server_dev;
  std::string dev_source, dev_target, server_dev_source, server_dev_target;
  float dev_fraction = 0;
  std::string arch = "attention", tokenizer;
  int epochs = 0, batch_size = 0, batch_tokens = 0, embed_dim = 0, hidden_dim = 0, layers = 0, vocab_size = 0,
      min_freq = 0, patience = 0;
  float lr = 0, max_minutes = 0, dropout = 0, clip = 0, label_smoothing = 0, init_range = 0;
  std::string precision;
  int64_t seed = 0;
  bool tie = false;
  bool detach = false;
  std::string bridge;  // "on", "off" or empty (the architecture's default)
  std::string source_vectors, target_vectors;  // under the server's data directory
  bool freeze_source = false, freeze_target = false;
  // Local files larger than this are uploaded (UploadCorpus) instead of sent inline.
  int64_t inline_limit_bytes = int64_t{16} << 20;
};

using ProgressCallback = std::function<void(const v1::TrainProgress&)>;

// Runs `stream` (Train or WatchJob) with a printer of its progress: a bar on a terminal, one line per
// epoch otherwise, and the DONE message on stdout. Returns the exit code.
int PrintProgressUntilDone(const std::function<grpc::Status(const ProgressCallback&)>& stream) {
  const bool tty = isatty(STDERR_FILENO);
  auto status = stream([&](const v1::TrainProgress& p) {
    switch (p.stage()) {
      case v1::TrainProgress::STARTED:
        if (!p.message().empty()) std::cerr << p.job_id() << ": " << p.message() << std::endl;
        break;
      case v1::TrainProgress::EPOCH: {
        std::ostringstream line;
        line << "epoch " << p.epoch() << "/" << p.total_epochs() << "  loss " << std::fixed << std::setprecision(4)
             << p.loss() << "  " << std::setprecision(0) << p.tokens_per_second() << " tok/s";
        if (p.dev_bleu() >= 0) line << "  dev BLEU " << std::setprecision(2) << p.dev_bleu();
        line << "  elapsed " << Clock(p.elapsed_seconds()) << "  ETA " << Clock(p.eta_seconds());
        if (tty) {
          const int width = 30;
          int filled = p.total_epochs() > 0 ? width * p.epoch() / p.total_epochs() : 0;
          std::cerr << "\r\033[K[" << std::string(filled, '#') << std::string(width - filled, ' ') << "] "
                    << line.str() << std::flush;
        } else {
          std::cerr << line.str() << std::endl;
        }
        break;
      }
      case v1::TrainProgress::DONE:
        if (tty) std::cerr << std::endl;
        std::cout << p.message() << std::endl;
        break;
      default:
        break;
    }
  });
  if (!status.ok()) {
    if (tty) std::cerr << std::endl;
    return Fail(status);
  }
  return 0;
}

// Uploads the local file `path` under its content-addressed name (ContentAddressedUploadName), unless
// the server holds it already; returns its path under the server's data directory. Throws on failure.
std::string UploadLocalFile(WordBridgeClient& client, const std::string& path) {
  const std::string name = wordbridge::ContentAddressedUploadName(path);
  v1::UploadCorpusResponse response;
  const auto status = client.UploadCorpus(path, name, false, &response);
  if (status.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
    std::cerr << path << ": already on the server as uploads/" << name << std::endl;
  } else if (!status.ok()) {
    throw std::runtime_error("uploading " + path + " failed (" + std::to_string(status.error_code()) +
                             "): " + status.error_message());
  } else {
    std::cerr << path << ": uploaded as " << response.corpus().path() << " (" << response.corpus().bytes()
              << " bytes, " << response.corpus().lines() << " lines)" << std::endl;
  }
  return status.ok() ? response.corpus().path() : "uploads/" + name;  // the server's uploads folder
}

bool LargerThan(const std::string& path, int64_t limit) {
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  return !error && static_cast<int64_t>(size) > limit;
}

// Fills `corpus` from a local TSV: inline, or as an upload when the file is larger than `inline_limit`.
void SetLocalTsv(WordBridgeClient& client, const std::string& path, int64_t inline_limit, v1::Corpus* corpus) {
  if (LargerThan(path, inline_limit)) {
    corpus->set_tsv_path(UploadLocalFile(client, path));
  } else {
    AddTsvPairs(path, corpus);
  }
}

// The same for a local Moses-style pair of files (both uploaded when either is large).
void SetLocalPair(WordBridgeClient& client, const std::string& source, const std::string& target,
                  int64_t inline_limit, v1::Corpus* corpus) {
  if (LargerThan(source, inline_limit) || LargerThan(target, inline_limit)) {
    corpus->set_source_path(UploadLocalFile(client, source));
    corpus->set_target_path(UploadLocalFile(client, target));
  } else {
    AddParallelPairs(source, target, corpus);
  }
}

int RunTrain(WordBridgeClient& client, const TrainArgs& a) {
  v1::TrainRequest request;
  request.set_model(a.model);
  const int64_t limit = a.inline_limit_bytes;
  if (!a.corpus.empty()) SetLocalTsv(client, a.corpus, limit, request.mutable_corpus());
  if (!a.server_corpus.empty()) request.mutable_corpus()->set_tsv_path(a.server_corpus);
  if (!a.server_source.empty()) request.mutable_corpus()->set_source_path(a.server_source);
  if (!a.server_target.empty()) request.mutable_corpus()->set_target_path(a.server_target);
  if (!a.source.empty()) SetLocalPair(client, a.source, a.target, limit, request.mutable_corpus());
  if (!a.dev.empty()) SetLocalTsv(client, a.dev, limit, request.mutable_dev());
  if (!a.server_dev.empty()) request.mutable_dev()->set_tsv_path(a.server_dev);
  if (!a.dev_source.empty()) SetLocalPair(client, a.dev_source, a.dev_target, limit, request.mutable_dev());
  if (!a.server_dev_source.empty()) {
    request.mutable_dev()->set_source_path(a.server_dev_source);
    request.mutable_dev()->set_target_path(a.server_dev_target);
  }
  auto* c = request.mutable_config();
  c->set_architecture(a.arch);
  c->set_tokenizer(a.tokenizer);
  c->set_embed_dim(a.embed_dim);
  c->set_hidden_dim(a.hidden_dim);
  c->set_num_layers(a.layers);
  c->set_dropout(a.dropout);
  c->set_tie_embeddings(a.tie);
  if (!a.bridge.empty()) c->set_bridge(a.bridge == "on");
  c->set_max_vocab_size(a.vocab_size);
  c->set_min_frequency(a.min_freq);
  auto* o = request.mutable_options();
  o->set_epochs(a.epochs);
  o->set_batch_size(a.batch_size);
  o->set_batch_tokens(a.batch_tokens);
  o->set_learning_rate(a.lr);
  o->set_seed(a.seed);
  o->set_max_minutes(a.max_minutes);
  o->set_clip_norm(a.clip);
  o->set_label_smoothing(a.label_smoothing);
  o->set_patience(a.patience);
  o->set_init_range(a.init_range);
  if (a.precision == "mixed") o->set_precision(v1::TrainingOptions::MIXED);
  if (a.precision == "float32") o->set_precision(v1::TrainingOptions::FLOAT32);
  o->set_source_vectors(a.source_vectors);
  o->set_target_vectors(a.target_vectors);
  o->set_freeze_source_embeddings(a.freeze_source);
  o->set_freeze_target_embeddings(a.freeze_target);
  o->set_dev_fraction(a.dev_fraction);

  request.set_detach(a.detach);
  if (a.detach) {
    std::string job_id;
    auto status = client.Train(request, [&](const v1::TrainProgress& p) { job_id = p.job_id(); });
    if (!status.ok()) return Fail(status);
    std::cout << job_id << std::endl;  // follow it with `wordbridge watch ID`
    return 0;
  }
  return PrintProgressUntilDone([&](const ProgressCallback& print) { return client.Train(request, print); });
}

// "2026-11-29 09:20:38" (UTC) for seconds since the Unix epoch; "-" for 0 (not yet).
std::string UtcTime(double seconds) {
  if (seconds <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &utc);
  return text;
}

std::string BestBleu(const v1::JobInfo& job) {
  if (job.best_dev_bleu() < 0) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << job.best_dev_bleu();
  return out.str();
}

int RunJobs(WordBridgeClient& client, const std::string& model) {
  v1::ListJobsResponse response;
  auto status = client.ListJobs(model, &response);
  if (!status.ok()) return Fail(status);
  std::cout << std::left << std::setw(34) << "JOB" << std::setw(16) << "MODEL" << std::setw(12) << "STATE"
            << std::setw(10) << "EPOCH" << std::setw(10) << "DEV BLEU" << std::setw(21) << "STARTED (UTC)"
            << std::setw(10) << "ELAPSED" << "VERSION\n";
  for (const auto& job : response.jobs()) {
    std::cout << std::setw(34) << job.job_id() << std::setw(16) << job.model() << std::setw(12)
              << v1::JobInfo::State_Name(job.state()) << std::setw(10)
              << (std::to_string(job.epoch()) + "/" + std::to_string(job.total_epochs())) << std::setw(10)
              << BestBleu(job) << std::setw(21) << UtcTime(job.start_time()) << std::setw(10)
              << Clock(job.elapsed_seconds()) << (job.version().empty() ? "-" : job.version()) << "\n";
  }
  return 0;
}

void PrintJob(const v1::JobInfo& job) {
  std::cout << "job        " << job.job_id() << "\n"
            << "model      " << job.model() << "\n"
            << "state      " << v1::JobInfo::State_Name(job.state()) << "\n"
            << "epoch      " << job.epoch() << "/" << job.total_epochs() << "\n"
            << "loss       " << std::fixed << std::setprecision(4) << job.loss() << "\n"
            << "dev BLEU   " << BestBleu(job) << " (best)\n"
            << "pairs      " << job.training_pairs() << "\n"
            << "started    " << UtcTime(job.start_time()) << " UTC\n"
            << "ended      " << UtcTime(job.end_time()) << (job.end_time() > 0 ? " UTC" : "") << "\n"
            << "elapsed    " << Clock(job.elapsed_seconds()) << "\n"
            << "version    " << (job.version().empty() ? "-" : job.version()) << "\n"
            << "process    " << job.pid() << " on " << job.host() << "\n";
  if (!job.error_code().empty()) std::cout << "error      " << job.error_code() << ": " << job.error_message() << "\n";
  if (!job.message().empty()) std::cout << "message    " << job.message() << "\n";
}

// "1.2 MiB" for a size in bytes.
std::string Bytes(int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  std::ostringstream out;
  out << std::fixed << std::setprecision(unit == 0 ? 0 : 1) << value << " " << units[unit];
  return out.str();
}

// The versions of `model` on the server: one row each (serving and pinned marked), refusals below theirs.
int RunVersions(WordBridgeClient& client, const std::string& model) {
  v1::ListModelsResponse response;
  auto status = client.ListModels(&response);
  if (!status.ok()) return Fail(status);
  for (const auto& m : response.models()) {
    if (m.name() != model) continue;
    std::cout << std::left << std::setw(9) << "VERSION" << std::setw(16) << "STATE" << std::setw(11) << "SIZE"
              << std::setw(21) << "CREATED (UTC)" << "METRICS\n";
    for (const auto& v : m.version_infos()) {
      std::string state = v.serving() ? "serving" : "";
      if (v.pinned()) state += state.empty() ? "pinned" : ",pinned";
      if (!v.refused_reason().empty()) state += state.empty() ? "refused" : ",refused";
      std::cout << std::setw(9) << v.version() << std::setw(16) << (state.empty() ? "-" : state) << std::setw(11)
                << Bytes(v.bytes()) << std::setw(21) << UtcTime(v.created_time());
      const std::map<std::string, double> metrics(v.metrics().begin(), v.metrics().end());  // sorted
      const char* separator = "";
      for (const auto& [key, value] : metrics) {
        std::cout << separator << key << "=" << value;
        separator = " ";
      }
      std::cout << "\n";
      if (!v.refused_reason().empty()) std::cout << "  refused: " << v.refused_reason() << "\n";
    }
    std::cout << (m.pinned_version().empty() ? "not pinned: the newest good version serves"
                                             : "pinned to version " + m.pinned_version())
              << "\n";
    return 0;
  }
  std::cerr << "error: the server serves no model named '" << model << "'" << std::endl;
  return 2;
}

struct TranslateArgs {
  std::string model, version, input, compute_type;
  std::vector<std::string> text;
  int beam = 1, n_best = 1, max_length = 0, batch = 64;
  bool attention = false, keep_unknown = false, scores = false, shortlist = false;
};

grpc::Status TranslateAll(WordBridgeClient& client, const TranslateArgs& a, const std::vector<std::string>& lines,
                          std::vector<v1::Translation>* out) {
  for (size_t start = 0; start < lines.size(); start += a.batch) {
    v1::TranslateRequest request;
    request.set_model(a.model);
    request.set_version(a.version);
    for (size_t i = start; i < std::min(lines.size(), start + a.batch); ++i) request.add_sentences(lines[i]);
    auto* o = request.mutable_options();
    o->set_beam_size(a.beam);
    o->set_n_best(a.n_best);
    o->set_max_length(a.max_length);
    o->set_return_attention(a.attention);
    o->set_replace_unknown(!a.keep_unknown);
    o->set_compute_type(a.compute_type);
    o->set_use_shortlist(a.shortlist);
    v1::TranslateResponse response;
    auto status = client.Translate(request, &response);
    if (!status.ok()) return status;
    for (const auto& t : response.translations()) out->push_back(t);
  }
  return grpc::Status::OK;
}

int RunTranslate(WordBridgeClient& client, const TranslateArgs& a) {
  std::vector<std::string> lines = a.text;
  if (!a.input.empty()) {
    std::ifstream in(a.input);
    if (!in) throw std::runtime_error("cannot open " + a.input);
    auto more = ReadLines(in);
    lines.insert(lines.end(), more.begin(), more.end());
  } else if (lines.empty()) {
    lines = ReadLines(std::cin);
  }
  if (lines.empty()) return 0;
  std::vector<v1::Translation> translations;
  auto status = TranslateAll(client, a, lines, &translations);
  if (!status.ok()) return Fail(status);
  for (const auto& t : translations) {
    if (a.n_best <= 1 && !a.scores && !a.attention) {
      std::cout << (t.hypotheses_size() ? t.hypotheses(0).text() : "") << "\n";
      continue;
    }
    for (const auto& h : t.hypotheses()) {
      std::cout << std::fixed << std::setprecision(4) << h.score() << "\t" << h.text() << "\n";
      if (a.attention && h.source_tokens_size() > 0) {
        const int cols = h.source_tokens_size();
        for (int r = 0; r < h.tokens_size(); ++r) {
          int best = 0;
          for (int s = 1; s < cols; ++s) {
            if (h.attention(r * cols + s) > h.attention(r * cols + best)) best = s;
          }
          std::cout << "  " << h.tokens(r) << " <- " << h.source_tokens(best) << " (" << std::setprecision(2)
                    << h.attention(r * cols + best) << ")\n";
        }
      }
    }
    if (a.n_best > 1) std::cout << "\n";
  }
  std::cout.flush();
  return 0;
}

int RunEval(WordBridgeClient& client, TranslateArgs a, const std::string& test) {
  wordbridge::CorpusReport report;
  auto pairs = wordbridge::ReadTsv(test, wordbridge::CorpusLimits{}, &report);
  if (pairs.empty()) {
    std::cerr << "error: " << test << " has no usable pairs (" << report.Summary() << ")" << std::endl;
    return 2;
  }
  std::vector<std::string> sources, references, hypotheses;
  for (const auto& p : pairs) {
    sources.push_back(p.source);
    references.push_back(p.target);
  }
  a.n_best = 1;
  std::vector<v1::Translation> translations;
  const auto start = std::chrono::steady_clock::now();
  auto status = TranslateAll(client, a, sources, &translations);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!status.ok()) return Fail(status);
  for (const auto& t : translations) hypotheses.push_back(t.hypotheses_size() ? t.hypotheses(0).text() : "");
  auto bleu = wordbridge::CorpusBleu(hypotheses, references);
  std::cout << std::fixed << std::setprecision(2) << "BLEU " << bleu.score << "  (" << bleu.precisions[0] << "/"
            << bleu.precisions[1] << "/" << bleu.precisions[2] << "/" << bleu.precisions[3] << ", BP "
            << std::setprecision(3) << bleu.brevity_penalty << ")\n"
            << "sentences " << pairs.size() << " (" << report.Summary() << ")\n"
            << std::setprecision(1) << "decode " << pairs.size() / std::max(1e-9, seconds) << " sentences/s (beam "
            << a.beam << ", batch " << a.batch << (a.shortlist ? ", shortlist" : "") << ")\n";
  return 0;
}

struct InspectArgs {
  std::string model, version, side, kind, plot;
  int words = 500;    // projected (0 = no projection)
  int labels = 100;   // labelled on the map
  int outliers = 20;  // printed
};

std::string Percent(double share) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << 100 * share << "%";
  return out.str();
}

// `text` padded with spaces to `width` characters (UTF-8 code points, not bytes).
std::string PadRight(const std::string& text, size_t width) {
  size_t characters = 0;
  for (unsigned char c : text) characters += (c & 0xC0) != 0x80;
  return text + std::string(width > characters ? width - characters : 0, ' ');
}

std::string SideName(v1::Side side) { return side == v1::TARGET ? "target" : "source"; }

// The words at both ends of a projection axis: what the axis separates.
std::string AxisEnds(const v1::EmbeddingDiagnostics& d, bool second_axis, size_t n) {
  std::vector<const v1::ProjectedWord*> points;
  for (const auto& p : d.projection()) points.push_back(&p);
  auto coordinate = [&](const v1::ProjectedWord* p) { return second_axis ? p->y() : p->x(); };
  std::stable_sort(points.begin(), points.end(),
                   [&](const auto* a, const auto* b) { return coordinate(a) < coordinate(b); });
  n = std::min(n, points.size() / 2);
  std::string low, high;
  for (size_t i = 0; i < n; ++i) {
    low += (i ? ", " : "") + points[i]->word();
    high += (i ? ", " : "") + points[points.size() - 1 - i]->word();
  }
  return "- " + low + "  |  + " + high;
}

void PrintDiagnostics(const v1::EmbeddingDiagnostics& d, int max_outliers) {
  std::cout << SideName(d.side()) << " words, " << d.vector_kind() << " vectors\n" << std::fixed
            << "  vocabulary     " << d.vocabulary_size() << " tokens\n"
            << "  words          " << d.words();
  if (d.counted()) {
    std::cout << " (" << d.corpus_words() << " in the corpus)\n";
  } else {
    std::cout << " (from the vocabulary; not counted)\n";
  }
  std::cout << "  dimension      " << d.dimension() << "\n" << std::setprecision(4)
            << "  norm           mean " << d.norm_mean() << "  std " << d.norm_std() << "  min " << d.norm_min()
            << "  max " << d.norm_max() << "\n"
            << "  outliers       " << d.outlier_count() << " words beyond " << std::setprecision(1)
            << d.outlier_sigmas() << " std of the mean norm\n";
  const int shown = std::min(d.outliers_size(), max_outliers);
  if (shown > 0) {
    std::cout << "    " << PadRight("WORD", 24) << std::setw(10) << "COUNT"
              << std::setw(10) << "NORM" << std::setw(8) << "STD" << "\n";
    for (int i = 0; i < shown; ++i) {
      const auto& o = d.outliers(i);
      std::cout << "    " << PadRight(o.word(), 24) << std::setw(10) << o.count()
                << std::setw(10) << std::setprecision(4) << o.norm() << std::setw(8) << std::showpos
                << std::setprecision(1) << o.sigmas() << std::noshowpos << "\n";
    }
    if (d.outlier_count() > shown) std::cout << "    ... and " << d.outlier_count() - shown << " more\n";
  }
  if (d.projection_size() > 0 && d.explained_variance_size() == 2) {
    std::cout << "  projection     the " << d.projection_size() << " most frequent words; PC1 "
              << Percent(d.explained_variance(0)) << ", PC2 " << Percent(d.explained_variance(1))
              << " of their variance\n"
              << "    PC1 " << AxisEnds(d, false, 5) << "\n"
              << "    PC2 " << AxisEnds(d, true, 5) << "\n";
  }
}

// Prints the report of each side inspected and, with --plot, writes one side's map (--side's; the
// source when both are inspected).
int RunInspect(WordBridgeClient& client, const InspectArgs& a) {
  if (!a.plot.empty() && a.words <= 0) {
    std::cerr << "error: --plot needs --words N > 0 (the words to project)\n";
    return 2;
  }
  v1::InspectEmbeddingsRequest request;
  request.set_model(a.model);
  request.set_version(a.version);
  if (!a.side.empty()) request.set_side(ParseSide(a.side));
  request.set_vector_kind(a.kind);
  request.set_projection_words(a.words);
  v1::InspectEmbeddingsResponse response;
  auto status = client.InspectEmbeddings(request, &response);
  if (!status.ok()) return Fail(status);
  std::cout << "model " << response.model() << " version " << response.version() << "\n";
  for (const auto& d : response.sides()) {
    std::cout << "\n";
    PrintDiagnostics(d, a.outliers);
  }
  if (a.plot.empty()) return 0;
  const v1::Side plotted = a.side.empty() ? v1::SOURCE : ParseSide(a.side);
  for (const auto& d : response.sides()) {
    if (d.side() != plotted || d.explained_variance_size() != 2) continue;
    std::vector<wordbridge::PlotPoint> points;
    for (const auto& p : d.projection()) points.push_back({p.word(), p.x(), p.y()});
    wordbridge::SvgPlotOptions options;
    options.title = response.model() + " " + response.version() + ": " + SideName(d.side()) + " words, " +
                    d.vector_kind() + " vectors (the " + std::to_string(d.projection_size()) + " most frequent)";
    options.x_label = "PC1 (" + Percent(d.explained_variance(0)) + " of variance)";
    options.y_label = "PC2 (" + Percent(d.explained_variance(1)) + " of variance)";
    options.labelled = a.labels;
    int64_t labelled = 0;
    std::ofstream out(a.plot);
    out << wordbridge::ProjectionSvg(points, options, &labelled);
    out.close();
    if (!out) throw std::runtime_error("cannot write " + a.plot);
    std::cout << "\nmap of the " << SideName(d.side()) << " side: " << a.plot << " (" << points.size() << " words, "
              << labelled << " labelled)\n";
    return 0;
  }
  std::cerr << "error: the response has no projection of the " << SideName(plotted) << " side\n";
  return 2;
}

struct LoadArgs {
  wordbridge::LoadOptions options;
  std::string input;
  bool json = false;
};

// Sends load from --input's sentences and prints the report. Failed calls are part of the measurement, so
// they show in the report and do not change the exit code; an empty input or bad options are usage errors.
int RunLoadCommand(const wordbridge::ChannelOptions& channel_options, LoadArgs a) {
  if (a.options.total_calls == 0 && a.options.duration_seconds == 0) {
    std::cerr << "error: give --total N or --duration S (or both)" << std::endl;
    return 2;
  }
  std::ifstream in(a.input);
  if (!in) throw std::runtime_error("cannot open " + a.input);
  for (auto& line : ReadLines(in)) {
    if (!line.empty()) a.options.sentences.push_back(std::move(line));
  }
  if (a.options.sentences.empty()) {
    std::cerr << "error: " << a.input << " has no sentences" << std::endl;
    return 2;
  }
  wordbridge::ValidateLoadOptions(a.options);
  const auto report = wordbridge::RunLoad(wordbridge::MakeChannel(channel_options), a.options);
  if (!a.json) {
    std::cout << wordbridge::FormatLoadReport(report);
    return 0;
  }
  nlohmann::json out = {
      {"calls", report.calls},
      {"sentences", report.sentences},
      {"elapsed_seconds", report.elapsed_seconds},
      {"requests_per_second", report.requests_per_second},
      {"sentences_per_second", report.sentences_per_second},
      {"latency_p50_ms", report.latency_p50_ms},
      {"latency_p90_ms", report.latency_p90_ms},
      {"latency_p99_ms", report.latency_p99_ms},
      {"latency_p999_ms", report.latency_p999_ms},
      {"latency_mean_ms", report.latency_mean_ms},
      {"latency_max_ms", report.latency_max_ms},
      {"status_counts", report.status_counts},
      {"first_errors", report.first_errors},
  };
  std::cout << out.dump(2) << std::endl;
  return 0;
}

int RunSplit(const std::string& corpus, double dev, double test, uint64_t seed, const std::string& prefix) {
  wordbridge::CorpusReport report;
  auto pairs = wordbridge::ReadTsv(corpus, wordbridge::CorpusLimits{}, &report);
  auto split = wordbridge::SplitCorpus(pairs, dev, test, seed);
  auto write = [&](const std::string& name, const std::vector<wordbridge::SentencePair>& part) {
    std::ofstream out(prefix + "." + name + ".tsv");
    if (!out) throw std::runtime_error("cannot write " + prefix + "." + name + ".tsv");
    for (const auto& p : part) out << p.source << "\t" << p.target << "\n";
    std::cout << prefix << "." << name << ".tsv: " << part.size() << " pairs\n";
  };
  write("train", split.train);
  write("dev", split.dev);
  write("test", split.test);
  std::cout << report.Summary() << "\n";
  return 0;
}

// A token sent without TLS to another machine can be read on the way: say so (loopback is fine).
void WarnAboutPlaintextToken(const wordbridge::ChannelOptions& options) {
  if (options.auth_token.empty() || options.UsesTls()) return;
  const std::string& target = options.target;
  for (const char* local : {"localhost:", "127.0.0.1:", "[::1]:", "unix:"}) {
    if (target.rfind(local, 0) == 0) return;
  }
  std::cerr << "warning: sending the auth token to " << target << " without TLS; add --tls-ca FILE (or --tls)"
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"wordbridge: client for the wordbridge translation and embedding service"};
  app.require_subcommand(1);
  std::string server = "localhost:50051";
  double timeout_seconds = 600;
  app.add_option("--server", server, "server address HOST:PORT")->capture_default_str();
  app.add_option("--timeout", timeout_seconds, "deadline in seconds for non-training calls")->capture_default_str();
  wordbridge::ChannelOptions channel_options;
  std::string auth_token_file;
  app.add_flag("--tls", channel_options.tls, "connect with TLS, trusting the system's CAs (implied by --tls-*)");
  app.add_option("--tls-ca", channel_options.tls_ca_file, "connect with TLS, trusting the CAs in this PEM file");
  app.add_option("--tls-cert", channel_options.tls_cert_file, "client certificate chain for mTLS (PEM; needs --tls-key)");
  app.add_option("--tls-key", channel_options.tls_key_file, "private key of --tls-cert (PEM)");
  app.add_option("--tls-server-name", channel_options.tls_server_name,
                 "name to expect in the server's certificate instead of the --server host");
  app.add_option("--auth-token-file", auth_token_file,
                 "send 'authorization: Bearer <token>' with this file's token (default: $WORDBRIDGE_AUTH_TOKEN)");

  TrainArgs train;
  auto* train_cmd = app.add_subcommand("train", "train a model and publish it on the server");
  train_cmd->add_option("--model", train.model, "model name")->required();
  auto* corpus_opt = train_cmd->add_option("--corpus", train.corpus,
                                           "local TSV (source<TAB>target): sent inline, or uploaded when larger than "
                                           "--inline-limit-bytes");
  auto* server_corpus_opt =
      train_cmd->add_option("--server-corpus", train.server_corpus, "TSV under the server's data directory");
  auto* source_opt = AddFilePair(train_cmd, "--source", &train.source, "local source side of a Moses-style pair",
                                 "--target", &train.target, "local target side of a Moses-style pair");
  auto* server_source_opt =
      AddFilePair(train_cmd, "--server-source", &train.server_source, "source file under the data directory",
                  "--server-target", &train.server_target, "target file under the data directory");
  corpus_opt->excludes(server_corpus_opt)->excludes(source_opt)->excludes(server_source_opt);
  server_corpus_opt->excludes(source_opt)->excludes(server_source_opt);
  auto* dev_opt = train_cmd->add_option("--dev", train.dev, "local dev TSV, sent inline");
  auto* server_dev_opt =
      train_cmd->add_option("--server-dev", train.server_dev, "dev TSV under the data directory")->excludes(dev_opt);
  auto* dev_source_opt = AddFilePair(train_cmd, "--dev-source", &train.dev_source, "local dev source file (Moses)",
                                     "--dev-target", &train.dev_target, "local dev target file (Moses)");
  auto* server_dev_source_opt =
      AddFilePair(train_cmd, "--server-dev-source", &train.server_dev_source,
                  "dev source file under the data directory", "--server-dev-target", &train.server_dev_target,
                  "dev target file under the data directory");
  dev_opt->excludes(dev_source_opt)->excludes(server_dev_source_opt);
  server_dev_opt->excludes(dev_source_opt)->excludes(server_dev_source_opt);
  train_cmd->add_option("--dev-fraction", train.dev_fraction,
                        "without a dev set: hold out this fraction of the corpus (deterministic)");
  train_cmd->add_option("--arch", train.arch, "seed or attention")->capture_default_str();
  train_cmd->add_option("--tokenizer", train.tokenizer, "whitespace, word or sentencepiece");
  train_cmd->add_option("--epochs", train.epochs, "epochs (default 50; --max-minutes usually ends training first)");
  train_cmd->add_option("--batch-size", train.batch_size, "sentences per batch (replaces token batches)");
  train_cmd->add_option("--batch-tokens", train.batch_tokens, "length-bucketed batches of this many tokens");
  train_cmd->add_option("--lr", train.lr, "Adam learning rate");
  train_cmd->add_option("--seed", train.seed, "random seed (default 42)");
  train_cmd->add_option("--max-minutes", train.max_minutes, "wall-clock budget");
  train_cmd->add_option("--embed-dim", train.embed_dim, "embedding width");
  train_cmd->add_option("--hidden-dim", train.hidden_dim, "LSTM width");
  train_cmd->add_option("--layers", train.layers, "LSTM layers");
  train_cmd->add_option("--dropout", train.dropout, "dropout (attention)");
  train_cmd->add_flag("--tie", train.tie, "tie decoder embeddings and output layer (attention)");
  train_cmd->add_option("--bridge", train.bridge, "learned bridge from encoder to decoder state (attention)")
      ->check(CLI::IsMember({"on", "off"}));
  train_cmd->add_option("--vocab-size", train.vocab_size, "vocabulary cap / sentencepiece size");
  train_cmd->add_option("--min-freq", train.min_freq, "minimum token frequency");
  train_cmd->add_option("--clip", train.clip, "gradient norm clipping");
  train_cmd->add_option("--label-smoothing", train.label_smoothing, "label smoothing");
  train_cmd->add_option("--patience", train.patience, "early stopping patience (epochs)");
  train_cmd->add_option("--init-range", train.init_range, "initial weights uniform in +-this (0: the default)");
  train_cmd->add_option("--precision", train.precision, "training products: mixed (bfloat16) or float32")
      ->check(CLI::IsMember({"mixed", "float32"}));
  train_cmd->add_option("--source-vectors", train.source_vectors,
                        "word2vec/GloVe text file under the server's data directory: initial source embeddings");
  train_cmd->add_option("--target-vectors", train.target_vectors,
                        "word2vec/GloVe text file under the server's data directory: initial target embeddings");
  train_cmd->add_flag("--freeze-source", train.freeze_source, "train without updating the source embeddings");
  train_cmd->add_flag("--freeze-target", train.freeze_target,
                      "train without updating the target embeddings (tied: the output layer's weights too)");
  train_cmd->add_option("--inline-limit-bytes", train.inline_limit_bytes,
                        "local corpus and dev files larger than this are uploaded to the server's data directory "
                        "(UploadCorpus, kept under a name with the file's checksum) instead of sent in the request")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  train_cmd->add_flag("--detach", train.detach,
                      "print the job id and exit; the job keeps running (follow it with `watch ID`)");

  std::string jobs_model, job_id;
  auto* jobs_cmd = app.add_subcommand("jobs", "list running and recent training jobs");
  jobs_cmd->add_option("--model", jobs_model, "only this model's jobs");
  auto* job_cmd = app.add_subcommand("job", "show one training job");
  job_cmd->add_option("id", job_id, "job id")->required();
  auto* watch_cmd = app.add_subcommand("watch", "follow a training job's progress until it ends");
  watch_cmd->add_option("id", job_id, "job id")->required();
  auto* cancel_cmd = app.add_subcommand("cancel", "cancel a running training job (publishes nothing)");
  cancel_cmd->add_option("id", job_id, "job id")->required();
  auto* resume_cmd =
      app.add_subcommand("resume", "continue an INTERRUPTED training job from its last checkpoint (same id)");
  resume_cmd->add_option("id", job_id, "job id")->required();

  std::string versions_model, version_arg;
  bool force_delete = false;
  auto* versions_cmd = app.add_subcommand("versions", "list a model's versions: size, creation, metrics, serving, pinned");
  versions_cmd->add_option("--model", versions_model, "model name")->required();
  auto* pin_cmd = app.add_subcommand("pin", "serve this version of the model, also after newer ones are published");
  pin_cmd->add_option("--model", versions_model, "model name")->required();
  pin_cmd->add_option("version", version_arg, "version to serve")->required();
  auto* unpin_cmd = app.add_subcommand("unpin", "remove the model's pin: the newest good version serves");
  unpin_cmd->add_option("--model", versions_model, "model name")->required();
  auto* delete_cmd = app.add_subcommand("delete-version", "delete a version of the model from the server's store");
  delete_cmd->add_option("--model", versions_model, "model name")->required();
  delete_cmd->add_option("version", version_arg, "version to delete")->required();
  delete_cmd->add_flag("--force", force_delete, "also the serving or pinned version (the next newest then serves)");

  std::string upload_file, upload_name;
  bool upload_overwrite = false;
  auto* upload_cmd = app.add_subcommand("upload", "send a corpus file to the server's data directory (uploads/)");
  upload_cmd->add_option("file", upload_file, "local file")->required()->check(CLI::ExistingFile);
  upload_cmd->add_option("--name", upload_name, "name on the server (default: the file's name and checksum)");
  upload_cmd->add_flag("--overwrite", upload_overwrite, "replace an upload of that name");
  auto* corpora_cmd = app.add_subcommand("corpora", "list the corpora uploaded to the server");
  std::string delete_corpus_name;
  auto* delete_corpus_cmd = app.add_subcommand("delete-corpus", "delete an uploaded corpus");
  delete_corpus_cmd->add_option("name", delete_corpus_name, "upload name")->required();

  TranslateArgs tr;
  auto* translate_cmd = app.add_subcommand("translate", "translate sentences (arguments, --input FILE or stdin)");
  translate_cmd->add_option("--model", tr.model, "model name")->required();
  translate_cmd->add_option("--version", tr.version, "model version (default: serving)");
  translate_cmd->add_option("--input", tr.input, "file with one sentence per line");
  translate_cmd->add_option("--beam", tr.beam, "beam size (1 = greedy)")->capture_default_str();
  translate_cmd->add_option("--n-best", tr.n_best, "hypotheses per sentence")->capture_default_str();
  translate_cmd->add_option("--max-length", tr.max_length, "output token cap");
  translate_cmd->add_option("--batch", tr.batch, "sentences per request")->capture_default_str();
  translate_cmd->add_option("--compute-type", tr.compute_type,
                            "float32, bfloat16, int8 or default (empty: the server's --compute-type)");
  translate_cmd->add_flag("--shortlist", tr.shortlist,
                          "decode over the model's vocabulary shortlist (faster; scores normalised over it)");
  translate_cmd->add_flag("--attention", tr.attention, "print each output token's most attended source token");
  translate_cmd->add_flag("--scores", tr.scores, "print scores");
  translate_cmd->add_flag("--keep-unknown", tr.keep_unknown, "keep <UNK> instead of copying the source word");
  translate_cmd->add_option("text", tr.text, "sentences");

  TranslateArgs ev;
  std::string test_file;
  auto* eval_cmd = app.add_subcommand("eval", "BLEU of a model on a test TSV");
  eval_cmd->add_option("--model", ev.model, "model name")->required();
  eval_cmd->add_option("--test", test_file, "test TSV")->required();
  eval_cmd->add_option("--beam", ev.beam, "beam size")->capture_default_str();
  eval_cmd->add_option("--batch", ev.batch, "sentences per request")->capture_default_str();
  eval_cmd->add_option("--compute-type", ev.compute_type,
                       "float32, bfloat16, int8 or default (empty: the server's --compute-type)");
  eval_cmd->add_flag("--shortlist", ev.shortlist, "decode over the model's vocabulary shortlist");

  std::string model, side = "source", word, vector_kind, pooling = "final";
  bool is_sentence = false, pieces = false;
  auto add_word_options = [&](CLI::App* cmd) {
    cmd->add_option("--model", model, "model name")->required();
    cmd->add_option("--side", side, "source or target")->check(CLI::IsMember({"source", "target"}));
    cmd->add_option("--kind", vector_kind, "word vectors: input, output (target) or contextual (default: the model's)");
  };
  auto* embed_cmd = app.add_subcommand("embed", "print a word's embedding (or a sentence's with --sentence)");
  add_word_options(embed_cmd);
  embed_cmd->add_flag("--sentence", is_sentence, "treat the text as a source sentence");
  embed_cmd->add_option("--pooling", pooling, "sentence vector: final (encoder state) or mean (of its outputs)")
      ->check(CLI::IsMember({"final", "mean"}));
  embed_cmd->add_flag("--pieces", pieces, "a token of the model's vocabulary, not a word");
  embed_cmd->add_option("word", word, "word")->required();

  int k = 10, restrict_vocab = 0;
  bool cosmul = false;
  std::vector<std::string> positive, negative;
  auto* nearest_cmd = app.add_subcommand("nearest", "nearest words by cosine similarity, or an analogy");
  add_word_options(nearest_cmd);
  nearest_cmd->add_option("-k", k, "neighbours")->capture_default_str();
  nearest_cmd->add_flag("--pieces", pieces, "query the model's token table (e.g. SentencePiece pieces)");
  nearest_cmd->add_option("--restrict", restrict_vocab, "search only the N most frequent words");
  nearest_cmd->add_option("--positive", positive, "analogy: words to add (e.g. king woman)");
  nearest_cmd->add_option("--negative", negative, "analogy: words to subtract (e.g. man)");
  nearest_cmd->add_flag("--cosmul", cosmul, "score the analogy with 3CosMul instead of 3CosAdd");
  std::vector<std::string> nearest_words;
  nearest_cmd->add_option("words", nearest_words, "one or more words (several: one batched search)");

  std::string word_a, word_b;
  auto* similarity_cmd = app.add_subcommand("similarity", "cosine similarity of two words");
  add_word_options(similarity_cmd);
  similarity_cmd->add_option("a", word_a)->required();
  similarity_cmd->add_option("b", word_b)->required();
  std::vector<std::string> odd_words;
  auto* odd_cmd = app.add_subcommand("doesnt-match", "the word that fits least with the others");
  add_word_options(odd_cmd);
  odd_cmd->add_option("words", odd_words)->required();

  std::string memory_name, memory_corpus, memory_server_corpus;
  std::vector<std::string> memory_queries;
  auto* index_sentences_cmd =
      app.add_subcommand("index-sentences", "store a corpus's source sentences as a named translation memory");
  index_sentences_cmd->add_option("--model", model, "model name")->required();
  index_sentences_cmd->add_option("--name", memory_name, "memory name")->required();
  auto* memory_corpus_opt = index_sentences_cmd->add_option("--corpus", memory_corpus, "local TSV, sent inline");
  index_sentences_cmd->add_option("--server-corpus", memory_server_corpus, "TSV under the server's data directory")
      ->excludes(memory_corpus_opt);
  index_sentences_cmd->add_option("--pooling", pooling, "sentence vector: final (encoder state) or mean (of its outputs)")
      ->check(CLI::IsMember({"final", "mean"}));
  auto* nearest_sentences_cmd =
      app.add_subcommand("nearest-sentences", "translation-memory search: the stored sentences closest to a query");
  nearest_sentences_cmd->add_option("--model", model, "model name")->required();
  nearest_sentences_cmd->add_option("--name", memory_name, "memory name")->required();
  nearest_sentences_cmd->add_option("-k", k, "matches")->capture_default_str();
  nearest_sentences_cmd->add_option("sentences", memory_queries, "one or more sentences")->required();
  InspectArgs inspect;
  auto* inspect_cmd =
      app.add_subcommand("inspect", "word vector diagnostics: sizes, norms and their outliers, a PCA map");
  inspect_cmd->add_option("--model", inspect.model, "model name")->required();
  inspect_cmd->add_option("--version", inspect.version, "model version (default: serving)");
  inspect_cmd->add_option("--side", inspect.side, "source or target (default: both)")
      ->check(CLI::IsMember({"source", "target"}));
  inspect_cmd->add_option("--kind", inspect.kind,
                          "word vectors: input, output (target) or contextual (default: each side's)");
  inspect_cmd->add_option("--words", inspect.words, "project the N most frequent words (0: no projection)")
      ->capture_default_str();
  inspect_cmd->add_option("--plot", inspect.plot,
                          "write the map of --side (the source side when --side is not given) as SVG to FILE");
  inspect_cmd->add_option("--labels", inspect.labels, "words that may be labelled on the map (the most frequent; crowded labels are left out)")
      ->capture_default_str();
  inspect_cmd->add_option("--outliers", inspect.outliers, "norm outliers printed per side")->capture_default_str();
  int export_restrict = 0;
  std::string export_version, export_output, export_format = "word2vec";
  auto* export_cmd = app.add_subcommand("export", "write a side's word vectors to a file (word2vec text or projector TSV)");
  add_word_options(export_cmd);
  export_cmd->add_option("--version", export_version, "model version (default: serving)");
  export_cmd->add_option("--restrict", export_restrict, "only the N most frequent words");
  export_cmd->add_option("--output", export_output, "file to write (tsv: the vectors; the metadata goes next to it)")
      ->required();
  export_cmd->add_option("--format", export_format, "word2vec (text, as gensim reads) or tsv (TensorBoard projector)")
      ->check(CLI::IsMember({"word2vec", "tsv"}))
      ->capture_default_str();

  auto* models_cmd = app.add_subcommand("models", "list models");
  auto* health_cmd = app.add_subcommand("health", "check the server's health (exit 0 when serving)");

  LoadArgs load;
  auto* load_cmd = app.add_subcommand("load", "send load (Translate or NearestWords) and report latency and status");
  load_cmd->add_option("--model", load.options.model, "model name")->required();
  load_cmd->add_option("--version", load.options.version, "model version (default: serving)");
  load_cmd->add_option("--input", load.input, "file with one sentence per line (empty lines skipped)")->required();
  load_cmd->add_option("--concurrency", load.options.concurrency, "concurrent callers")->capture_default_str();
  load_cmd->add_option("--rate", load.options.rate, "calls/s across all callers (0 = as fast as possible)")
      ->capture_default_str();
  load_cmd->add_option("--total", load.options.total_calls, "stop after this many calls (0 = no limit)");
  load_cmd->add_option("--duration", load.options.duration_seconds, "stop after this many seconds (0 = no limit)");
  load_cmd->add_option("--sentences-per-call", load.options.sentences_per_call,
                        "sentences per Translate call; words per NearestWords call (--rpc nearest)")
      ->capture_default_str();
  load_cmd->add_option("--beam", load.options.beam_size, "beam size (1 = greedy)")->capture_default_str();
  load_cmd->add_option("--deadline", load.options.deadline_seconds, "per-call deadline in seconds")
      ->capture_default_str();
  load_cmd->add_option("--rpc", load.options.rpc, "translate, or nearest (NearestWords on each word, k = 10)")
      ->check(CLI::IsMember({"translate", "nearest"}))
      ->capture_default_str();
  load_cmd->add_flag("--json", load.json, "print the report as a JSON object");

  std::string split_corpus, split_prefix;
  double dev_fraction = 0.02, test_fraction = 0.02;
  uint64_t split_seed = 1;
  auto* split_cmd = app.add_subcommand("split", "deterministic train/dev/test split of a local TSV");
  split_cmd->add_option("--corpus", split_corpus, "TSV to split")->required();
  split_cmd->add_option("--dev", dev_fraction, "dev fraction")->capture_default_str();
  split_cmd->add_option("--test", test_fraction, "test fraction")->capture_default_str();
  split_cmd->add_option("--seed", split_seed, "split seed")->capture_default_str();
  split_cmd->add_option("--out", split_prefix, "output prefix: PREFIX.{train,dev,test}.tsv")->required();

  CLI11_PARSE(app, argc, argv);
  try {
    if (split_cmd->parsed()) return RunSplit(split_corpus, dev_fraction, test_fraction, split_seed, split_prefix);
    channel_options.target = server;
    channel_options.auth_token = wordbridge::ResolveAuthToken(auth_token_file);
    WarnAboutPlaintextToken(channel_options);
    if (load_cmd->parsed()) return RunLoadCommand(channel_options, load);
    WordBridgeClient client(channel_options);
    client.set_timeout(std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds * 1000)));
    if (train_cmd->parsed()) return RunTrain(client, train);
    if (jobs_cmd->parsed()) return RunJobs(client, jobs_model);
    if (watch_cmd->parsed()) {
      return PrintProgressUntilDone([&](const ProgressCallback& print) { return client.WatchJob(job_id, print); });
    }
    if (job_cmd->parsed() || cancel_cmd->parsed() || resume_cmd->parsed()) {
      v1::JobInfo job;
      auto status = job_cmd->parsed()      ? client.GetJob(job_id, &job)
                    : cancel_cmd->parsed() ? client.CancelJob(job_id, &job)
                                           : client.ResumeJob(job_id, &job);
      if (!status.ok()) return Fail(status);
      PrintJob(job);
      return 0;
    }
    if (versions_cmd->parsed()) return RunVersions(client, versions_model);
    if (pin_cmd->parsed() || unpin_cmd->parsed()) {
      v1::SetServingVersionResponse response;
      auto status = client.SetServingVersion(versions_model, pin_cmd->parsed() ? version_arg : "", &response);
      if (!status.ok()) return Fail(status);
      std::cout << response.model() << ": version " << response.serving_version() << " serves"
                << (response.pinned_version().empty() ? " (newest; not pinned)" : " (pinned)") << "\n";
      return 0;
    }
    if (delete_cmd->parsed()) {
      v1::DeleteVersionResponse response;
      auto status = client.DeleteVersion(versions_model, version_arg, force_delete, &response);
      if (!status.ok()) return Fail(status);
      std::cout << versions_model << ": version " << version_arg << " deleted"
                << (response.pin_cleared() ? "; the pin on it is cleared" : "") << "; "
                << (response.serving_version().empty() ? "no version serves"
                                                        : "version " + response.serving_version() + " serves")
                << "\n";
      return 0;
    }
    if (upload_cmd->parsed()) {
      const std::string name =
          upload_name.empty() ? wordbridge::ContentAddressedUploadName(upload_file) : upload_name;
      v1::UploadCorpusResponse response;
      auto status = client.UploadCorpus(upload_file, name, upload_overwrite, &response);
      if (!status.ok()) return Fail(status);
      const auto& c = response.corpus();
      std::cout << c.path() << "\t" << c.bytes() << " bytes\t" << c.lines() << " lines\tsha256 " << c.sha256()
                << "\n";
      return 0;
    }
    if (corpora_cmd->parsed()) {
      v1::ListCorporaResponse response;
      auto status = client.ListCorpora(&response);
      if (!status.ok()) return Fail(status);
      std::cout << std::left << std::setw(48) << "PATH" << std::setw(11) << "SIZE" << "MODIFIED (UTC)\n";
      for (const auto& c : response.corpora()) {
        std::cout << std::setw(48) << c.path() << std::setw(11) << Bytes(c.bytes())
                  << UtcTime(static_cast<double>(c.modified_unix_seconds())) << "\n";
      }
      std::cout << Bytes(response.total_bytes()) << " of " << Bytes(response.max_total_bytes())
                << " used; at most " << Bytes(response.max_file_bytes()) << " per file\n";
      return 0;
    }
    if (delete_corpus_cmd->parsed()) {
      auto status = client.DeleteCorpus(delete_corpus_name);
      if (!status.ok()) return Fail(status);
      std::cout << "deleted uploads/" << delete_corpus_name << "\n";
      return 0;
    }
    if (translate_cmd->parsed()) return RunTranslate(client, tr);
    if (eval_cmd->parsed()) return RunEval(client, ev, test_file);
    if (embed_cmd->parsed()) {
      v1::GetEmbeddingRequest request;
      request.set_model(model);
      request.set_side(ParseSide(side));
      request.set_vector_kind(vector_kind);
      request.set_pieces(pieces);
      request.set_pooling(pooling == "mean" ? v1::MEAN_STATES : v1::FINAL_STATE);
      if (is_sentence) request.set_sentence(word); else request.set_word(word);
      v1::GetEmbeddingResponse response;
      auto status = client.GetEmbedding(request, &response);
      if (!status.ok()) return Fail(status);
      if (!response.in_vocabulary() && !is_sentence) {
        std::cerr << "note: '" << word << "' is not in the " << (pieces ? "vocabulary (<UNK> row)" : "word list (composed from its pieces)") << "\n";
      }
      for (int i = 0; i < response.vector_size(); ++i) std::cout << (i ? " " : "") << response.vector(i);
      std::cout << "\n";
      return 0;
    }
    if (nearest_cmd->parsed()) {
      v1::NearestWordsRequest request;
      request.set_model(model);
      request.set_side(ParseSide(side));
      request.set_k(k);
      request.set_vector_kind(vector_kind);
      request.set_pieces(pieces);
      request.set_restrict_vocab(restrict_vocab);
      const bool analogy = !positive.empty() || !negative.empty();
      if (analogy == !nearest_words.empty()) {
        std::cerr << "error: give words, or an analogy with --positive/--negative\n";
        return 2;
      }
      if (analogy) {
        for (const auto& w : positive) request.add_positive(w);
        for (const auto& w : negative) request.add_negative(w);
        request.set_scoring(cosmul ? v1::COS_MUL : v1::COS_ADD);
      } else if (nearest_words.size() == 1) {
        request.set_word(nearest_words[0]);
      } else {
        for (const auto& w : nearest_words) request.add_words(w);
      }
      v1::NearestWordsResponse response;
      auto status = client.NearestWords(request, &response);
      if (!status.ok()) return Fail(status);
      if (response.k_clamped()) std::cerr << "note: k clamped to " << response.k() << " (the number of words)\n";
      auto print = [&](const auto& neighbors) {
        for (const auto& n : neighbors) {
          std::cout << n.word() << "\t" << std::fixed << std::setprecision(4) << n.score();
          if (!pieces) std::cout << "\t" << n.count();
          std::cout << "\n";
        }
      };
      if (analogy || nearest_words.size() == 1) {
        print(response.neighbors());
      } else {
        for (int i = 0; i < response.results_size(); ++i) {
          std::cout << (i > 0 ? "\n" : "") << "# " << nearest_words[i] << "\n";
          print(response.results(i).neighbors());
        }
      }
      return 0;
    }
    if (index_sentences_cmd->parsed()) {
      v1::IndexSentencesRequest request;
      request.set_model(model);
      request.set_name(memory_name);
      request.set_pooling(pooling == "mean" ? v1::MEAN_STATES : v1::FINAL_STATE);
      if (!memory_corpus.empty()) AddTsvPairs(memory_corpus, request.mutable_corpus());
      if (!memory_server_corpus.empty()) request.mutable_corpus()->set_tsv_path(memory_server_corpus);
      v1::IndexSentencesResponse response;
      auto status = client.IndexSentences(request, &response);
      if (!status.ok()) return Fail(status);
      std::cout << "indexed " << response.sentences() << " sentences (" << response.skipped() << " skipped) for version "
                << response.version() << " in " << std::fixed << std::setprecision(1) << response.seconds() << " s\n";
      return 0;
    }
    if (nearest_sentences_cmd->parsed()) {
      v1::NearestSentencesRequest request;
      request.set_model(model);
      request.set_name(memory_name);
      request.set_k(k);
      for (const auto& s : memory_queries) request.add_sentences(s);
      v1::NearestSentencesResponse response;
      auto status = client.NearestSentences(request, &response);
      if (!status.ok()) return Fail(status);
      for (int i = 0; i < response.results_size(); ++i) {
        if (memory_queries.size() > 1) std::cout << (i > 0 ? "\n" : "") << "# " << memory_queries[i] << "\n";
        for (const auto& m : response.results(i).matches()) {
          std::cout << std::fixed << std::setprecision(4) << m.score() << "\t" << m.source() << "\t" << m.target() << "\n";
        }
      }
      return 0;
    }
    if (similarity_cmd->parsed()) {
      v1::SimilarityRequest request;
      request.set_model(model);
      request.set_side(ParseSide(side));
      request.set_vector_kind(vector_kind);
      request.set_word_a(word_a);
      request.set_word_b(word_b);
      v1::SimilarityResponse response;
      auto status = client.Similarity(request, &response);
      if (!status.ok()) return Fail(status);
      std::cout << std::fixed << std::setprecision(4) << response.similarity() << "\n";
      return 0;
    }
    if (odd_cmd->parsed()) {
      v1::DoesntMatchRequest request;
      request.set_model(model);
      request.set_side(ParseSide(side));
      request.set_vector_kind(vector_kind);
      for (const auto& w : odd_words) request.add_words(w);
      v1::DoesntMatchResponse response;
      auto status = client.DoesntMatch(request, &response);
      if (!status.ok()) return Fail(status);
      std::cout << response.word() << "\t" << std::fixed << std::setprecision(4) << response.similarity() << "\n";
      return 0;
    }
    if (inspect_cmd->parsed()) return RunInspect(client, inspect);
    if (export_cmd->parsed()) {
      v1::ExportVectorsRequest request;
      request.set_model(model);
      request.set_version(export_version);
      request.set_side(ParseSide(side));
      request.set_vector_kind(vector_kind);
      request.set_restrict_vocab(export_restrict);
      wordbridge::ExportSummary summary;
      auto status = wordbridge::ExportVectorsToFile(client, request, wordbridge::ParseExportFormat(export_format),
                                                    export_output, &summary);
      if (!status.ok()) return Fail(status);
      std::cerr << "wrote " << summary.words << " words (" << side << " " << summary.vector_kind << ", dimension "
                << summary.dimension << ", " << summary.model << " version " << summary.version << ") to "
                << export_output << (summary.metadata_path.empty() ? "" : " and " + summary.metadata_path) << "\n";
      return 0;
    }
    if (models_cmd->parsed()) {
      v1::ListModelsResponse response;
      auto status = client.ListModels(&response);
      if (!status.ok()) return Fail(status);
      for (const auto& m : response.models()) {
        std::cout << m.name() << "\tversion " << m.version() << (m.pinned_version().empty() ? "" : " (pinned)") << "\t"
                  << m.config().architecture() << "/"
                  << m.config().tokenizer() << "\tvocab " << m.source_vocab_size() << "/" << m.target_vocab_size();
        for (const auto& [key, value] : m.metrics()) std::cout << "\t" << key << "=" << value;
        for (const auto& space : m.word_spaces()) {
          std::cout << "\n  " << (space.side() == v1::TARGET ? "target" : "source") << " words: " << space.words()
                    << (space.counted() ? "" : " (from the vocabulary)") << ", vectors";
          for (const auto& kind : space.vector_kinds()) {
            std::cout << " " << kind << (kind == space.default_vector_kind() ? "*" : "");
          }
        }
        if (!m.training().empty()) {
          // Sorted, so the line reads the same every time (a proto map has no order).
          std::map<std::string, double> training(m.training().begin(), m.training().end());
          std::cout << "\n  trained with:";
          for (const auto& [key, value] : training) std::cout << " " << key << "=" << value;
        }
        std::cout << "\n";
      }
      return 0;
    }
    if (health_cmd->parsed()) {
      grpc::health::v1::HealthCheckResponse::ServingStatus serving;
      auto status = client.Health("", &serving);
      if (!status.ok()) return Fail(status);
      std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(serving) << "\n";
      return serving == grpc::health::v1::HealthCheckResponse::SERVING ? 0 : 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
    return 2;
  }
  return 0;
}
