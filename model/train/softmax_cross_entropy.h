// Mean cross-entropy of logits [N, V] against targets [N] as one autograd function: the softmax is
// computed once and turned into the gradient in place. Same value and gradient as
// torch::nn::functional::cross_entropy with the same label smoothing, with fewer passes over the
// N x V scores, which dominate training when V is a whole-word vocabulary (28k words on the Bible).
#pragma once

#include <torch/torch.h>

namespace wordbridge {

// `smoothing` spreads that much of the target mass uniformly over the vocabulary (0 = none).
torch::Tensor SoftmaxCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets, double smoothing = 0.0);

}  // namespace wordbridge
