#include "model/index/embedding_index.h"

#include <faiss/utils/distances.h>

#include <algorithm>

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
  if (static_cast<int64_t>(query.size()) != dimension_) {
    throw InvalidArgumentError("vector has dimension " + std::to_string(query.size()) +
                               ", the embeddings have " + std::to_string(dimension_));
  }
  if (k < 1) throw InvalidArgumentError("k must be at least 1");
  std::vector<float> normalised(query);
  faiss::fvec_renorm_L2(dimension_, 1, normalised.data());
  const int64_t wanted = std::min<int64_t>(k + (exclude_id >= 0 ? 1 : 0), size());
  if (wanted == 0) return {};
  std::vector<float> scores(wanted);
  std::vector<faiss::Index::idx_t> labels(wanted);
  index_->search(1, normalised.data(), wanted, scores.data(), labels.data());
  std::vector<ScoredId> results;
  for (int64_t i = 0; i < wanted && static_cast<int64_t>(results.size()) < k; ++i) {
    if (labels[i] < 0) continue;
    int64_t id = labels[i] + first_id_;
    if (id == exclude_id) continue;
    results.push_back({id, scores[i]});
  }
  return results;
}

}  // namespace wordbridge
