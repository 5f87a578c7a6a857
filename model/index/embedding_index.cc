#include "model/index/embedding_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/io.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>

#include <immintrin.h>

#include <algorithm>
#include <numeric>
#include <mutex>
#include <cmath>
#include <limits>

#include "model/common/errors.h"

namespace wordbridge {


namespace {

// The clones' resolver is an ifunc that the dynamic loader runs before any sanitizer runtime is up;
// ThreadSanitizer instruments it anyway and the program crashes at load (gcc 12). TSan builds (scripts/
// test-tsan) therefore get the portable code only.
#if defined(__SANITIZE_THREAD__)
#define WORDBRIDGE_SIMD_CLONES
#else
#define WORDBRIDGE_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif

// a . b over d floats. Sixteen independent partial sums let the compiler use whole vector registers
// without reordering a float sum it may not reorder. Always inlined, so that each SIMD clone below
// (AVX-512, AVX2, generic: picked at load time, the build itself targets any x86-64) vectorises it for
// its own instruction set.
__attribute__((always_inline)) inline float PartialSumsProduct(const float* a, const float* b, int64_t d) {
  float partial[16] = {0};
  int64_t i = 0;
  for (; i + 16 <= d; i += 16) {
    for (int j = 0; j < 16; ++j) partial[j] += a[i + j] * b[i + j];
  }
  float sum = 0;
  for (int j = 0; j < 16; ++j) sum += partial[j];
  for (; i < d; ++i) sum += a[i] * b[i];
  return sum;
}

// out[r] = rows[r] . query for n rows of d floats (the few-query flat search).
WORDBRIDGE_SIMD_CLONES void InnerProducts(const float* rows, int64_t n, int64_t d, const float* query, float* out) {
  for (int64_t r = 0; r < n; ++r) out[r] = PartialSumsProduct(rows + r * d, query, d);
}

// a . b for HNSW's distances. (Explicit AVX2 fused multiply-adds measured no faster inside HNSW
// searches, whose time goes to fetching rows from memory.)
WORDBRIDGE_SIMD_CLONES float InnerProduct(const float* a, const float* b, int64_t d) { return PartialSumsProduct(a, b, d); }

// out[r] = bias + weights . codes[r] for n rows of d 8-bit codes: the inner products of a query with
// the rows of an SQ8 index, whose component i decodes to vmin[i] + (code + 0.5) / 255 * vdiff[i]
// (Sq8Scan). The portable loop is what any x86-64 runs; AVX2 machines get CodeProductsAvx2, whose
// widening and fused multiply-adds the compiler does not find on its own (it kept to 128-bit lanes and
// separate multiplies and adds).
void CodeProductsPortable(const uint8_t* codes, int64_t n, int64_t d, const float* weights, float bias, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* c = codes + r * d;
    float sum = bias;
    for (int64_t i = 0; i < d; ++i) sum += weights[i] * static_cast<float>(c[i]);
    out[r] = sum;
  }
}

__attribute__((target("avx2,fma"))) void CodeProductsAvx2(const uint8_t* codes, int64_t n, int64_t d,
                                                          const float* weights, float bias, float* out) {
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* c = codes + r * d;
    __m256 sums[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    int64_t i = 0;
    for (; i + 32 <= d; i += 32) {
      const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i));
      const __m128i halves[2] = {_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1)};
      for (int j = 0; j < 4; ++j) {
        const __m128i eight = j % 2 == 0 ? halves[j / 2] : _mm_srli_si128(halves[j / 2], 8);
        const __m256 x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(eight));
        sums[j] = _mm256_fmadd_ps(_mm256_loadu_ps(weights + i + 8 * j), x, sums[j]);
      }
    }
    const __m256 all = _mm256_add_ps(_mm256_add_ps(sums[0], sums[1]), _mm256_add_ps(sums[2], sums[3]));
    __m128 half = _mm_add_ps(_mm256_castps256_ps128(all), _mm256_extractf128_ps(all, 1));
    half = _mm_hadd_ps(half, half);
    half = _mm_hadd_ps(half, half);
    float sum = bias + _mm_cvtss_f32(half);
    for (; i < d; ++i) sum += weights[i] * static_cast<float>(c[i]);
    out[r] = sum;
  }
}

void CodeProducts(const uint8_t* codes, int64_t n, int64_t d, const float* weights, float bias, float* out) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  (avx2 ? CodeProductsAvx2 : CodeProductsPortable)(codes, n, d, weights, bias, out);
}

