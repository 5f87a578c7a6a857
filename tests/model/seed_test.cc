// The seed program, reproduced: its defaults, schedule and toy data translate its test sentences.
#include <gtest/gtest.h>

#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

TEST(SeedTest, DefaultsAreTheSeeds) {
  ModelConfig config = ModelConfig::ForArchitecture("seed");
  EXPECT_EQ(config.embed_dim, 64);
  EXPECT_EQ(config.hidden_dim, 128);
  EXPECT_EQ(config.num_layers, 1);
  EXPECT_EQ(config.tokenizer, "whitespace");
  TrainingOptions options;
  EXPECT_EQ(options.epochs, 50);
  EXPECT_EQ(options.batch_size, 2);
  EXPECT_DOUBLE_EQ(options.learning_rate, 0.001);
  EXPECT_EQ(options.seed, 42);
}

TEST(SeedTest, SeedScheduleTranslatesBothTestSentences) {
  auto bundle = SeedToy();
  auto out = bundle->Translate({"我 爱 自然 语言 处理", "今天 天气 很 好"}, TranslationOptions{}, nullptr);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].hypotheses.at(0).text, "I love natural language processing");
  EXPECT_EQ(out[1].hypotheses.at(0).text, "Today weather is good");
}

TEST(SeedTest, TrainingIsDeterministicForAFixedSeed) {
  auto a = TrainToy(ModelConfig::ForArchitecture("seed"), [] {
    TrainingOptions o;
    o.epochs = 3;
    return o;
  }());
  auto b = TrainToy(ModelConfig::ForArchitecture("seed"), [] {
    TrainingOptions o;
    o.epochs = 3;
    return o;
  }());
  EXPECT_TRUE(torch::equal(a->network().source_embedding(), b->network().source_embedding()));
  EXPECT_DOUBLE_EQ(a->metrics().at("train_loss"), b->metrics().at("train_loss"));
}

TEST(SeedTest, ContextVectorHasHiddenSize) {
  auto bundle = SeedToy();
  EXPECT_EQ(bundle->SentenceEmbedding("今天 天气 很 好").size(), 128u);
}

}  // namespace
}  // namespace wordbridge
