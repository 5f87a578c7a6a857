#include "model/index/embedding_index.h"

#include <faiss/impl/IDSelector.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>

#include "model/common/errors.h"

namespace wordbridge {

EmbeddingIndex::EmbeddingIndex(const torch::Tensor& table, int64_t first_id)
    : dimension_(table.size(1)), first_id_(first_id) {
  auto rows = table.detach().to(torch::kFloat32).slice(0, first_id).contiguous().clone();
  index_ = std::make_unique<faiss::IndexFlatIP>(dimension_);
  if (rows.size(0) > 0) {
    faiss::fvec_renorm_L2(dimension_, rows.size(0), rows.data_ptr<float>());
    index_->add(rows.size(0), rows.data_ptr<float>());
  }
}

std::vector<ScoredId> EmbeddingIndex::Search(const std::vector<float>& query, int64_t k,
                                             int64_t exclude_id) const {
  return SearchBatch({query}, k, {exclude_id}).front();
}

std::vector<std::vector<ScoredId>> EmbeddingIndex::SearchBatch(const std::vector<std::vector<float>>& queries,
                                                               int64_t k,
                                                               const std::vector<int64_t>& exclude_ids) const {
  if (!exclude_ids.empty() && exclude_ids.size() != queries.size()) {
    throw InvalidArgumentError("one exclusion per query is needed");
  }
  std::vector<std::vector<int64_t>> excludes;
  for (int64_t id : exclude_ids) excludes.push_back(id >= 0 ? std::vector<int64_t>{id} : std::vector<int64_t>{});
  return SearchBatch(queries, k, excludes, 0);
}

void EmbeddingIndex::CheckQuery(const std::vector<float>& query) const {
  if (static_cast<int64_t>(query.size()) != dimension_) {
    throw InvalidArgumentError("vector has dimension " + std::to_string(query.size()) + ", the embeddings have " +
                               std::to_string(dimension_));
  }
  double norm = 0;
  for (float v : query) {
    if (!std::isfinite(v)) throw InvalidArgumentError("vector has a NaN or infinite component");
    norm += static_cast<double>(v) * v;
  }
  // A zero vector has no direction, so no cosine with anything.
  if (norm == 0) throw InvalidArgumentError("vector is all zeros");
}

std::vector<std::vector<ScoredId>> EmbeddingIndex::SearchBatch(const std::vector<std::vector<float>>& queries,
                                                               int64_t k,
                                                               const std::vector<std::vector<int64_t>>& excludes,
                                                               int64_t restrict_to) const {
  if (k < 1) throw InvalidArgumentError("k must be at least 1");
  if (restrict_to < 0) throw InvalidArgumentError("restrict_vocab must not be negative");
  if (!excludes.empty() && excludes.size() != queries.size()) {
    throw InvalidArgumentError("one exclusion list per query is needed");
  }
  const auto n = static_cast<int64_t>(queries.size());
  std::vector<float> normalised;
  normalised.reserve(n * dimension_);
  for (const auto& query : queries) {
    CheckQuery(query);
    normalised.insert(normalised.end(), query.begin(), query.end());
  }
  std::vector<std::vector<ScoredId>> results(n);
  size_t most_excluded = 0;
  for (const auto& ids : excludes) most_excluded = std::max(most_excluded, ids.size());
  const int64_t searchable = restrict_to > 0 ? std::min<int64_t>(restrict_to, size()) : size();
  const int64_t wanted = std::min<int64_t>(k + static_cast<int64_t>(most_excluded), searchable);
  if (wanted == 0 || n == 0) return results;
  faiss::fvec_renorm_L2(dimension_, n, normalised.data());
  std::vector<float> scores(n * wanted);
  std::vector<faiss::Index::idx_t> labels(n * wanted);
  if (searchable < size()) {
    faiss::IDSelectorRange first_rows(0, searchable);
    faiss::SearchParameters parameters;
    parameters.sel = &first_rows;
    index_->search(n, normalised.data(), wanted, scores.data(), labels.data(), &parameters);
  } else {
    index_->search(n, normalised.data(), wanted, scores.data(), labels.data());
  }
  for (int64_t q = 0; q < n; ++q) {
    const std::vector<int64_t> none;
    const auto& excluded = excludes.empty() ? none : excludes[q];
    for (int64_t i = q * wanted; i < (q + 1) * wanted && static_cast<int64_t>(results[q].size()) < k; ++i) {
      if (labels[i] < 0) continue;
      const int64_t id = labels[i] + first_id_;
      if (std::find(excluded.begin(), excluded.end(), id) != excluded.end()) continue;
      results[q].push_back({id, scores[i]});
    }
  }
  return results;
}

}  // namespace wordbridge