// The `wanted` best of `products` (n of them), best first, ties to the lower row, into labels and scores.
void TopRows(const std::vector<float>& products, int64_t wanted, std::vector<int64_t>* order, faiss::Index::idx_t* labels,
             float* scores) {
  order->resize(products.size());
  std::iota(order->begin(), order->end(), 0);
  auto better = [&](int64_t a, int64_t b) { return products[a] > products[b] || (products[a] == products[b] && a < b); };
  std::partial_sort(order->begin(), order->begin() + wanted, order->end(), better);
  for (int64_t i = 0; i < wanted; ++i) {
    labels[i] = (*order)[i];
    scores[i] = products[(*order)[i]];
  }
}

// The SQ8 index behind `index` when its codes are the per-dimension 8-bit ones that CodeProducts decodes
// (what "SQ8" makes); null otherwise.
const faiss::IndexScalarQuantizer* Sq8Codes(const faiss::Index* index) {
  const auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(index);
  if (sq == nullptr || sq->sq.qtype != faiss::ScalarQuantizer::QT_8bit ||
      sq->sq.trained.size() != 2 * static_cast<size_t>(sq->d) || sq->code_size != static_cast<size_t>(sq->d)) {
    return nullptr;
  }
  return sq;
}

// Exact inner products over an SQ8 index's codes, the `wanted` best per query. Debian's FAISS decodes
// the codes one component at a time with its portable scalar code (3.2 ms per query at 16,000 rows of
// 256, 17 times the flat search); the decoding is folded into one weight per dimension instead.
void Sq8Scan(const faiss::IndexScalarQuantizer& index, const std::vector<float>& queries, int64_t n, int64_t wanted,
             faiss::Index::idx_t* labels, float* scores) {
  const int64_t d = index.d, rows = index.ntotal;
  const float* vmin = index.sq.trained.data();
  const float* vdiff = vmin + d;
  std::vector<float> weights(d), products(rows);
  std::vector<int64_t> order;
  for (int64_t q = 0; q < n; ++q) {
    const float* query = queries.data() + q * d;
    float bias = 0;
    for (int64_t i = 0; i < d; ++i) {
      weights[i] = query[i] * vdiff[i] / 255.0f;
      bias += query[i] * vmin[i] + 0.5f * weights[i];
    }
    CodeProducts(index.codes.data(), rows, d, weights.data(), bias, products.data());
    TopRows(products, wanted, &order, labels + q * wanted, scores + q * wanted);
  }
}

// Up to `count` rows spread evenly over `units` ([n, d], unit rows), rows of zeros (no direction, so no
// neighbours to find) left out: the queries of a recall measurement.
std::vector<int64_t> SpreadRows(const torch::Tensor& units, int64_t count) {
  const int64_t n = units.size(0), wanted = std::min<int64_t>(count, n);
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < wanted; ++i) {
    const int64_t id = i * n / wanted;
    if (units[id].abs().sum().item<float>() != 0) ids.push_back(id);
  }
  return ids;
}

// For each of `ids`, the k rows of `units` with the highest cosine, its own row left out: exact search,
// a block of queries at a time ([block, n] scores stay small at millions of rows).
std::vector<std::vector<int64_t>> ExactNeighbours(const torch::Tensor& units, const std::vector<int64_t>& ids,
                                                  int64_t k) {
  const auto count = static_cast<int64_t>(ids.size());
  auto queries = units.index_select(0, torch::tensor(ids, torch::kInt64));
  std::vector<std::vector<int64_t>> exact(ids.size());
  constexpr int64_t kBlock = 32;
  for (int64_t start = 0; start < count; start += kBlock) {
    const int64_t end = std::min(count, start + kBlock);
    auto scores = queries.slice(0, start, end).matmul(units.t());
    for (int64_t q = start; q < end; ++q) scores[q - start][ids[q]] = -std::numeric_limits<float>::infinity();
    auto top = std::get<1>(scores.topk(k, 1)).contiguous();
    const int64_t* top_ids = top.data_ptr<int64_t>();
    for (int64_t q = start; q < end; ++q) exact[q].assign(top_ids + (q - start) * k, top_ids + (q - start + 1) * k);
  }
  return exact;
}

// The share of the exact neighbours that the answers hold (query by query); 1 when there are none.
double RecallAgainst(const std::vector<std::vector<int64_t>>& exact, const std::vector<std::vector<int64_t>>& answers) {
  int64_t found = 0, total = 0;
  for (size_t q = 0; q < exact.size(); ++q) {
    for (int64_t id : exact[q]) {
      ++total;
      found += std::find(answers[q].begin(), answers[q].end(), id) != answers[q].end();
    }
  }
  return total == 0 ? 1.0 : static_cast<double>(found) / static_cast<double>(total);
}

