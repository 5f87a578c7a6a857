#include "model/train/softmax_cross_entropy.h"

namespace wordbridge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class SoftmaxCrossEntropyFunction : public torch::autograd::Function<SoftmaxCrossEntropyFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits, const torch::Tensor& targets) {
    auto log_normaliser = logits.logsumexp(1, /*keepdim=*/true);                  // [N, 1]
    auto picked = logits.gather(1, targets.unsqueeze(1));                         // [N, 1]
    auto loss = (log_normaliser - picked).mean();
    auto probabilities = (logits - log_normaliser).exp_();                        // [N, V]
    ctx->save_for_backward({probabilities, targets});
    return loss;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto gradient = saved[0];  // the probabilities, reused as the gradient's storage
    const auto& targets = saved[1];
    // d mean(-log p_target) / d logits = (p - onehot(target)) / N
    gradient.scatter_add_(1, targets.unsqueeze(1), torch::full({targets.size(0), 1}, -1.0f, gradient.options()));
    gradient.mul_(grad_outputs[0] / static_cast<double>(targets.size(0)));
    return {gradient, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor SoftmaxCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  return SoftmaxCrossEntropyFunction::apply(logits, targets);
}

}  // namespace wordbridge
