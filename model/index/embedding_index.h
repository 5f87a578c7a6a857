// Cosine-similarity search over an embedding table: a FAISS inner-product index of the L2-normalised
// rows, special tokens (ids 0-3) left out. Immutable after construction, so searches run concurrently.
#pragma once

#include <faiss/IndexFlat.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace wordbridge {

struct ScoredId {
  int64_t id;   // row of the embedding table
  float score;  // cosine similarity
};

class EmbeddingIndex {
 public:
  // `table` is [vocabulary, dim]; rows before `first_id` (the special tokens) are not indexed.
  EmbeddingIndex(const torch::Tensor& table, int64_t first_id);

  int64_t dimension() const { return dimension_; }
  int64_t size() const { return index_->ntotal; }
  // The k most similar rows to `query` (length dimension()), best first, never `exclude_id`.
  // Throws InvalidArgumentError on a wrong dimension or k < 1.
  std::vector<ScoredId> Search(const std::vector<float>& query, int64_t k, int64_t exclude_id = -1) const;
  // Several queries in one FAISS search (one matrix product instead of one pass per query). Result i
  // belongs to queries[i] and never holds exclude_ids[i] (when given; -1 = none).
  std::vector<std::vector<ScoredId>> SearchBatch(const std::vector<std::vector<float>>& queries, int64_t k,
                                                 const std::vector<int64_t>& exclude_ids = {}) const;
  // The general form: result i never holds an id of excludes[i] (when given), and only rows before
  // `first_id + restrict_to` are searched when restrict_to > 0 (rows sorted by frequency: the
  // restrict_to most frequent words).
  std::vector<std::vector<ScoredId>> SearchBatch(const std::vector<std::vector<float>>& queries, int64_t k,
                                                 const std::vector<std::vector<int64_t>>& excludes,
                                                 int64_t restrict_to) const;
  // Checks a query vector: dimension, finite components, not all zeros (InvalidArgumentError).
  void CheckQuery(const std::vector<float>& query) const;

 private:
  int64_t dimension_;
  int64_t first_id_;
  std::unique_ptr<faiss::IndexFlatIP> index_;
};

}  // namespace wordbridge