// The stored rows of an HNSW index. Debian's FAISS computes HNSW's distances with its portable scalar
// loop (fvec_inner_product_ref), which is most of the time of both a search and a build; this storage
// hands HNSW a distance computer with the vectorised product instead. It is written and read as a plain
// IndexFlatIP (the file format does not change), and swapped in after reading (UseVectorisedStorage).
struct VectorisedFlatIP : faiss::IndexFlatIP {
  explicit VectorisedFlatIP(int64_t d) : faiss::IndexFlatIP(d) {}

  struct Distances : faiss::DistanceComputer {
    explicit Distances(const VectorisedFlatIP& storage) : rows(storage.get_xb()), d(storage.d) {}
    void set_query(const float* x) override { query = x; }
    float operator()(idx_t i) override { return InnerProduct(rows + i * d, query, d); }
    float symmetric_dis(idx_t i, idx_t j) override { return InnerProduct(rows + i * d, rows + j * d, d); }
    const float* rows;
    int64_t d;
    const float* query = nullptr;
  };

  faiss::DistanceComputer* get_distance_computer() const override { return new Distances(*this); }
};

// Moves an HNSW index's rows into a VectorisedFlatIP (an index just read from a file holds a plain one).
void UseVectorisedStorage(faiss::IndexHNSW* hnsw) {
  auto* flat = dynamic_cast<faiss::IndexFlat*>(hnsw->storage);
  if (flat == nullptr || dynamic_cast<VectorisedFlatIP*>(flat) != nullptr ||
      flat->metric_type != faiss::METRIC_INNER_PRODUCT) {
    return;
  }
  auto storage = std::make_unique<VectorisedFlatIP>(flat->d);
  storage->codes = std::move(flat->codes);
  storage->ntotal = flat->ntotal;
  if (hnsw->own_fields) delete flat;
  hnsw->storage = storage.release();
  hnsw->own_fields = true;
}

// An empty HNSW inner-product index (32 links per row, FAISS's "HNSW32,Flat") over VectorisedFlatIP
// storage.
std::unique_ptr<faiss::Index> NewVectorisedHnsw(int64_t dimension) {
  auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(static_cast<int>(dimension), 32, faiss::METRIC_INNER_PRODUCT);
  hnsw->hnsw.efConstruction = kHnswBuildBreadth;
  UseVectorisedStorage(hnsw.get());
  return hnsw;
}

}  // namespace

const char* IndexKindName(IndexKind kind) { return kIndexKindNames[static_cast<int>(kind)]; }

IndexKind ParseIndexKind(const std::string& name) {
  for (int i = 0; i < 4; ++i) {
    if (name == kIndexKindNames[i]) return static_cast<IndexKind>(i);
  }
  throw InvalidArgumentError("unknown index kind '" + name + "' (use flat, hnsw, sq8 or ivf-pq)");
}

namespace {

// The empty FAISS index of `kind` for `rows` vectors of `dimension`: HNSW over VectorisedFlatIP storage,
// the others from index_factory; flat (and *kind says so) when the rows are too few to train the kind's
// quantisers.
std::unique_ptr<faiss::Index> NewEmptyIndex(IndexKind* kind, int64_t rows, int64_t dimension) {
  auto from_factory = [&](const std::string& description) {
    return std::unique_ptr<faiss::Index>(
        faiss::index_factory(static_cast<int>(dimension), description.c_str(), faiss::METRIC_INNER_PRODUCT));
  };
  switch (*kind) {
    case IndexKind::kHnsw:
      return NewVectorisedHnsw(dimension);
    case IndexKind::kSq8:
      return from_factory("SQ8");
    case IndexKind::kIvfPq: {
      // PQ with 8-bit codes trains 256 centroids per sub-vector, IVF about 39 rows per list.
      if (rows < 10000 || dimension % 8 != 0) break;
      const int64_t lists = std::clamp<int64_t>(static_cast<int64_t>(4 * std::sqrt(static_cast<double>(rows))), 16,
                                                rows / 39);
      // "np": no polysemous training of the codes (minutes of Hamming-distance optimisation that only
      // helps Hamming-filtered search, which this index does not use).
      return from_factory("IVF" + std::to_string(lists) + ",PQ" + std::to_string(dimension / 8) + "np");
    }
    case IndexKind::kFlat:
      break;
  }
  *kind = IndexKind::kFlat;
  return from_factory("Flat");
}

}  // namespace

