// Cosine-similarity search over an embedding table: a FAISS inner-product index of the L2-normalised
// rows, special tokens (ids 0-3) left out. Immutable after construction, so searches run concurrently.
#pragma once

#include <faiss/Index.h>
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace wordbridge {

// The FAISS index behind a search (faiss::index_factory over unit vectors, inner product):
enum class IndexKind {
  kFlat,   // "Flat": exact
  kHnsw,   // "HNSW32,Flat": a graph, approximate, fast at millions of rows
  kSq8,    // "SQ8": 8-bit scalar quantisation (a quarter of the memory), approximate
  kIvfPq,  // "IVF<n>,PQ<d/8>": inverted lists over product-quantised codes, approximate, smallest
};
inline constexpr const char* kIndexKindNames[] = {"flat", "hnsw", "sq8", "ivf-pq"};
const char* IndexKindName(IndexKind kind);
// InvalidArgumentError naming the kinds on an unknown name.
IndexKind ParseIndexKind(const std::string& name);
// The most floats (rows x dimension, 25,000 words of 256) an index holds and is still exact (flat)
// unless asked otherwise; above, it is HNSW. An exact search reads the whole table per query: over gRPC
// on the 2-core benchmark machine a one-word NearestWords took p50 0.41 ms at 15,882 x 256 and 0.96 ms at
// 30,626 x 256 (bench/results/retrieval-2026-11-29-repeat-3.txt), so near 30k words of 256 it leaves
// the 1 ms budget, while HNSW answered in 0.20 ms at a calibrated recall@10 of at least 0.95.
inline constexpr int64_t kExactSearchMaxFloats = 25000 * 256;
inline IndexKind DefaultIndexKind(int64_t rows, int64_t dimension) {
  return rows * dimension > kExactSearchMaxFloats ? IndexKind::kHnsw : IndexKind::kFlat;
}
// The recall@10 against exact search that an HNSW index is built to reach: its search breadth
// (efSearch) is the smallest of kHnswSearchBreadths that reaches it on a sample of the rows.
inline constexpr double kHnswRecallTarget = 0.95;
// The candidate list HNSW keeps while it links a new row into the graph (efConstruction; FAISS's default
// is 40): a wider one builds a better graph, so a search reaches the recall target at a narrower breadth.
inline constexpr int kHnswBuildBreadth = 80;
inline constexpr int kHnswSearchBreadths[] = {16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024};

struct ScoredId {
  int64_t id;   // row of the embedding table
  float score;  // cosine similarity
};

class EmbeddingIndex {
 public:
  // `table` is [vocabulary, dim]; rows before `first_id` (the special tokens) are not indexed. An
  // approximate kind that the rows are too few to train (IVF-PQ needs 256 per code book) falls back to
  // flat: kind() says what was built.
  EmbeddingIndex(const torch::Tensor& table, int64_t first_id, IndexKind kind = IndexKind::kFlat);
  // An index saved by Serialize, over rows [first_id, ...): FailedPreconditionError when the bytes are
  // not a FAISS index of `rows` vectors of `dimension` (a damaged file).
  static std::unique_ptr<EmbeddingIndex> Deserialize(const std::string& bytes, IndexKind kind, int64_t rows,
                                                     int64_t dimension, int64_t first_id);
  std::string Serialize() const;

  IndexKind kind() const { return kind_; }
  int64_t dimension() const { return dimension_; }
  int64_t size() const { return index_->ntotal; }
  // HNSW's search breadth (efSearch), calibrated at build and saved with the index; 0 for other kinds.
  int search_breadth() const;
  // The recall@10 that calibrating the search breadth measured at the breadth chosen, over the rows
  // MeasureRecallAt10 takes by default; -1 when the index was not calibrated here (other kinds, or
  // read from a file).
  double calibrated_recall() const { return calibrated_recall_; }
  // The k most similar rows to `query` (length dimension()), best first, never `exclude_id`.
  // Throws InvalidArgumentError on a wrong dimension or k < 1.
  std::vector<ScoredId> Search(const std::vector<float>& query, int64_t k, int64_t exclude_id = -1) const;
  // Several queries in one FAISS search (one matrix product instead of one pass per query). Result i
  // belongs to queries[i] and never holds exclude_ids[i] (when given; -1 = none).
  std::vector<std::vector<ScoredId>> SearchBatch(const std::vector<std::vector<float>>& queries, int64_t k,
                                                 const std::vector<int64_t>& exclude_ids = {}) const;
  // The general form: result i never holds an id of excludes[i] (when given). (A search of only the
  // most frequent words, restrict_vocab, is WordSpace's exact scan: it works whatever the index kind.)
  std::vector<std::vector<ScoredId>> SearchBatch(const std::vector<std::vector<float>>& queries, int64_t k,
                                                 const std::vector<std::vector<int64_t>>& excludes) const;
  // Checks a query vector: dimension, finite components, not all zeros (InvalidArgumentError).
  void CheckQuery(const std::vector<float>& query) const;

 private:
  EmbeddingIndex(int64_t dimension, int64_t first_id, IndexKind kind, std::unique_ptr<faiss::Index> index);
  void Tune();  // search-time settings of approximate kinds that the index file does not hold
  // Sets HNSW's search breadth for kHnswRecallTarget, measured against exact search over `units`
  // (the indexed rows, L2-normalised).
  void CalibrateSearchBreadth(const torch::Tensor& units);

  int64_t dimension_;
  int64_t first_id_;
  IndexKind kind_;
  std::unique_ptr<faiss::Index> index_;
  double calibrated_recall_ = -1;
};

// Recall@10 of `index` (built over `rows` [n, dim], first_id 0) against exact cosine search, over
// `queries` rows spread evenly over the table, each row's own id excluded from both answers; rows of
// zeros are skipped. 1 for flat indexes.
double MeasureRecallAt10(const EmbeddingIndex& index, const torch::Tensor& rows, int64_t queries = 1000);

}  // namespace wordbridge
