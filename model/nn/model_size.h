// What a model costs before it exists: its parameter count and the memory training it needs, from
// the config alone, so an oversized request is refused before anything is allocated (one Train
// request with hidden 4096 x 8 layers once grew a server to 24 GB and the OOM killer took it down,
// with every model it served).
#pragma once

#include <cstdint>
#include <string>

#include "model/nn/model_config.h"

namespace wordbridge {

// Trainable parameters of the network `config` describes (its vocabulary sizes must be set).
int64_t ParameterCount(const ModelConfig& config);

struct TrainingMemory {
  int64_t weights = 0;      // float32 parameters
  int64_t gradients = 0;    // one float32 gradient per parameter
  int64_t optimizer = 0;    // Adam's two moments
  int64_t activations = 0;  // what one batch keeps for its backward pass (an upper-bound estimate)
  int64_t total() const { return weights + gradients + optimizer + activations; }
  std::string Describe() const;  // "2.1 GiB (weights ..., gradients ..., optimizer ..., activations ...)"
};

// batch_target_tokens: the most target tokens one batch holds (token batches: their cap; sentence
// batches: sentences x the longest sentence allowed).
TrainingMemory EstimateTrainingMemory(const ModelConfig& config, int64_t batch_target_tokens);

// Throws ResourceExhaustedError naming the estimate and the budget when the estimate is above
// max_bytes (0 = no limit).
void CheckTrainingMemory(const ModelConfig& config, int64_t batch_target_tokens, int64_t max_bytes);

// What serving a loaded version holds at least: its float32 weights and the FAISS indexes' normalised
// copies of both embedding tables (packed decoder copies come later, per compute type, and are smaller).
int64_t EstimateServingMemory(const ModelConfig& config);

// For a config read from disk (a version this server may not have written), before its network is
// made: FailedPreconditionError when the vocabulary sizes are outside [5, 2^31) (so no size below can
// overflow), ResourceExhaustedError when EstimateServingMemory is above max_bytes (0 = no limit).
void CheckServingMemory(const ModelConfig& config, int64_t max_bytes);

// Bytes as "512 MiB" / "2.1 GiB".
std::string FormatBytes(int64_t bytes);

}  // namespace wordbridge
