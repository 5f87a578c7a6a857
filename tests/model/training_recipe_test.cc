// The attention training recipe's pieces: mixed-precision products, uniform initialisation, and that
// a toy model still learns with them.
#include <gtest/gtest.h>

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
  auto options = SmallAttentionSchedule(60);
  options.init_range = 0.1;
  options.mixed_precision = true;
  auto bundle = TrainToy(SmallAttentionConfig(0.0), options);
  EXPECT_LT(bundle->metrics().at("train_loss"), 0.5);
  EXPECT_EQ(bundle->training().at("init_range"), 0.1);
  EXPECT_EQ(bundle->training().at("mixed_precision"), 1.0);
}

}  // namespace
}  // namespace wordbridge
