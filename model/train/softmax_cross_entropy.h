// Mean cross-entropy of logits [N, V] against targets [N] as one autograd function: the softmax is
// computed once and turned into the gradient in place. Same value and gradient as
// torch::nn::functional::cross_entropy (no label smoothing), with three fewer passes over the N x V
// scores, which dominate training when V is a whole-word vocabulary (28k words on the Bible).
#pragma once

#include <torch/torch.h>

namespace wordbridge {

torch::Tensor SoftmaxCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace wordbridge
