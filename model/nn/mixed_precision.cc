#include "model/nn/mixed_precision.h"

#include <ATen/Context.h>

namespace wordbridge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

class Bf16LinearFunction : public torch::autograd::Function<Bf16LinearFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& b, const torch::Tensor& w16_given) {
    auto x16 = x.to(torch::kBFloat16);
    auto w16 = w16_given.numel() > 0 ? w16_given : w.to(torch::kBFloat16);
    ctx->save_for_backward({x16, w16});
    ctx->saved_data["x_dtype"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["has_bias"] = b.numel() > 0;
    auto y = torch::mm(x16, w16.t()).to(torch::kFloat32);
    if (b.numel() > 0) y.add_(b);
    return y;
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    const auto& x16 = saved[0];
    const auto& w16 = saved[1];
    const auto& g = grad_outputs[0];
    auto g16 = g.to(torch::kBFloat16);
    auto gx = torch::mm(g16, w16).to(static_cast<torch::ScalarType>(ctx->saved_data["x_dtype"].toInt()));
    auto gw = torch::mm(g16.t(), x16).to(torch::kFloat32);
    torch::Tensor gb;
    if (ctx->saved_data["has_bias"].toBool()) gb = g.sum(0);
    return {gx, gw, gb, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor Bf16Linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b,
                         const torch::Tensor& w16) {
  auto shape = x.sizes().vec();
  auto flat = x.reshape({-1, x.size(-1)});
  // autograd functions take defined tensors only: no bias travels as an empty one.
  auto none = torch::empty({0});
  auto y = Bf16LinearFunction::apply(flat, w, b.defined() ? b : none, w16.defined() ? w16.detach() : none);
  shape.back() = w.size(0);
  return y.view(shape);
}

bool FastBf16MatmulAvailable() {
  static const bool available = at::globalContext().userEnabledMkldnn() && at::hasMKLDNN() &&
                                __builtin_cpu_supports("avx512bf16");
  return available;
}

}  // namespace wordbridge
