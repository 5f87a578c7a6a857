// Mixed-precision training GEMMs: y = x W^T + b with the matrix products in bfloat16 and the weights
// kept in float32 (the optimiser's master copy), as autocast does on CPUs. On AVX512-BF16 machines
// ATen runs bfloat16 matmuls through oneDNN, about 4x the float32 OpenBLAS rate for the shapes of
// this project (docs/design.md, "The attention training recipe"); the forward and both backward products use it.
#pragma once

#include <torch/torch.h>

namespace wordbridge {

// x [..., in] (any float dtype), w [out, in] float32, b [out] or undefined -> [..., out] float32.
// w16, when given, is w already cast to bfloat16 (a loop over time steps casts its weights once).
torch::Tensor Bf16Linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {},
                         const torch::Tensor& w16 = {});

// Whether this machine's ATen computes bfloat16 matmuls with oneDNN (else they are slow emulations
// and mixed precision must stay off).
bool FastBf16MatmulAvailable();

}  // namespace wordbridge