EmbeddingIndex::EmbeddingIndex(int64_t dimension, int64_t first_id, IndexKind kind, std::unique_ptr<faiss::Index> index)
    : dimension_(dimension), first_id_(first_id), kind_(kind), index_(std::move(index)) {
  Tune();
}


EmbeddingIndex::EmbeddingIndex(const torch::Tensor& table, int64_t first_id, IndexKind kind)
    : dimension_(table.size(1)), first_id_(first_id), kind_(kind) {
  auto rows = table.detach().to(torch::kFloat32).slice(0, first_id).contiguous().clone();
  const int64_t n = rows.size(0);
  index_ = NewEmptyIndex(&kind_, n, dimension_);
  if (n > 0) {
    faiss::fvec_renorm_L2(dimension_, n, rows.data_ptr<float>());
    if (!index_->is_trained) index_->train(n, rows.data_ptr<float>());
    index_->add(n, rows.data_ptr<float>());
  }
  Tune();
  if (kind_ == IndexKind::kHnsw && n > 1) CalibrateSearchBreadth(rows);
}

void EmbeddingIndex::Tune() {
  // Set once, before any search, so concurrent searches only read it. IVF's probe count is not part of
  // the index file; HNSW's search breadth is, and is calibrated at build (CalibrateSearchBreadth).
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index_.get())) ivf->nprobe = std::min<size_t>(32, ivf->nlist);
}

int EmbeddingIndex::search_breadth() const {
  const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_.get());
  return hnsw != nullptr ? hnsw->hnsw.efSearch : 0;
}

void EmbeddingIndex::CalibrateSearchBreadth(const torch::Tensor& units) {
  auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index_.get());
  if (hnsw == nullptr) return;
  // How hard a table is for a graph index depends on its rows: at 15k trained word vectors 128 reached
  // recall 0.97-0.999, at 1M random vectors only 0.915 (bench/results/retrieval-*.txt). So the breadth
  // is measured, not fixed, the way MeasureRecallAt10 measures it: up to 1,000 rows spread over the
  // table are the queries, each with its own row left out of both answers.
  const int64_t n = units.size(0), k = std::min<int64_t>(10, n - 1);
  const auto ids = SpreadRows(units, 1000);
  if (ids.empty()) return;
  const auto exact = ExactNeighbours(units, ids, k);
  const auto sample = static_cast<int64_t>(ids.size());
  auto queries = units.index_select(0, torch::tensor(ids, torch::kInt64)).contiguous();
  std::vector<float> distances(static_cast<size_t>(sample * (k + 1)));
  std::vector<faiss::Index::idx_t> labels(distances.size());
  std::vector<std::vector<int64_t>> answers(ids.size());
  for (int breadth : kHnswSearchBreadths) {
    hnsw->hnsw.efSearch = breadth;
    index_->search(sample, queries.data_ptr<float>(), k + 1, distances.data(), labels.data());
    for (int64_t q = 0; q < sample; ++q) {
      // The first k answers that are not the query's own row.
      answers[q].clear();
      for (int64_t i = 0; i <= k && static_cast<int64_t>(answers[q].size()) < k; ++i) {
        const int64_t id = labels[q * (k + 1) + i];
        if (id >= 0 && id != ids[q]) answers[q].push_back(id);
      }
    }
    calibrated_recall_ = RecallAgainst(exact, answers);
    if (calibrated_recall_ >= kHnswRecallTarget) break;
  }
}

std::string EmbeddingIndex::Serialize() const {
  faiss::VectorIOWriter writer;
  faiss::write_index(index_.get(), &writer);
  return std::string(writer.data.begin(), writer.data.end());
}

std::unique_ptr<EmbeddingIndex> EmbeddingIndex::Deserialize(const std::string& bytes, IndexKind kind, int64_t rows,
                                                            int64_t dimension, int64_t first_id) {
  faiss::VectorIOReader reader;
  reader.data.assign(bytes.begin(), bytes.end());
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::read_index(&reader));
  } catch (const std::exception& e) {
    throw FailedPreconditionError(std::string("not a FAISS index: ") + e.what());
  }
  if (index->d != dimension || index->ntotal != rows || index->metric_type != faiss::METRIC_INNER_PRODUCT) {
    throw FailedPreconditionError("the FAISS index holds " + std::to_string(index->ntotal) + " vectors of dimension " +
                                  std::to_string(index->d) + ", expected " + std::to_string(rows) + " of " +
                                  std::to_string(dimension));
  }
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index.get())) UseVectorisedStorage(hnsw);
  return std::unique_ptr<EmbeddingIndex>(new EmbeddingIndex(dimension, first_id, kind, std::move(index)));
}

