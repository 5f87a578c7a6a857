// word_vectors: computes a model version's word lists and hidden-state averages from its training
// pairs (as training does when it publishes), reports the time it took, and writes every side's
// vectors of every kind in the word2vec text format, for bench/embedding_quality.py. With
// --write-tables it also writes the tables into --out as version files (use a copy of the version,
// never a published store another process serves from).
// With --save-version DIR it writes the whole version, tables included, into DIR with word indexes of
// --index-kind (a store version for a server to load).
// usage: word_vectors --version-dir DIR --train TSV --out DIR [--write-tables] [--sentences N]
//                     [--save-version DIR --index-kind KIND]
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/embed/word_space.h"
#include "model/embed/word_tables.h"
#include "model/store/model_bundle.h"
#include "model/train/corpus.h"

namespace wb = wordbridge;

int main(int argc, char** argv) {
  std::string version_dir, train, out;
  bool write_tables = false;
  wb::WordListOptions word_options;
  wb::ContextualOptions contextual;
  int threads = 1;
  std::string save_version, index_kind;
  CLI::App app{"word lists, state averages and word2vec files of a model version"};
  app.add_option("--version-dir", version_dir, "the model version")->required();
  app.add_option("--train", train, "its training TSV")->required();
  app.add_option("--out", out, "output directory")->required();
  app.add_flag("--write-tables", write_tables, "also write the tables as version files into --out");
  app.add_option("--sentences", contextual.max_sentences, "pairs run through the network")->capture_default_str();
  app.add_option("--min-count", word_options.min_count)->capture_default_str();
  app.add_option("--threads", threads)->capture_default_str();
  app.add_option("--save-version", save_version, "write the version with its tables and word indexes here");
  app.add_option("--index-kind", index_kind, "the word indexes of --save-version (default: by size)");
  CLI11_PARSE(app, argc, argv);
  torch::set_num_threads(threads);

  auto bundle = wb::ModelBundle::Load("bench", "1", version_dir);
  wb::CorpusReport report;
  const auto pairs = wb::ReadTsv(train, wb::CorpusLimits{}, &report);
  const auto start = std::chrono::steady_clock::now();
  auto tables = wb::BuildWordTables(bundle->network(), bundle->tokenizer(wb::Side::kSource),
                                    bundle->vocabulary(wb::Side::kSource), bundle->tokenizer(wb::Side::kTarget),
                                    bundle->vocabulary(wb::Side::kTarget), pairs, word_options, contextual);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("pairs %zu  source words %lld  target words %lld  tables built in %.1f s (%d thread(s))\n",
              pairs.size(), static_cast<long long>(tables.source_words.size()),
              static_cast<long long>(tables.target_words.size()), seconds, threads);
  std::filesystem::create_directories(out);
  if (write_tables) tables.Save(out);

  // A bundle over the same files plus the tables, to export what the server would serve.
  wb::ModelParts parts{bundle->config(),
                       std::shared_ptr<const wb::Tokenizer>(&bundle->tokenizer(wb::Side::kSource), [](auto*) {}),
                       std::shared_ptr<const wb::Tokenizer>(&bundle->tokenizer(wb::Side::kTarget), [](auto*) {}),
                       bundle->vocabulary(wb::Side::kSource),
                       bundle->vocabulary(wb::Side::kTarget),
                       std::shared_ptr<wb::Seq2SeqNet>(&bundle->network(), [](auto*) {}),
                       bundle->metrics(),
                       bundle->training(),
                       nullptr,
                       std::move(tables)};
  if (!index_kind.empty()) parts.index_kind = wb::ParseIndexKind(index_kind);
  wb::ModelBundle served("bench", "1", std::move(parts));
  for (const auto side : {wb::Side::kSource, wb::Side::kTarget}) {
    for (const auto kind : served.VectorKinds(side)) {
      const std::string path = out + "/" + (side == wb::Side::kSource ? "source" : "target") + "." +
                               wb::VectorKindName(kind) + ".vec";
      std::ofstream file(path);
      wb::WriteWord2VecText(served.Words(side, kind), file);
      const auto& space = served.Words(side, kind);
      std::printf("wrote %s (%lld words, dim %lld)\n", path.c_str(), static_cast<long long>(space.size()),
                  static_cast<long long>(space.dimension()));
      // Recall@10 against exact search of each approximate index kind over these vectors.
      for (const auto index_kind : {wb::IndexKind::kHnsw, wb::IndexKind::kSq8, wb::IndexKind::kIvfPq}) {
        const auto start = std::chrono::steady_clock::now();
        wb::EmbeddingIndex index(space.vectors(), 0, index_kind);
        const double build = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("  %-7s built in %.2f s  recall@10 %.3f%s\n", wb::IndexKindName(index.kind()), build,
                    wb::MeasureRecallAt10(index, space.vectors(), 1000),
                    index.kind() != index_kind ? "  (too few words: fell back to flat)" : "");
      }
    }
  }
  if (!save_version.empty()) {
    std::filesystem::create_directories(save_version);
    const auto start = std::chrono::steady_clock::now();
    served.Save(save_version);
    std::printf("saved the version with %s word indexes into %s in %.1f s\n",
                index_kind.empty() ? "default" : index_kind.c_str(), save_version.c_str(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return 0;
}
