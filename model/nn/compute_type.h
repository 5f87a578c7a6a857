// ComputeType: the arithmetic a decoder's matrix products run in at inference (CTranslate2's
// compute_type). A compute type selects which pre-packed copy of the decoder's weights
// (model/nn/packed_linear.h) decoding uses; the network's own forward pass is float32, and training
// has its own precision setting (TrainingOptions::mixed_precision).
#pragma once

#include <optional>
#include <string>

namespace wordbridge {

enum class ComputeType {
  kFloat32,   // float32 weights and products (oneDNN's packed kernels: exact up to float rounding)
  kBFloat16,  // bfloat16 weights and inputs, float32 accumulation and outputs
  kInt8,      // int8 weights (a scale per output row), inputs quantised per row at each step
};
constexpr int kNumComputeTypes = 3;

// The compute type "default" names: the fastest whose test BLEU stays within 0.3 of float32 on the
// side-by-side benchmark (docs/design.md, "Compute types"; bench/results/side-by-side-*.txt).
constexpr ComputeType kDefaultComputeType = ComputeType::kInt8;

const char* ComputeTypeName(ComputeType type);
// "float32", "bfloat16", "int8" or "default"; InvalidArgumentError naming the accepted values otherwise.
ComputeType ParseComputeType(const std::string& name);
// The names ParseComputeType accepts, for help texts and errors.
const char* AcceptedComputeTypes();

}  // namespace wordbridge
