// Pre-packed decoder weights for inference. A PackedLinear holds one weight matrix converted once
// into oneDNN's blocked layout for a compute type (float32, bfloat16 or int8), so no decoding step
// repacks or converts weights; the architectures group theirs into a PackedDecoder
// (Seq2SeqNet::PackDecoder), which ModelBundle builds once per compute type on first use.
// Everything here is immutable after construction and safe to use from several threads at once.
// Inference only: a packed copy is a snapshot and does not follow later weight updates.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <tuple>
#include <vector>

#include "model/nn/compute_type.h"

namespace wordbridge {

// y = x W^T + b for a fixed W [N, K] and optional b [N], in `type`'s arithmetic:
// - float32: oneDNN's float32 kernel on the packed copy (exact up to float rounding).
// - bfloat16: W and x rounded to bfloat16, products accumulated in float32.
// - int8: W quantised per output row (symmetric, scale max|row| / 127); each call quantises every
//   row of x to unsigned 8 bits with its own scale (max|row| / 127, zero point 128), multiplies in
//   int32 (u8 x s8, AVX512-VNNI) and rescales to float32.
// Matrix-product primitives are made per (rows, threads) on first use and kept (under a mutex);
// inputs, outputs and scratch memory are per call, so concurrent calls share nothing mutable.
// With `row_multiple` > 1, inputs are padded with zero rows to a multiple of it (and the padding's
// outputs dropped), so a short-lived copy (a batch's shortlist) makes few primitives.
class PackedLinear {
 public:
  PackedLinear(const torch::Tensor& weight, const torch::Tensor& bias, ComputeType type, int64_t row_multiple = 1);
  ~PackedLinear();
  PackedLinear(PackedLinear&&) noexcept;
  PackedLinear& operator=(PackedLinear&&) noexcept;

  // x [M, K] -> [M, N] float32.
  torch::Tensor Forward(const torch::Tensor& x) const;

  int64_t in_features() const;
  int64_t out_features() const;
  ComputeType type() const;
  // Bytes held by the packed copy (weights, scales, biases).
  size_t bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The row multiple of short-lived copies: a batch's rows shrink as sentences finish, and each new row
// count would otherwise make (JIT-compile) a primitive for a copy that lives for one batch.
inline constexpr int64_t kShortLivedRowMultiple = 16;

// One LSTM layer's step as a single packed product over [x; h] (W_ih and W_hh side by side, the two
// biases summed), then lstm_cell's pointwise maths.
class PackedLstmLayer {
 public:
  PackedLstmLayer(const torch::Tensor& w_ih, const torch::Tensor& w_hh, const torch::Tensor& b_ih,
                  const torch::Tensor& b_hh, ComputeType type);
  // Inputs `x` (concatenated in order, [B, *]), state h and c [B, H] -> new (h, c).
  std::tuple<torch::Tensor, torch::Tensor> Step(const std::vector<torch::Tensor>& x, const torch::Tensor& h,
                                                const torch::Tensor& c) const;
  size_t bytes() const { return gates_.bytes(); }

 private:
  PackedLinear gates_;
};

// The decoder's weight matrices packed for one compute type. Each architecture derives its own.
struct PackedDecoder {
  explicit PackedDecoder(ComputeType t) : type(t) {}
  virtual ~PackedDecoder() = default;
  virtual size_t bytes() const = 0;
  const ComputeType type;
};

}  // namespace wordbridge
