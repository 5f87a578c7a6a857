// Index kinds of the word searches: every kind against brute force, saving and loading, and the
// version files that carry them.
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <faiss/index_factory.h>

#include <filesystem>
#include <set>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/index/embedding_index.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

// Rows around 300 centres, as word vectors cluster: [n, d].
torch::Tensor ClusteredRows(int64_t n, int64_t d) {
  torch::manual_seed(11);
  auto centres = torch::randn({300, d});
  auto which = torch::randint(0, 300, {n}, torch::kInt64);
  return centres.index_select(0, which) + 0.3 * torch::randn({n, d});
}

// The share of the exact top-10 (cosine, brute force) that `index` finds, over `queries` rows.
double RecallAt10(const EmbeddingIndex& index, const torch::Tensor& rows, int64_t queries) {
  auto units = rows / rows.norm(2, 1, true);
  int64_t found = 0;
  for (int64_t q = 0; q < queries; ++q) {
    auto row = rows[q * 37 % rows.size(0)].contiguous();
    std::vector<float> query(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    auto exact = std::get<1>(units.matmul(units[q * 37 % rows.size(0)]).topk(10));
    std::set<int64_t> truth;
    for (int i = 0; i < 10; ++i) truth.insert(exact[i].item<int64_t>());
    for (const auto& hit : index.Search(query, 10)) found += truth.count(hit.id);
  }
  return static_cast<double>(found) / static_cast<double>(10 * queries);
}

TEST(IndexKindsTest, EveryKindAgainstBruteForce) {
  const auto rows = ClusteredRows(12000, 32);
  const EmbeddingIndex flat(rows, 0, IndexKind::kFlat);
  EXPECT_DOUBLE_EQ(RecallAt10(flat, rows, 200), 1.0);
  const EmbeddingIndex hnsw(rows, 0, IndexKind::kHnsw);
  EXPECT_EQ(hnsw.kind(), IndexKind::kHnsw);
  EXPECT_GE(RecallAt10(hnsw, rows, 200), 0.95);
  const EmbeddingIndex sq8(rows, 0, IndexKind::kSq8);
  EXPECT_GE(RecallAt10(sq8, rows, 200), 0.9);
  const EmbeddingIndex ivf_pq(rows, 0, IndexKind::kIvfPq);
  EXPECT_EQ(ivf_pq.kind(), IndexKind::kIvfPq);
  EXPECT_GE(RecallAt10(ivf_pq, rows, 200), 0.3);  // 4 bytes per vector here: coarse by design
  // Too few rows to train product quantisers: flat instead, and it says so.
  EXPECT_EQ(EmbeddingIndex(ClusteredRows(500, 32), 0, IndexKind::kIvfPq).kind(), IndexKind::kFlat);
  EXPECT_THROW(ParseIndexKind("ivfpq"), InvalidArgumentError);
  EXPECT_EQ(ParseIndexKind("ivf-pq"), IndexKind::kIvfPq);
}

TEST(IndexKindsTest, TheDefaultKindIsExactUpToATableSizeThenHnsw) {
  // By the floats a search would scan, so wider vectors switch at fewer words.
  EXPECT_EQ(DefaultIndexKind(25000, 256), IndexKind::kFlat);
  EXPECT_EQ(DefaultIndexKind(25001, 256), IndexKind::kHnsw);
  EXPECT_EQ(DefaultIndexKind(50000, 128), IndexKind::kFlat);
  EXPECT_EQ(DefaultIndexKind(20000, 512), IndexKind::kHnsw);
  EXPECT_EQ(DefaultIndexKind(0, 256), IndexKind::kFlat);
}

TEST(IndexKindsTest, Sq8SearchScoresTheCodesAsFaissDecodesThem) {
  // wordbridge scans SQ8 codes itself (the decoding folded into per-dimension weights): its answers
  // must be FAISS's own over the same codes. 40 and 256 dimensions: whole 32-code steps and a tail.
  for (const int64_t d : {40, 256}) {
    const auto rows = ClusteredRows(3000, d);
    const EmbeddingIndex sq8(rows, 0, IndexKind::kSq8);
    ASSERT_EQ(sq8.kind(), IndexKind::kSq8);
    auto units = (rows / rows.norm(2, 1, true)).contiguous();
    std::unique_ptr<faiss::Index> reference(faiss::index_factory(static_cast<int>(d), "SQ8", faiss::METRIC_INNER_PRODUCT));
    reference->train(3000, units.data_ptr<float>());
    reference->add(3000, units.data_ptr<float>());
    for (int64_t q : {0, 17, 2999}) {
      std::vector<float> query(rows[q].data_ptr<float>(), rows[q].data_ptr<float>() + d);
      const auto hits = sq8.Search(query, 5);
      std::vector<float> scores(5);
      std::vector<faiss::Index::idx_t> labels(5);
      reference->search(1, units[q].data_ptr<float>(), 5, scores.data(), labels.data());
      ASSERT_EQ(hits.size(), 5u);
      for (int i = 0; i < 5; ++i) {
        EXPECT_NEAR(hits[i].score, scores[i], 1e-4) << "d " << d << " query " << q << " rank " << i;
        if (i + 1 < 5 && scores[i] - scores[i + 1] > 1e-4) EXPECT_EQ(hits[i].id, labels[i]);
      }
    }
  }
}

TEST(IndexKindsTest, HnswSearchBreadthIsCalibratedToTheRecallTarget) {
  // Clustered rows are easy for the graph: the narrowest breadth reaches the target.
  const EmbeddingIndex easy(ClusteredRows(12000, 32), 0, IndexKind::kHnsw);
  EXPECT_EQ(easy.search_breadth(), kHnswSearchBreadths[0]);
  EXPECT_EQ(EmbeddingIndex(ClusteredRows(2000, 32), 0, IndexKind::kFlat).search_breadth(), 0);
  // Independent Gaussian rows in 128 dimensions are hard: the breadth widens until recall is reached,
  // as a measurement over other rows (777 spread rows, not calibration's 1,000) confirms up to
  // sampling noise.
  torch::manual_seed(5);
  const auto hard_rows = torch::randn({20000, 128});
  const EmbeddingIndex hard(hard_rows, 0, IndexKind::kHnsw);
  EXPECT_GT(hard.search_breadth(), kHnswSearchBreadths[0]);
  EXPECT_GE(MeasureRecallAt10(hard, hard_rows, 777), kHnswRecallTarget - 0.02);
  // The recall calibration measured is what MeasureRecallAt10 measures over the same rows (versions
  // report it instead of measuring again).
  EXPECT_GE(easy.calibrated_recall(), kHnswRecallTarget);
  EXPECT_NEAR(hard.calibrated_recall(), MeasureRecallAt10(hard, hard_rows, 1000), 0.005);
  EXPECT_EQ(EmbeddingIndex(ClusteredRows(2000, 32), 0, IndexKind::kSq8).calibrated_recall(), -1);
}

TEST(IndexKindsTest, ASavedIndexLoadsAndAnswersTheSame) {
  // 20 dimensions: the vectorised distances' tail (past the last whole 16) is exercised too.
  const auto rows = ClusteredRows(3000, 20);
  const EmbeddingIndex hnsw(rows, 0, IndexKind::kHnsw);
  const auto bytes = hnsw.Serialize();
  auto loaded = EmbeddingIndex::Deserialize(bytes, IndexKind::kHnsw, 3000, 20, 0);
  std::vector<float> query(rows[5].data_ptr<float>(), rows[5].data_ptr<float>() + 20);
  const auto a = hnsw.Search(query, 10), b = loaded->Search(query, 10);
  ASSERT_EQ(a.size(), b.size());
  const auto units = rows / rows.norm(2, 1, true);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].id, b[i].id);
    EXPECT_EQ(a[i].score, b[i].score);
    // Scores are the cosines of query and row.
    EXPECT_NEAR(a[i].score, units[a[i].id].dot(units[5]).item<float>(), 1e-5);
  }
  EXPECT_EQ(loaded->search_breadth(), hnsw.search_breadth());  // saved with the index, not reset
  EXPECT_EQ(loaded->calibrated_recall(), -1);
  EXPECT_THROW(EmbeddingIndex::Deserialize(bytes, IndexKind::kHnsw, 2999, 20, 0), FailedPreconditionError);
  EXPECT_THROW(EmbeddingIndex::Deserialize(bytes.substr(0, bytes.size() / 2), IndexKind::kHnsw, 3000, 20, 0),
               FailedPreconditionError);
  EXPECT_THROW(EmbeddingIndex::Deserialize("not an index", IndexKind::kHnsw, 3000, 20, 0), FailedPreconditionError);
}

