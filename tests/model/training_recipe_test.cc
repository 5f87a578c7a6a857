// The attention training recipe's pieces: mixed-precision products, uniform initialisation, and that
// a toy model still learns with them.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "model/nn/attention_seq2seq.h"
#include "model/nn/mixed_precision.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

TEST(MixedPrecisionTest, Bf16LinearMatchesFloatLinearInValueAndGradient) {
  torch::manual_seed(3);
  auto x0 = torch::randn({9, 24});
  auto w0 = torch::randn({13, 24}) * 0.1;
  auto b0 = torch::randn({13});
  auto x = x0.clone().requires_grad_(true), w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
  auto xr = x0.clone().requires_grad_(true), wr = w0.clone().requires_grad_(true), br = b0.clone().requires_grad_(true);
  auto y = Bf16Linear(x, w, b);
  auto yr = torch::nn::functional::linear(xr, wr, br);
  ASSERT_EQ(y.scalar_type(), torch::kFloat32);
  ASSERT_EQ(y.sizes(), yr.sizes());
  // bfloat16 keeps 8 significant bits: products of 24 terms agree to about 1%.
  EXPECT_TRUE(torch::allclose(y, yr, 2e-2, 2e-2)) << (y - yr).abs().max();
  auto g = torch::randn({9, 13});
  (y * g).sum().backward();
  (yr * g).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), xr.grad(), 2e-2, 2e-2));
  EXPECT_TRUE(torch::allclose(w.grad(), wr.grad(), 2e-2, 5e-2));
  EXPECT_TRUE(torch::allclose(b.grad(), br.grad(), 1e-5, 1e-5));  // the bias gradient stays float32
}

TEST(MixedPrecisionTest, Bf16LinearKeepsLeadingDimensions) {
  auto y = Bf16Linear(torch::ones({2, 3, 4}), torch::ones({5, 4}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{2, 3, 5}));
  EXPECT_NEAR(y[1][2][4].item<float>(), 4.0, 1e-6);
}

TEST(MixedPrecisionTest, TrainingStepMatchesFloatStepOnTheAttentionNetwork) {
  // The same batch through the float32 and mixed-precision paths gives nearly the same loss.
  auto config = SmallAttentionConfig(0.0);
  config.source_vocab_size = config.target_vocab_size = 20;
  torch::manual_seed(1);
  auto net = std::make_shared<AttentionSeq2Seq>(config);
  InitializeUniform(*net, 0.1);
  net->train();
  auto source = torch::randint(4, 20, {3, 6}, torch::kInt64);
  auto lengths = torch::tensor({6, 4, 2}, torch::kInt64);
  auto target_in = torch::randint(4, 20, {3, 5}, torch::kInt64);
  auto loss_of = [&](bool mixed) {
    net->SetMixedPrecision(mixed);
    EncoderOutput encoded;
    auto state = net->Encode(source, lengths, &encoded);
    return net->Logits(net->DecoderHidden(encoded, state, target_in)).logsumexp(-1).mean().item<double>();
  };
  const double exact = loss_of(false);
  EXPECT_NEAR(loss_of(true), exact, 1e-2 * std::abs(exact) + 1e-3);
}

TEST(TeacherForcingTest, HoistedTrainingLoopMatchesTheStepByStepDecoder) {
  // Without dropout, training mode (input products hoisted out of the time loop) and eval mode
  // (one lstm_cell per step, as search runs) compute the same decoder outputs.
  auto config = SmallAttentionConfig(0.0);
  config.source_vocab_size = config.target_vocab_size = 20;
  torch::manual_seed(2);
  auto net = std::make_shared<AttentionSeq2Seq>(config);
  InitializeUniform(*net, 0.3);
  auto source = torch::randint(4, 20, {3, 6}, torch::kInt64);
  auto lengths = torch::tensor({6, 4, 2}, torch::kInt64);
  auto target_in = torch::randint(4, 20, {3, 5}, torch::kInt64);
  auto hidden = [&](bool training) {
    net->train(training);
    EncoderOutput encoded;
    auto state = net->Encode(source, lengths, &encoded);
    return net->DecoderHidden(encoded, state, target_in).detach();
  };
  auto hoisted = hidden(true);
  auto stepped = hidden(false);
  EXPECT_TRUE(torch::allclose(hoisted, stepped, 1e-5, 1e-6)) << (hoisted - stepped).abs().max();
}

