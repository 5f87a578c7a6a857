#include "model/train/softmax_cross_entropy.h"

#include <gtest/gtest.h>

namespace wordbridge {
namespace {

class LossTest : public ::testing::TestWithParam<double> {};

TEST_P(LossTest, SoftmaxCrossEntropyMatchesTorchInValueAndGradient) {
  const double smoothing = GetParam();
  torch::manual_seed(5);
  auto base = torch::randn({7, 11}) * 4;
  auto targets = torch::tensor({0, 3, 10, 3, 5, 1, 9}, torch::kInt64);
  auto a = base.clone().requires_grad_(true);
  auto b = base.clone().requires_grad_(true);
  auto ours = SoftmaxCrossEntropy(a, targets, smoothing);
  auto reference = torch::nn::functional::cross_entropy(
      b, targets, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(smoothing));
  EXPECT_NEAR(ours.item<float>(), reference.item<float>(), 1e-5);
  (ours * 3).backward();
  (reference * 3).backward();
  EXPECT_TRUE(torch::allclose(a.grad(), b.grad(), 1e-5, 1e-6));
}

INSTANTIATE_TEST_SUITE_P(Smoothing, LossTest, ::testing::Values(0.0, 0.1));

}  // namespace
}  // namespace wordbridge
