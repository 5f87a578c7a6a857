// The article's embedding facts, checked on the library's networks and indexes.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "model/common/errors.h"
#include "model/index/embedding_index.h"
#include "model/nn/seed_seq2seq.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

TEST(EmbeddingTest, OneHotTimesMatrixEqualsLookup) {
  torch::manual_seed(0);
  torch::nn::Embedding embedding(torch::nn::EmbeddingOptions(10, 4).padding_idx(0));
  auto ids = torch::tensor({3, 7, 1}, torch::kInt64);
  auto one_hot = torch::nn::functional::one_hot(ids, 10).to(torch::kFloat32);
  auto via_matmul = torch::matmul(one_hot, embedding->weight);
  EXPECT_TRUE(torch::allclose(via_matmul, embedding(ids)));
  // The same holds for a Linear layer without bias whose weight is the table transposed.
  torch::nn::Linear linear(torch::nn::LinearOptions(10, 4).bias(false));
  {
    torch::NoGradGuard no_grad;
    linear->weight.copy_(embedding->weight.t());
  }
  EXPECT_TRUE(torch::allclose(linear(one_hot), embedding(ids)));
}

TEST(EmbeddingTest, PaddingRowIsZeroAndGetsNoGradient) {
  ModelConfig config;
  config.source_vocab_size = 12;
  config.target_vocab_size = 9;
  torch::manual_seed(1);
  SeedSeq2Seq net(config);
  EXPECT_EQ(net.source_embedding()[0].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(net.target_embedding()[0].abs().sum().item<float>(), 0.0f);
  auto source = torch::tensor({{4, 5, 0}, {6, 0, 0}}, torch::kInt64);
  auto lengths = torch::tensor({2, 1}, torch::kInt64);
  EncoderOutput encoded;
  auto state = net.Encode(source, lengths, &encoded);
  auto target_in = torch::tensor({{1, 4, 0}, {1, 0, 0}}, torch::kInt64);
  auto loss = net.Logits(net.DecoderHidden(encoded, state, target_in)).sum();
  loss.backward();
  auto grad = net.source_embedding().grad();
  EXPECT_EQ(grad[0].abs().sum().item<float>(), 0.0f);
  EXPECT_GT(grad[4].abs().sum().item<float>(), 0.0f);
  // Only rows seen in the batch receive gradient: the sparse-update fact.
  EXPECT_EQ(grad[7].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(net.target_embedding().grad()[0].abs().sum().item<float>(), 0.0f);
}

TEST(EmbeddingTest, WordEmbeddingIsTheWeightRow) {
  auto bundle = SeedToy();
  for (Side side : {Side::kSource, Side::kTarget}) {
    const auto& vocab = bundle->vocabulary(side);
    const std::string word = side == Side::kSource ? "学习" : "learning";
    auto vector = bundle->WordEmbedding(side, word);
    ASSERT_TRUE(vector.in_vocabulary);
    EXPECT_EQ(vector.id, vocab.Id(word));
    auto table = side == Side::kSource ? bundle->network().source_embedding() : bundle->network().target_embedding();
    auto row = table[vector.id];
    ASSERT_EQ(static_cast<int64_t>(vector.values.size()), row.size(0));
    for (int64_t i = 0; i < row.size(0); ++i) EXPECT_EQ(vector.values[i], row[i].item<float>());
  }
  auto unknown = bundle->WordEmbedding(Side::kSource, "不存在");
  EXPECT_FALSE(unknown.in_vocabulary);
  EXPECT_EQ(unknown.id, Vocabulary::kUnk);
}

TEST(EmbeddingTest, NearestNeighbourOfOwnVectorIsItself) {
  auto bundle = SeedToy();
  const auto& vocab = bundle->vocabulary(Side::kTarget);
  for (int64_t id = Vocabulary::kNumSpecial; id < vocab.size(); ++id) {
    auto vector = bundle->WordEmbedding(Side::kTarget, vocab.Token(id));
    auto hits = bundle->NearestToVector(Side::kTarget, vector.values, 1);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].word, vocab.Token(id));
    EXPECT_NEAR(hits[0].score, 1.0f, 1e-4);
  }
}

TEST(EmbeddingTest, NearestWordsExcludeQueryAndSpecials) {
  auto bundle = SeedToy();
  auto hits = bundle->NearestWords(Side::kSource, "学习", 100);
  EXPECT_EQ(static_cast<int64_t>(hits.size()), bundle->vocabulary(Side::kSource).size() - 5);
  for (const auto& hit : hits) {
    EXPECT_NE(hit.word, "学习");
    EXPECT_GE(hit.id, Vocabulary::kNumSpecial);
  }
  EXPECT_THROW(bundle->NearestWords(Side::kSource, "不存在", 3), NotFoundError);
  EXPECT_THROW(bundle->NearestToVector(Side::kSource, {1.0f, 2.0f}, 3), InvalidArgumentError);
}

TEST(EmbeddingTest, FaissCosineEqualsBruteForce) {
  torch::manual_seed(3);
  auto table = torch::randn({200, 16});
  EmbeddingIndex index(table, 4);
  auto query_tensor = torch::randn({16});
  std::vector<float> query(query_tensor.data_ptr<float>(), query_tensor.data_ptr<float>() + 16);
  auto hits = index.Search(query, 10);
  auto rows = table.slice(0, 4);
  auto cosine = torch::nn::functional::cosine_similarity(
      rows, query_tensor.unsqueeze(0), torch::nn::functional::CosineSimilarityFuncOptions().dim(1));
  auto expected = cosine.topk(10);
  ASSERT_EQ(hits.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(hits[i].id, std::get<1>(expected)[i].item<int64_t>() + 4);
    EXPECT_NEAR(hits[i].score, std::get<0>(expected)[i].item<float>(), 1e-5);
  }
}

TEST(EmbeddingTest, SentenceEmbeddingIsTheContextVector) {
  auto bundle = SeedToy();
  auto vector = bundle->SentenceEmbedding("我 爱 自然 语言 处理");
  EXPECT_EQ(static_cast<int64_t>(vector.size()), bundle->config().hidden_dim);
  EXPECT_THROW(bundle->SentenceEmbedding("   "), InvalidArgumentError);
}

}  // namespace
}  // namespace wordbridge
