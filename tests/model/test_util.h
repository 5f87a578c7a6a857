// Shared helpers for model tests: the seed's toy model, trained once per test binary.
#pragma once

#include <memory>

#include "model/store/model_bundle.h"
#include "model/train/seed_corpus.h"
#include "model/train/trainer.h"

namespace wordbridge {

// Trains `config` on the toy pairs with `options` and wraps the result as a bundle.
inline std::shared_ptr<const ModelBundle> TrainToy(const ModelConfig& config, const TrainingOptions& options) {
  CorpusReport report;
  auto pairs = CleanPairs(SeedToyPairs(), CorpusLimits{}, &report);
  auto result = TrainModel(config, pairs, {}, options, report, nullptr, nullptr);
  return std::make_shared<const ModelBundle>("toy", "1", std::move(result.parts));
}

// The seed program: its architecture, defaults and schedule. Trained once, shared by the tests.
inline std::shared_ptr<const ModelBundle> SeedToy() {
  static auto bundle = TrainToy(ModelConfig::ForArchitecture("seed"), TrainingOptions{});
  return bundle;
}

// A tiny attention network over whitespace tokens, and a schedule that trains it on the toy pairs.
inline ModelConfig SmallAttentionConfig(double dropout) {
  auto config = ModelConfig::ForArchitecture("attention");
  config.tokenizer = "whitespace";
  config.max_vocab_size = 0;
  config.embed_dim = 16;
  config.hidden_dim = 32;
  config.dropout = dropout;
  return config;
}
inline TrainingOptions SmallAttentionSchedule(int epochs) {
  TrainingOptions options;
  options.epochs = epochs;
  options.batch_size = 5;
  options.learning_rate = 0.01;
  return options;
}

// A small attention model on the toy pairs (for shapes and search behaviour, not quality).
inline std::shared_ptr<const ModelBundle> AttentionToy() {
  static auto bundle = TrainToy(SmallAttentionConfig(0.1), SmallAttentionSchedule(40));
  return bundle;
}

// The parts of `b`, sharing its network (not owned): to publish a trained bundle again.
inline ModelParts PartsOf(const ModelBundle& b) {
  return ModelParts{b.config(),
                    std::shared_ptr<const Tokenizer>(LoadTokenizer(b.config().tokenizer, "")),
                    std::shared_ptr<const Tokenizer>(LoadTokenizer(b.config().tokenizer, "")),
                    b.vocabulary(Side::kSource),
                    b.vocabulary(Side::kTarget),
                    std::shared_ptr<Seq2SeqNet>(&b.network(), [](Seq2SeqNet*) {}),
                    b.metrics()};
}

}  // namespace wordbridge
