// learn_shortlist: learns the vocabulary shortlist of a model version trained before shortlists were
// learned, from its training pairs, with the version's own tokenizers and vocabularies (as TrainModel
// does), and writes it into a model version directory (crash-safely). Write into a copy of the
// version, never into a published store another process serves from.
// usage: learn_shortlist --version-dir DIR --train TSV --out DIR [--per-source 50] [--frequent 200]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "model/common/file_util.h"
#include "model/decode/shortlist.h"
#include "model/nn/model_config.h"
#include "model/store/manifest.h"
#include "model/text/tokenizer.h"
#include "model/text/vocabulary.h"
#include "model/train/corpus.h"

namespace wb = wordbridge;

int main(int argc, char** argv) {
  std::string version_dir, train, out;
  wb::ShortlistOptions options;
  int max_sentence_tokens = 200;
  CLI::App app{"learn a model version's vocabulary shortlist from its training pairs"};
  app.add_option("--version-dir", version_dir, "the model version (tokenizers, vocabularies, config)")->required();
  app.add_option("--train", train, "training TSV")->required();
  app.add_option("--out", out, "directory to write the shortlist into (a copy of the version)")->required();
  app.add_option("--per-source", options.per_source)->capture_default_str();
  app.add_option("--frequent", options.frequent)->capture_default_str();
  app.add_option("--align", options.align)->capture_default_str();
  app.add_option("--max-sentence-tokens", max_sentence_tokens, "skip longer pairs, as training does")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  const auto config = wb::ModelConfig::FromJson(wb::ReadFile(version_dir + "/config.json"));
  auto source_tokenizer = wb::LoadTokenizer(config.tokenizer, version_dir + "/source");
  auto target_tokenizer = wb::LoadTokenizer(config.tokenizer, version_dir + "/target");
  const auto source_vocab = wb::Vocabulary::Load(version_dir + "/source.vocab");
  const auto target_vocab = wb::Vocabulary::Load(version_dir + "/target.vocab");
  wb::CorpusReport report;
  const auto pairs = wb::ReadTsv(train, wb::CorpusLimits{}, &report);

  auto start = std::chrono::steady_clock::now();
  std::vector<std::vector<int64_t>> sources, targets;
  for (const auto& pair : pairs) {
    auto s = source_tokenizer->Tokenize(pair.source);
    auto t = target_tokenizer->Tokenize(pair.target);
    if (s.empty() || t.empty() || static_cast<int>(s.size()) > max_sentence_tokens ||
        static_cast<int>(t.size()) > max_sentence_tokens) {
      continue;
    }
    sources.push_back(source_vocab.Encode(s));
    targets.push_back(target_vocab.Encode(t));
  }
  const double encode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  start = std::chrono::steady_clock::now();
  auto table = wb::LexicalShortlist::Learn(
      sources.size(), [&](size_t i) -> const std::vector<int64_t>& { return sources[i]; },
      [&](size_t i) -> const std::vector<int64_t>& { return targets[i]; }, source_vocab.size(), target_vocab.size(),
      options);
  const double learn_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string bytes = table->Serialize();
  wb::WriteFileAtomically(out + "/" + wb::LexicalShortlist::kFileName, bytes);
  // A version with a manifest refuses files it does not list: list the new file in it.
  if (std::filesystem::exists(out + "/" + wb::kManifestFileName)) wb::WriteManifest(out);

  int64_t with_candidates = 0, candidates = 0;
  for (int64_t s = 0; s < table->source_vocab_size(); ++s) {
    const auto n = static_cast<int64_t>(table->CandidatesOf(s).size());
    with_candidates += n > 0;
    candidates += n;
  }
  std::printf("pairs %zu (%s); tokenize + encode %.2f s; learn %.3f s\n", sources.size(), report.Summary().c_str(),
              encode_seconds, learn_seconds);
  std::printf("source ids with candidates %ld of %ld (mean %.1f candidates); always in %zu; file %zu bytes -> %s/%s\n",
              static_cast<long>(with_candidates), static_cast<long>(table->source_vocab_size()),
              with_candidates ? static_cast<double>(candidates) / with_candidates : 0.0, table->AlwaysIn().size(),
              bytes.size(), out.c_str(), wb::LexicalShortlist::kFileName);
  return 0;
}