TEST(InitializationTest, UniformRangeZeroBiasesAndZeroPadRows) {
  auto config = SmallAttentionConfig(0.1);
  config.source_vocab_size = config.target_vocab_size = 30;
  auto net = std::make_shared<AttentionSeq2Seq>(config);
  InitializeUniform(*net, 0.05);
  for (const auto& p : net->named_parameters()) {
    if (p.value().dim() > 1) {
      EXPECT_LE(p.value().abs().max().item<double>(), 0.05 + 1e-7) << p.key();
    } else {
      EXPECT_EQ(p.value().abs().max().item<double>(), 0.0) << p.key();
    }
  }
  EXPECT_EQ(net->source_embedding()[0].abs().sum().item<double>(), 0.0);
  EXPECT_EQ(net->target_embedding()[0].abs().sum().item<double>(), 0.0);
  EXPECT_GT(net->target_embedding()[1].abs().sum().item<double>(), 0.0);
}

TEST(TrainingRecipeTest, ToyModelLearnsWithUniformInitAndMixedPrecision) {
  auto options = SmallAttentionSchedule(120);  // at init 0.1 the bridge starts small: more epochs on 5 pairs
  options.init_range = 0.1;
  options.mixed_precision = true;
  auto bundle = TrainToy(SmallAttentionConfig(0.0), options);
  EXPECT_LT(bundle->metrics().at("train_loss"), 0.5);
  EXPECT_EQ(bundle->training().at("init_range"), 0.1);
  EXPECT_EQ(bundle->training().at("mixed_precision"), 1.0);
}

TEST(BridgeTest, ConfigRoundTripsAndConfigsWrittenBeforeItHaveNone) {
  auto config = SmallAttentionConfig(0.0);
  config.bridge = true;
  EXPECT_TRUE(ModelConfig::FromJson(config.ToJson()).bridge);
  config.bridge = false;
  EXPECT_FALSE(ModelConfig::FromJson(config.ToJson()).bridge);
  // A config.json from before the field existed: the network it describes has no bridge.
  auto json = nlohmann::json::parse(config.ToJson());
  json.erase("bridge");
  EXPECT_FALSE(ModelConfig::FromJson(json.dump()).bridge);
}

TEST(BridgeTest, BridgedDecoderStartsFromTheBridgeAndLearns) {
  auto config = SmallAttentionConfig(0.0);
  config.source_vocab_size = config.target_vocab_size = 20;
  config.bridge = false;
  torch::manual_seed(4);
  auto plain = std::make_shared<AttentionSeq2Seq>(config);
  config.bridge = true;
  torch::manual_seed(4);
  auto bridged = std::make_shared<AttentionSeq2Seq>(config);
  EXPECT_EQ(bridged->parameters().size(), plain->parameters().size() + 4);  // two weights, two biases
  InitializeUniform(*bridged, 0.3);
  bridged->eval();
  auto source = torch::randint(4, 20, {2, 5}, torch::kInt64);
  EncoderOutput encoded;
  auto state = bridged->Encode(source, torch::tensor({5, 5}, torch::kInt64), &encoded);
  // The decoder starts from tanh(W_h h_enc + b_h), so h lies in (-1, 1).
  EXPECT_LT(state.h.abs().max().item<double>(), 1.0);
  auto trained = TrainToy(config, SmallAttentionSchedule(60));
  EXPECT_LT(trained->metrics().at("train_loss"), 0.5);
  EXPECT_TRUE(trained->config().bridge);
}

}  // namespace
}  // namespace wordbridge