TEST(IndexKindsTest, AVersionStoresItsApproximateIndexesAndLoadsThemWithoutRebuilding) {
  auto toy = AttentionToy();
  ModelParts parts = PartsOf(*toy);
  parts.index_kind = IndexKind::kHnsw;
  ModelBundle bundle("toy", "1", std::move(parts));
  EXPECT_EQ(bundle.WordIndex(Side::kTarget, VectorKind::kInput).kind, IndexKind::kHnsw);
  EXPECT_GE(bundle.WordIndex(Side::kTarget, VectorKind::kInput).recall_at_10, 0.0);
  const auto dir = std::filesystem::temp_directory_path() / ("wb-index-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  bundle.Save(dir.string());
  EXPECT_TRUE(std::filesystem::exists(dir / "target.input.faiss"));
  EXPECT_TRUE(std::filesystem::exists(dir / "word_indexes.json"));
  auto loaded = ModelBundle::Load("toy", "1", dir.string());
  EXPECT_EQ(loaded->WordIndex(Side::kTarget, VectorKind::kInput).kind, IndexKind::kHnsw);
  const auto& words = loaded->Words(Side::kTarget, VectorKind::kInput);
  const auto& original = bundle.Words(Side::kTarget, VectorKind::kInput);
  ASSERT_EQ(words.words().words(), original.words().words());
  auto a = original.Nearest({original.Row(0)}, 3, {}, 0), b = words.Nearest({words.Row(0)}, 3, {}, 0);
  ASSERT_EQ(a[0].size(), b[0].size());
  for (size_t i = 0; i < a[0].size(); ++i) EXPECT_EQ(a[0][i].word, b[0][i].word);
  // restrict_vocab scans the most frequent rows exactly, whatever the index.
  const auto restricted = words.Nearest({words.Row(0)}, 2, {}, 2);
  ASSERT_FALSE(restricted[0].empty());
  for (const auto& hit : restricted[0]) EXPECT_LT(hit.word, 2);
  // A damaged index file fails at first use with the file named.
  WriteFileAtomically((dir / "target.input.faiss").string(), "damaged");
  auto damaged = ModelBundle::Load("toy", "1", dir.string());
  EXPECT_THROW(damaged->Words(Side::kTarget, VectorKind::kInput), FailedPreconditionError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace wordbridge
