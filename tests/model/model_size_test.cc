#include "model/nn/model_size.h"

#include <gtest/gtest.h>

#include "model/common/errors.h"
#include "model/nn/seq2seq.h"

namespace wordbridge {
namespace {

int64_t CountedParameters(const ModelConfig& config) {
  int64_t total = 0;
  for (const auto& p : CreateNetwork(config)->parameters()) total += p.numel();
  return total;
}

ModelConfig Sized(const std::string& architecture, int64_t embed, int64_t hidden, int64_t layers, bool tied) {
  auto config = ModelConfig::ForArchitecture(architecture);
  config.embed_dim = embed;
  config.hidden_dim = hidden;
  config.num_layers = layers;
  config.tie_embeddings = tied;
  config.source_vocab_size = 37;
  config.target_vocab_size = 53;
  return config;
}

TEST(ModelSizeTest, ParameterCountMatchesTheNetworksThatAreBuilt) {
  for (const auto& config : {Sized("seed", 8, 12, 1, false), Sized("seed", 8, 12, 3, false),
                             Sized("attention", 8, 12, 1, true), Sized("attention", 12, 12, 2, true),
                             Sized("attention", 8, 12, 2, false)}) {
    EXPECT_EQ(ParameterCount(config), CountedParameters(config))
        << config.architecture << " layers " << config.num_layers << " tied " << config.tie_embeddings;
  }
  auto bridged = Sized("attention", 8, 12, 2, true);
  bridged.bridge = true;
  EXPECT_EQ(ParameterCount(bridged), CountedParameters(bridged));
}

TEST(ModelSizeTest, TrainingMemoryCountsWeightsGradientsAdamAndActivations) {
  auto config = Sized("attention", 8, 12, 1, true);
  auto memory = EstimateTrainingMemory(config, 100);
  const int64_t params = ParameterCount(config);
  EXPECT_EQ(memory.weights, 4 * params);
  EXPECT_EQ(memory.gradients, 4 * params);
  EXPECT_EQ(memory.optimizer, 8 * params);
  EXPECT_GT(memory.activations, 100 * 4 * 3 * config.target_vocab_size - 1);  // scores of every token
  EXPECT_GT(EstimateTrainingMemory(config, 200).activations, memory.activations);
}

TEST(ModelSizeTest, CheckRefusesAboveTheBudgetOnly) {
  auto config = Sized("attention", 8, 12, 1, true);
  const int64_t need = EstimateTrainingMemory(config, 100).total();
  EXPECT_NO_THROW(CheckTrainingMemory(config, 100, need));
  EXPECT_NO_THROW(CheckTrainingMemory(config, 100, 0));  // no limit
  EXPECT_THROW(CheckTrainingMemory(config, 100, need - 1), ResourceExhaustedError);
}

}  // namespace
}  // namespace wordbridge
