// The encoder-decoder interface every architecture implements. Batch-first throughout:
// sources are [B, S] int64 padded with <PAD>=0, with their true lengths in [B].
// Training calls Encode then DecoderHidden over the whole shifted target (teacher forcing) and
// projects only the real (non-pad) positions with Logits. Search calls Encode, then DecodeStep
// one token at a time, reordering states with SelectBatch when beams move. At inference DecodeStep
// may multiply with a PackedDecoder (the decoder's weights pre-packed for a compute type) instead of
// the module's own weights; training never does.
#pragma once

#include <torch/torch.h>

#include <memory>

#include "model/nn/model_config.h"
#include "model/nn/packed_linear.h"

namespace wordbridge {

// What the encoder hands the decoder.
struct EncoderOutput {
  torch::Tensor memory;       // [B, S, H] per-token outputs (attention models; undefined for seed)
  torch::Tensor source_mask;  // [B, S] bool, true at real tokens
  torch::Tensor context;      // [B, H] the sentence vector (seed: the last layer's final hidden state)
};

// The decoder's recurrent state between steps.
struct DecoderState {
  torch::Tensor h, c;  // [L, B, H]
  torch::Tensor feed;  // [B, H] last attentional output (input feeding; undefined for seed)
};

class Seq2SeqNet : public torch::nn::Module {
 public:
  virtual DecoderState Encode(const torch::Tensor& source, const torch::Tensor& lengths,
                              EncoderOutput* out) = 0;
  // Teacher forcing: decoder outputs [B, T, D] for target inputs [B, T] (without the last token).
  virtual torch::Tensor DecoderHidden(const EncoderOutput& encoded, DecoderState state,
                                      const torch::Tensor& target_in) = 0;
  // Output layer: [..., D] -> [..., target vocabulary] unnormalised scores.
  virtual torch::Tensor Logits(const torch::Tensor& hidden) = 0;
  // One step: tokens [B] -> logits [B, V]. Updates state; fills attention [B, S] when non-null and
  // the architecture has attention (left undefined otherwise). With `packed` (made by this network's
  // PackDecoder, eval mode only) the step's matrix products use those copies. With `output` (rows of
  // the output layer made by PackOutputRows, a vocabulary shortlist) the logits are [B, N], one
  // column per row of `output`, instead of the whole vocabulary.
  virtual torch::Tensor DecodeStep(const EncoderOutput& encoded, DecoderState* state,
                                   const torch::Tensor& tokens, torch::Tensor* attention,
                                   const PackedDecoder* packed, const PackedLinear* output = nullptr) = 0;
  // The decoder's weight matrices (LSTM gates, attention, output layer) packed for `type`: a snapshot
  // of the current weights for inference, immutable and shareable between threads.
  virtual std::unique_ptr<const PackedDecoder> PackDecoder(ComputeType type) const = 0;
  // The output layer's rows (weights and bias) of target ids `ids` (int64 [N]) gathered and packed for
  // `type`: DecodeStep's `output` for logits over those ids only, in that order.
  virtual std::unique_ptr<const PackedLinear> PackOutputRows(const torch::Tensor& ids, ComputeType type) const = 0;
  // Floating-point operations of one decoder step for one row whose source has `source_length`
  // tokens: matrix products and attention, as a throughput benchmark counts them.
  virtual int64_t DecodeStepFlops(int64_t source_length) const = 0;

  virtual torch::Tensor source_embedding() const = 0;  // [source vocab, E]
  virtual torch::Tensor target_embedding() const = 0;  // [target vocab, E]
  // The output layer's weight rows, one per target token (the target embedding table when tied).
  virtual torch::Tensor output_rows() const = 0;
  virtual bool has_attention() const = 0;
  // Training only: run the large matrix products in bfloat16 with float32 weights (mixed precision).
  // Architectures without such a path ignore it; inference is unaffected.
  virtual void SetMixedPrecision(bool on) {}
};

// Builds the network a config names (after the vocabulary sizes are set).
std::shared_ptr<Seq2SeqNet> CreateNetwork(const ModelConfig& config);

// Draws every weight matrix uniform in [-range, range] and zeroes every bias and the embeddings'
// <PAD> rows (the usual NMT initialisation; LibTorch's default N(0, 1) embeddings make a tied output
// layer start with huge logits).
void InitializeUniform(Seq2SeqNet& net, double range);

// Keeps rows `index` (int64 [N]) of every batch-first tensor (dimension 1 for h and c).
EncoderOutput SelectBatch(const EncoderOutput& encoded, const torch::Tensor& index);
DecoderState SelectBatch(const DecoderState& state, const torch::Tensor& index);

}  // namespace wordbridge