std::vector<ScoredId> EmbeddingIndex::Search(const std::vector<float>& query, int64_t k,
                                             int64_t exclude_id) const {
  return SearchBatch({query}, k, std::vector<int64_t>{exclude_id}).front();
}

std::vector<std::vector<ScoredId>> EmbeddingIndex::SearchBatch(const std::vector<std::vector<float>>& queries,
                                                               int64_t k,
                                                               const std::vector<int64_t>& exclude_ids) const {
  if (!exclude_ids.empty() && exclude_ids.size() != queries.size()) {
    throw InvalidArgumentError("one exclusion per query is needed");
  }
  std::vector<std::vector<int64_t>> excludes;
  for (int64_t id : exclude_ids) excludes.push_back(id >= 0 ? std::vector<int64_t>{id} : std::vector<int64_t>{});
  return SearchBatch(queries, k, excludes);
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
                                                               const std::vector<std::vector<int64_t>>& excludes) const {
  if (k < 1) throw InvalidArgumentError("k must be at least 1");
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
  const int64_t wanted = std::min<int64_t>(k + static_cast<int64_t>(most_excluded), size());
  if (wanted == 0 || n == 0) return results;
  faiss::fvec_renorm_L2(dimension_, n, normalised.data());
  std::vector<float> scores(n * wanted);
  std::vector<faiss::Index::idx_t> labels(n * wanted);
  if (kind_ == IndexKind::kFlat) {
    // Debian's FAISS is built for any x86-64 CPU, so its few-query flat search is a scalar loop
    // (fvec_inner_product_ref took 85% of a NearestWords server's time: p50 1.86 ms over 15,882
    // words), and its BLAS path copies the whole table into sgemm's layout for every call. The same
    // exact search over FAISS's stored unit rows is done here instead.
    const auto* flat = static_cast<const faiss::IndexFlat*>(index_.get());
    auto rows = torch::from_blob(const_cast<float*>(flat->get_xb()), {size(), dimension_}, torch::kFloat32);
    auto queries_tensor = torch::from_blob(normalised.data(), {n, dimension_}, torch::kFloat32);
    if (n <= 8) {
      // A few queries: one pass over the table each, on this thread (no BLAS thread pool, whose
      // hand-offs collapsed throughput when eight RPC threads searched at once).
      std::vector<float> products(size());
      std::vector<int64_t> order;
      for (int64_t q = 0; q < n; ++q) {
        InnerProducts(flat->get_xb(), size(), dimension_, normalised.data() + q * dimension_, products.data());
        TopRows(products, wanted, &order, labels.data() + q * wanted, scores.data() + q * wanted);
      }
    } else {
      // Many: one matrix product (OpenBLAS's sgemm) and a top-k.
      auto top = queries_tensor.matmul(rows.t()).topk(wanted, 1);
      auto top_scores = std::get<0>(top).contiguous();
      auto top_ids = std::get<1>(top).contiguous();
      std::copy(top_scores.data_ptr<float>(), top_scores.data_ptr<float>() + n * wanted, scores.begin());
      std::copy(top_ids.data_ptr<int64_t>(), top_ids.data_ptr<int64_t>() + n * wanted, labels.begin());
    }
  } else if (const auto* sq8 = Sq8Codes(index_.get())) {
    Sq8Scan(*sq8, normalised, n, wanted, labels.data(), scores.data());
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

double MeasureRecallAt10(const EmbeddingIndex& index, const torch::Tensor& rows, int64_t queries) {
  const int64_t n = rows.size(0);
  if (index.kind() == IndexKind::kFlat || n < 2) return 1.0;
  auto table = rows.to(torch::kFloat32).contiguous();
  auto units = table / table.norm(2, 1, true).clamp_min(1e-12);
  const auto ids = SpreadRows(units, queries);
  if (ids.empty()) return 1.0;
  std::vector<std::vector<float>> probes;
  std::vector<std::vector<int64_t>> excludes;
  for (int64_t id : ids) {
    auto row = table[id];
    probes.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    excludes.push_back({id});
  }
  std::vector<std::vector<int64_t>> answers;
  for (const auto& hits : index.SearchBatch(probes, 10, excludes)) {
    answers.emplace_back();
    for (const auto& hit : hits) answers.back().push_back(hit.id);
  }
  return RecallAgainst(ExactNeighbours(units, ids, std::min<int64_t>(10, n - 1)), answers);
}

}  // namespace wordbridge
