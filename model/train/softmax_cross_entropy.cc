#include "model/train/softmax_cross_entropy.h"

namespace wordbridge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class SoftmaxCrossEntropyFunction : public torch::autograd::Function<SoftmaxCrossEntropyFunction> {
 public:
  // Smoothed target q = (1 - s) onehot + s / V; loss = mean over rows of -sum_v q_v log p_v
  //   = (1 - s)(lse - logit_target) + s (lse - mean_v logit_v).
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits, const torch::Tensor& targets,
                               double smoothing) {
    auto log_normaliser = logits.logsumexp(1, /*keepdim=*/true);  // [N, 1]
    auto picked = logits.gather(1, targets.unsqueeze(1));         // [N, 1]
    auto loss = (1.0 - smoothing) * (log_normaliser - picked).mean();
    if (smoothing > 0) loss = loss + smoothing * (log_normaliser - logits.mean(1, /*keepdim=*/true)).mean();
    auto probabilities = (logits - log_normaliser).exp_();        // [N, V]
    ctx->save_for_backward({probabilities, targets});
    ctx->saved_data["smoothing"] = smoothing;
    return loss;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto gradient = saved[0];  // the probabilities, reused as the gradient's storage
    const auto& targets = saved[1];
    const double smoothing = ctx->saved_data["smoothing"].toDouble();
    // d loss / d logits = (p - q) / N
    if (smoothing > 0) gradient.sub_(smoothing / static_cast<double>(gradient.size(1)));
    gradient.scatter_add_(1, targets.unsqueeze(1),
                          torch::full({targets.size(0), 1}, -(1.0 - smoothing), gradient.options()));
    gradient.mul_(grad_outputs[0] / static_cast<double>(targets.size(0)));
    return {gradient, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor SoftmaxCrossEntropy(const torch::Tensor& logits, const torch::Tensor& targets, double smoothing) {
  return SoftmaxCrossEntropyFunction::apply(logits, targets, smoothing);
}

}  // namespace wordbridge
