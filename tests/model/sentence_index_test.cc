// Sentence vectors in batches and the translation memory built from them.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/embed/sentence_index.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

std::vector<std::string> ToySources() {
  std::vector<std::string> sources;
  for (const auto& pair : SeedToyPairs()) sources.push_back(pair.source);
  return sources;
}

TEST(SentenceIndexTest, BatchedSentenceVectorsEqualOneAtATime) {
  auto bundle = AttentionToy();
  for (auto pooling : {ModelBundle::SentencePooling::kFinalState, ModelBundle::SentencePooling::kMeanStates}) {
    auto batch = bundle->SentenceEmbeddings(ToySources(), pooling, /*batch_size=*/2);
    ASSERT_EQ(batch.size(0), 5);
    for (int64_t i = 0; i < 5; ++i) {
      auto one = bundle->SentenceEmbedding(ToySources()[i], pooling);
      ASSERT_EQ(batch.size(1), static_cast<int64_t>(one.size()));
      EXPECT_TRUE(torch::allclose(batch[i], torch::tensor(one), 1e-4, 1e-5)) << i;
    }
  }
  // A sentence without tokens gets a zero row.
  auto with_empty = bundle->SentenceEmbeddings({"   ", ToySources()[0]}, ModelBundle::SentencePooling::kMeanStates);
  EXPECT_EQ(with_empty[0].abs().sum().item<float>(), 0.0f);
  // Only empty sentences: zero rows of the same width.
  for (auto pooling : {ModelBundle::SentencePooling::kFinalState, ModelBundle::SentencePooling::kMeanStates}) {
    auto all_empty = bundle->SentenceEmbeddings({"", "  "}, pooling);
    ASSERT_EQ(all_empty.size(0), 2);
    EXPECT_EQ(all_empty.size(1), static_cast<int64_t>(bundle->SentenceEmbedding(ToySources()[0], pooling).size()));
    EXPECT_EQ(all_empty.abs().sum().item<float>(), 0.0f);
  }
}

TEST(SentenceIndexTest, FindsTheClosestSentenceAndSurvivesSaveAndLoad) {
  auto bundle = AttentionToy();
  auto embed = [&](const std::vector<std::string>& s) {
    return bundle->SentenceEmbeddings(s, ModelBundle::SentencePooling::kMeanStates);
  };
  auto pairs = SeedToyPairs();
  pairs.push_back({"   ", "nothing to index"});
  auto memory = SentenceIndex::Build(pairs, embed, "mean");
  EXPECT_EQ(memory->size(), 5);  // the blank source is left out
  auto query = embed({"机器 学习 很 有趣"});
  std::vector<float> row(query[0].data_ptr<float>(), query[0].data_ptr<float>() + query.size(1));
  auto hits = memory->Search({row}, 2)[0];
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(memory->pairs()[hits[0].pair].target, "Machine learning is interesting");
  EXPECT_NEAR(hits[0].score, 1.0, 1e-4);

  const auto dir = std::filesystem::temp_directory_path() / ("wb-memory-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  memory->Save(dir.string());
  auto loaded = SentenceIndex::Load(dir.string());
  EXPECT_EQ(loaded->pooling(), "mean");
  ASSERT_EQ(loaded->size(), memory->size());
  EXPECT_EQ(loaded->Search({row}, 1)[0][0].pair, hits[0].pair);
  WriteFileAtomically((dir / "pairs.tsv").string(), "one line only\n");
  EXPECT_THROW(SentenceIndex::Load(dir.string()), FailedPreconditionError);
  std::filesystem::remove_all(dir);

  EXPECT_THROW(SentenceIndex::Build({{"   ", "x"}}, embed, "mean"), InvalidArgumentError);
  EXPECT_THROW(CheckSentenceIndexName(".hidden"), InvalidArgumentError);
  EXPECT_THROW(CheckSentenceIndexName("a/b"), InvalidArgumentError);
  EXPECT_NO_THROW(CheckSentenceIndexName("bible-test_2.v1"));
}

}  // namespace
}  // namespace wordbridge
