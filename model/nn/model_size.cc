#include "model/nn/model_size.h"

#include <cstdio>

#include "model/common/errors.h"

namespace wordbridge {
namespace {

// An LSTM layer's weights: W_ih [4h, in], W_hh [4h, h] and two biases [4h].
int64_t LstmLayer(int64_t input, int64_t hidden) { return 4 * hidden * (input + hidden) + 8 * hidden; }

}  // namespace

int64_t ParameterCount(const ModelConfig& c) {
  const int64_t e = c.embed_dim, h = c.hidden_dim, layers = c.num_layers;
  const int64_t vs = c.source_vocab_size, vt = c.target_vocab_size;
  int64_t count = vs * e + vt * e;  // the two embedding tables
  if (c.architecture == "seed") {
    for (int64_t l = 0; l < layers; ++l) count += 2 * LstmLayer(l == 0 ? e : h, h);  // encoder and decoder
    return count + h * vt + vt;                                                     // output layer
  }
  // Attention: a bidirectional encoder of h/2 per direction, a decoder fed [embedding; feed].
  for (int64_t l = 0; l < layers; ++l) count += 2 * LstmLayer(l == 0 ? e : h, h / 2);
  for (int64_t l = 0; l < layers; ++l) count += LstmLayer(l == 0 ? e + h : h, h);
  count += h * h + 2 * h * h;  // W_a and W_c
  if (c.bridge) count += 2 * (h * h + h);  // the bridge's two Linear layers
  if (c.tie_embeddings) {
    if (h != e) count += h * e;  // the projection to the embedding width
    count += vt;                 // the output bias
  } else {
    count += h * vt + vt;
  }
  return count;
}

TrainingMemory EstimateTrainingMemory(const ModelConfig& c, int64_t batch_target_tokens) {
  TrainingMemory m;
  const int64_t params = ParameterCount(c);
  m.weights = 4 * params;
  m.gradients = 4 * params;
  m.optimizer = 8 * params;
  // Per target token the backward pass keeps the output layer's scores and softmax (2 V floats plus
  // bfloat16 copies), the decoder's gates and states per layer (~8 H), the attention and combine
  // vectors (~4 H) and the embedding; per source token (about as many) the encoder's gates and
  // outputs per layer (~8 H). Floats of 4 bytes; a generous bound rather than a measurement.
  const int64_t h = c.hidden_dim, e = c.embed_dim, layers = c.num_layers;
  const int64_t per_token = 3 * c.target_vocab_size + layers * 16 * h + 4 * h + 2 * e;
  m.activations = 4 * batch_target_tokens * per_token;
  return m;
}

std::string FormatBytes(int64_t bytes) {
  char text[32];
  if (bytes >= (int64_t{1} << 30)) {
    std::snprintf(text, sizeof(text), "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  } else {
    std::snprintf(text, sizeof(text), "%.0f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return text;
}

std::string TrainingMemory::Describe() const {
  return FormatBytes(total()) + " (weights " + FormatBytes(weights) + ", gradients " + FormatBytes(gradients) +
         ", optimizer " + FormatBytes(optimizer) + ", activations " + FormatBytes(activations) + ")";
}

void CheckTrainingMemory(const ModelConfig& config, int64_t batch_target_tokens, int64_t max_bytes) {
  if (max_bytes <= 0) return;
  const auto memory = EstimateTrainingMemory(config, batch_target_tokens);
  if (memory.total() > max_bytes) {
    throw ResourceExhaustedError("training this model needs about " + memory.Describe() + " for " +
                                 std::to_string(ParameterCount(config)) + " parameters, above the server's " +
                                 FormatBytes(max_bytes) +
                                 " budget (--max-model-bytes); make hidden_dim, embed_dim, num_layers, the "
                                 "vocabulary or the batch smaller");
  }
}

int64_t EstimateServingMemory(const ModelConfig& c) {
  return 4 * ParameterCount(c) + 4 * (c.source_vocab_size + c.target_vocab_size) * c.embed_dim;
}

void CheckServingMemory(const ModelConfig& config, int64_t max_bytes) {
  constexpr int64_t kMaxVocabulary = int64_t{1} << 31;
  for (const int64_t size : {config.source_vocab_size, config.target_vocab_size}) {
    if (!(5 <= size && size < kMaxVocabulary)) {
      throw FailedPreconditionError("model config: vocabulary size " + std::to_string(size) +
                                    " is outside [5, 2^31)");
    }
  }
  if (max_bytes <= 0) return;
  const int64_t bytes = EstimateServingMemory(config);
  if (bytes > max_bytes) {
    throw ResourceExhaustedError("serving this model needs at least " + FormatBytes(bytes) + " for " +
                                 std::to_string(ParameterCount(config)) + " parameters, above the server's " +
                                 FormatBytes(max_bytes) + " budget (--max-model-bytes)");
  }
}

}  // namespace wordbridge
