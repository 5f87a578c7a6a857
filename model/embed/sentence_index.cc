#include "model/embed/sentence_index.h"

#include <nlohmann/json.hpp>

#include <sstream>

#include "model/common/errors.h"
#include "model/common/file_util.h"

namespace wordbridge {

void CheckSentenceIndexName(const std::string& name) {
  const bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' &&
                  std::all_of(name.begin(), name.end(), [](char c) {
                    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
                  });
  if (!ok) throw InvalidArgumentError("sentence index name '" + name + "' must be 1-64 of [A-Za-z0-9_.-], not starting with '.'");
}

SentenceIndex::SentenceIndex(std::vector<SentencePair> pairs, torch::Tensor vectors, std::string pooling)
    : pairs_(std::move(pairs)), vectors_(std::move(vectors)), pooling_(std::move(pooling)) {
  index_ = std::make_unique<EmbeddingIndex>(vectors_, 0, DefaultIndexKind(size(), vectors_.size(1)));
}

std::unique_ptr<SentenceIndex> SentenceIndex::Build(
    std::vector<SentencePair> pairs, const std::function<torch::Tensor(const std::vector<std::string>&)>& embed,
    std::string pooling) {
  if (static_cast<int64_t>(pairs.size()) > kMaxSentences) {
    throw InvalidArgumentError("a sentence index holds at most " + std::to_string(kMaxSentences) + " sentences");
  }
  std::vector<std::string> sources;
  for (const auto& pair : pairs) sources.push_back(pair.source);
  auto vectors = embed(sources);
  // Sentences without a known token have no direction: left out.
  auto keep = vectors.abs().sum(1).gt(0);
  std::vector<SentencePair> kept;
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < static_cast<int64_t>(pairs.size()); ++i) {
    if (keep[i].item<bool>()) {
      kept.push_back(std::move(pairs[i]));
      rows.push_back(i);
    }
  }
  if (kept.empty()) throw InvalidArgumentError("no sentence of the corpus has a token the model knows");
  return std::unique_ptr<SentenceIndex>(new SentenceIndex(
      std::move(kept), vectors.index_select(0, torch::tensor(rows, torch::kInt64)).contiguous(), std::move(pooling)));
}

void SentenceIndex::Save(const std::string& dir) const {
  std::string tsv;
  for (const auto& pair : pairs_) tsv += pair.source + "\t" + pair.target + "\n";
  WriteFileAtomically(dir + "/pairs.tsv", tsv);
  torch::serialize::OutputArchive archive;
  archive.write("vectors", vectors_);
  std::ostringstream bytes;
  archive.save_to(bytes);
  WriteFileAtomically(dir + "/vectors.pt", bytes.str());
  WriteFileAtomically(dir + "/meta.json",
                      nlohmann::json{{"pooling", pooling_}, {"sentences", size()}, {"dimension", dimension()}}.dump(2) + "\n");
}

std::unique_ptr<SentenceIndex> SentenceIndex::Load(const std::string& dir) {
  try {
    const auto meta = nlohmann::json::parse(ReadFile(dir + "/meta.json"));
    const auto pooling = meta.at("pooling").get<std::string>();
    const auto sentences = meta.at("sentences").get<int64_t>();
    std::vector<SentencePair> pairs;
    std::istringstream in(ReadFile(dir + "/pairs.tsv"));
    std::string line;
    while (std::getline(in, line)) {
      const auto tab = line.find('\t');
      if (tab == std::string::npos) throw std::runtime_error("pairs.tsv line " + std::to_string(pairs.size() + 1) + " has no tab");
      pairs.push_back({line.substr(0, tab), line.substr(tab + 1)});
    }
    torch::serialize::InputArchive archive;
    archive.load_from(dir + "/vectors.pt");
    torch::Tensor vectors;
    archive.read("vectors", vectors);
    if (vectors.dim() != 2 || vectors.size(0) != sentences || static_cast<int64_t>(pairs.size()) != sentences ||
        vectors.scalar_type() != torch::kFloat32 || !torch::isfinite(vectors).all().item<bool>()) {
      throw std::runtime_error("the files disagree on the number of sentences or hold bad vectors");
    }
    return std::unique_ptr<SentenceIndex>(new SentenceIndex(std::move(pairs), vectors.contiguous(), pooling));
  } catch (const c10::Error& e) {
    throw FailedPreconditionError("sentence index " + dir + ": " + e.msg());
  } catch (const std::exception& e) {
    throw FailedPreconditionError("sentence index " + dir + ": " + e.what());
  }
}

std::vector<std::vector<SentenceIndex::Hit>> SentenceIndex::Search(const std::vector<std::vector<float>>& queries,
                                                                   int64_t k) const {
  std::vector<std::vector<Hit>> results;
  for (const auto& hits : index_->SearchBatch(queries, k)) {
    std::vector<Hit> out;
    for (const auto& hit : hits) out.push_back({hit.id, hit.score});
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace wordbridge
