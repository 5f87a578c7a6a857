#include "model/embed/word_space.h"

#include <algorithm>
#include <cmath>

#include "model/common/errors.h"
#include "model/embed/vector_io.h"

namespace wordbridge {
namespace {

std::vector<float> ToVector(const torch::Tensor& row) {
  auto r = row.to(torch::kFloat32).contiguous();
  return std::vector<float>(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
}

torch::Tensor Normalise(const torch::Tensor& rows) {
  return rows / rows.norm(2, -1, /*keepdim=*/true).clamp_min(1e-12);
}

}  // namespace

std::vector<int64_t> KnownTokenIds(const std::string& word, const Tokenizer& tokenizer, const Vocabulary& vocab) {
  std::vector<int64_t> ids;
  for (int64_t id : vocab.Encode(tokenizer.Tokenize(word))) {
    if (!Vocabulary::IsSpecial(id)) ids.push_back(id);
  }
  return ids;
}

const char* VectorKindName(VectorKind kind) { return kVectorKindNames[static_cast<int>(kind)]; }

VectorKind ParseVectorKind(const std::string& name) {
  for (int i = 0; i < 3; ++i) {
    if (name == kVectorKindNames[i]) return static_cast<VectorKind>(i);
  }
  throw InvalidArgumentError("unknown vector kind '" + name + "' (use input, output or contextual)");
}

torch::Tensor WordSpace::ComposeAll(const WordList& words, const torch::Tensor& piece_table, const Tokenizer& tokenizer,
                                    const Vocabulary& vocab) {
  auto table = piece_table.detach().to(torch::kFloat32).contiguous();
  auto out = torch::zeros({words.size(), table.size(1)});
  for (int64_t w = 0; w < words.size(); ++w) {
    const auto ids = KnownTokenIds(words.word(w), tokenizer, vocab);
    if (!ids.empty()) out[w] = table.index_select(0, torch::tensor(ids, torch::kInt64)).mean(0);
  }
  return out;
}

WordSpace::WordSpace(std::shared_ptr<const WordList> words, torch::Tensor word_vectors, torch::Tensor piece_table,
                     const Tokenizer* tokenizer, const Vocabulary* vocab, std::string description, IndexKind kind,
                     std::unique_ptr<EmbeddingIndex> index)
    : words_(std::move(words)),
      vectors_(word_vectors.detach().to(torch::kFloat32).contiguous()),
      piece_table_(piece_table.detach().to(torch::kFloat32).contiguous()),
      tokenizer_(tokenizer),
      vocab_(vocab),
      description_(std::move(description)) {
  unit_rows_ = Normalise(vectors_);
  index_ = index ? std::move(index) : std::make_unique<EmbeddingIndex>(vectors_, 0, kind);
}

namespace {

// The k best rows of `scores` [queries, rows] per query, best first, skipping excluded ids.
std::vector<std::vector<WordHit>> TopHits(const torch::Tensor& scores, int64_t k,
                                          const std::vector<std::vector<int64_t>>& excludes) {
  std::vector<std::vector<WordHit>> results(scores.size(0));
  for (int64_t q = 0; q < scores.size(0); ++q) {
    auto row = scores[q].clone();
    if (!excludes.empty()) {
      for (int64_t id : excludes[q]) {
        if (id < row.size(0)) row[id] = -std::numeric_limits<float>::infinity();
      }
    }
    const int64_t take = std::min<int64_t>(k, row.size(0));
    auto top = row.topk(take);
    for (int64_t i = 0; i < take; ++i) {
      const float value = std::get<0>(top)[i].item<float>();
      if (!std::isfinite(value)) break;
      results[q].push_back({std::get<1>(top)[i].item<int64_t>(), value});
    }
  }
  return results;
}

}  // namespace

double WordSpace::MeasureRecallAt10(int64_t queries) const { return wordbridge::MeasureRecallAt10(*index_, vectors_, queries); }

std::vector<float> WordSpace::Row(int64_t word) const { return ToVector(vectors_[word]); }

ResolvedWord WordSpace::Resolve(const std::string& word) const {
  if (word.empty()) throw InvalidArgumentError("word is empty");
  if (vocab_->Contains(word) && Vocabulary::IsSpecial(vocab_->Id(word))) {
    throw InvalidArgumentError("'" + word + "' is a special token, not a word, and cannot be queried");
  }
  ResolvedWord resolved;
  resolved.word = words_->Find(word);
  // A listed word whose row is zero (no state of its own and none of its pieces') has no direction:
  // it is composed like an unseen word, or not found.
  if (resolved.word >= 0 && vectors_[resolved.word].abs().sum().item<float>() > 0) {
    resolved.vector = Row(resolved.word);
    return resolved;
  }
  // An unseen word is the mean of its known tokens' rows, as fastText composes out-of-vocabulary words.
  const auto ids = KnownTokenIds(word, *tokenizer_, *vocab_);
  torch::Tensor composed;
  if (!ids.empty()) composed = piece_table_.index_select(0, torch::tensor(ids, torch::kInt64)).mean(0);
  if (!composed.defined() || composed.norm().item<float>() == 0) {
    throw NotFoundError("'" + word + "' has no " + description_ + " vector: it is not in the word list and none of its "
                        "pieces is known" + (resolved.word >= 0 ? " in this kind (try another vector kind)" : ""));
  }
  resolved.vector = ToVector(composed);
  return resolved;
}

std::vector<std::vector<WordHit>> WordSpace::Nearest(const std::vector<std::vector<float>>& queries, int64_t k,
                                                     const std::vector<std::vector<int64_t>>& excludes,
                                                     int64_t restrict_vocab) const {
  if (restrict_vocab < 0) throw InvalidArgumentError("restrict_vocab must not be negative");
  if (restrict_vocab > 0 && restrict_vocab < size()) {
    // The most frequent words are the first rows: an exact scan of them, whatever the index.
    std::vector<float> flat;
    for (const auto& query : queries) {
      index_->CheckQuery(query);
      flat.insert(flat.end(), query.begin(), query.end());
    }
    auto q = torch::from_blob(flat.data(), {static_cast<int64_t>(queries.size()), dimension()}, torch::kFloat32);
    if (k < 1) throw InvalidArgumentError("k must be at least 1");
    return TopHits(Normalise(q).matmul(unit_rows_.slice(0, 0, restrict_vocab).t()), k, excludes);
  }
  std::vector<std::vector<WordHit>> results;
  for (const auto& hits : index_->SearchBatch(queries, k, excludes)) {
    std::vector<WordHit> words;
    for (const auto& hit : hits) words.push_back({hit.id, hit.score});
    results.push_back(std::move(words));
  }
  return results;
}

std::vector<WordHit> WordSpace::Analogy(const std::vector<std::string>& positive, const std::vector<std::string>& negative,
                                        AnalogyScoring scoring, int64_t k, int64_t restrict_vocab) const {
  if (positive.empty()) throw InvalidArgumentError("an analogy needs at least one positive word");
  if (k < 1) throw InvalidArgumentError("k must be at least 1");
  if (restrict_vocab < 0) throw InvalidArgumentError("restrict_vocab must not be negative");
  std::vector<int64_t> excluded;
  auto unit = [&](const std::string& word) {
    auto resolved = Resolve(word);
    if (resolved.word >= 0) excluded.push_back(resolved.word);
    return Normalise(torch::tensor(resolved.vector));
  };
  std::vector<torch::Tensor> plus, minus;
  for (const auto& word : positive) plus.push_back(unit(word));
  for (const auto& word : negative) minus.push_back(unit(word));
  if (scoring == AnalogyScoring::kCosAdd) {
    auto query = torch::stack(plus).sum(0);
    if (!minus.empty()) query = query - torch::stack(minus).sum(0);
    if (query.norm().item<float>() < 1e-6) throw InvalidArgumentError("the analogy's words cancel out: no direction is left");
    return Nearest({ToVector(query)}, k, {excluded}, restrict_vocab).front();
  }
  // 3CosMul scores every word against each query word: one product per query word over the table.
  const int64_t searchable = restrict_vocab > 0 ? std::min<int64_t>(restrict_vocab, size()) : size();
  auto rows = unit_rows_.slice(0, 0, searchable);
  auto shifted = [&](const torch::Tensor& q) { return (rows.matmul(q) + 1) / 2; };
  auto score = torch::ones({searchable});
  for (const auto& q : plus) score = score * shifted(q);
  auto denominator = torch::ones({searchable});
  for (const auto& q : minus) denominator = denominator * shifted(q);
  score = score / (denominator + 1e-3);
  for (int64_t id : excluded) {
    if (id < searchable) score[id] = -std::numeric_limits<float>::infinity();
  }
  // Rows that are zero (a word without any known piece) have no direction: never an answer.
  score.masked_fill_(vectors_.slice(0, 0, searchable).abs().sum(1).eq(0), -std::numeric_limits<float>::infinity());
  const int64_t take = std::min<int64_t>(k, searchable);
  auto top = score.topk(take);
  auto values = std::get<0>(top), ids = std::get<1>(top);
  std::vector<WordHit> hits;
  for (int64_t i = 0; i < take; ++i) {
    const float value = values[i].item<float>();
    if (!std::isfinite(value)) break;
    hits.push_back({ids[i].item<int64_t>(), value});
  }
  return hits;
}

float WordSpace::Similarity(const std::string& a, const std::string& b) const {
  auto va = Normalise(torch::tensor(Resolve(a).vector));
  auto vb = Normalise(torch::tensor(Resolve(b).vector));
  return va.dot(vb).item<float>();
}

std::pair<std::string, float> WordSpace::DoesntMatch(const std::vector<std::string>& words) const {
  if (words.size() < 2) throw InvalidArgumentError("doesnt_match needs at least two words");
  std::vector<torch::Tensor> units;
  for (const auto& word : words) units.push_back(Normalise(torch::tensor(Resolve(word).vector)));
  auto stacked = torch::stack(units);
  auto mean = Normalise(stacked.mean(0));
  auto cosines = stacked.matmul(mean);
  const int64_t odd = cosines.argmin().item<int64_t>();
  return {words[odd], cosines[odd].item<float>()};
}

void WriteWord2VecText(const WordSpace& space, std::ostream& out) {
  Word2VecTextWriter writer(out, space.size(), space.dimension());
  for (int64_t w = 0; w < space.size(); ++w) {
    const auto row = space.Row(w);
    writer.Add(space.words().word(w), row.data(), static_cast<int64_t>(row.size()));
  }
}

}  // namespace wordbridge
