// The "attention" architecture: a bidirectional LSTM encoder (hidden_dim/2 per direction, so its
// outputs and final states are hidden_dim wide and initialise the decoder, directly or through a learned
// bridge) and an LSTM decoder
// with Luong "general" attention and input feeding; dropout; optionally tied target embeddings.
#pragma once

#include <array>
#include <vector>

#include "model/nn/seq2seq.h"

namespace wordbridge {

class AttentionSeq2Seq : public Seq2SeqNet {
 public:
  explicit AttentionSeq2Seq(const ModelConfig& config);

  DecoderState Encode(const torch::Tensor& source, const torch::Tensor& lengths,
                      EncoderOutput* out) override;
  torch::Tensor DecoderHidden(const EncoderOutput& encoded, DecoderState state,
                              const torch::Tensor& target_in) override;
  torch::Tensor Logits(const torch::Tensor& hidden) override;
  torch::Tensor DecodeStep(const EncoderOutput& encoded, DecoderState* state,
                           const torch::Tensor& tokens, torch::Tensor* attention,
                           const PackedDecoder* packed, const PackedLinear* output = nullptr) override;
  std::unique_ptr<const PackedDecoder> PackDecoder(ComputeType type) const override;
  std::unique_ptr<const PackedLinear> PackOutputRows(const torch::Tensor& ids, ComputeType type) const override;
  int64_t DecodeStepFlops(int64_t source_length) const override;

  torch::Tensor source_embedding() const override { return source_embedding_->weight; }
  torch::Tensor target_embedding() const override { return target_embedding_->weight; }
  torch::Tensor output_rows() const override { return tied_ ? target_embedding_->weight : output_->weight; }
  bool has_attention() const override { return true; }
  void SetMixedPrecision(bool on) override { mixed_precision_ = on; }

 private:
  struct Packed;
  // One decoder step from an embedded input [B, E]; returns the attentional output [B, H]. Multiplies
  // with `packed`'s copies when given, with the modules' weights otherwise.
  torch::Tensor Step(const EncoderOutput& encoded, DecoderState* state, const torch::Tensor& embedded,
                     torch::Tensor* attention, const Packed* packed);
  // Luong attention over the encoder memory for the top layer's output `query` [B, H]; sets
  // state->feed and returns the attentional vector.
  torch::Tensor Attend(const EncoderOutput& encoded, const torch::Tensor& query, DecoderState* state,
                       torch::Tensor* attention, const Packed* packed);
  // x W^T + b, in bfloat16 products when training with mixed precision.
  torch::Tensor Project(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {}) const;

  int64_t embed_dim_;
  int64_t hidden_dim_;
  int64_t num_layers_;
  bool tied_;
  torch::nn::Embedding source_embedding_{nullptr};
  torch::nn::LSTM encoder_{nullptr};
  torch::nn::Embedding target_embedding_{nullptr};
  torch::nn::LSTM decoder_{nullptr};
  torch::nn::Linear attention_in_{nullptr};   // W_a of score(h_t, s) = h_t . W_a s
  torch::nn::Linear attention_out_{nullptr};  // W_c of tanh(W_c [context; h_t])
  torch::nn::Linear to_embedding_{nullptr};   // tied and hidden != embed: H -> E before the output
  torch::nn::Linear output_{nullptr};         // untied output layer
  torch::nn::Linear bridge_h_{nullptr};       // ModelConfig::bridge: encoder final h -> decoder h
  torch::nn::Linear bridge_c_{nullptr};       // and c -> c
  torch::Tensor output_bias_;                 // tied output layer's bias
  torch::nn::Dropout dropout_{nullptr};
  // decoder_'s parameters per layer (w_ih, w_hh, b_ih, b_hh), aliases used by Step.
  std::vector<std::array<torch::Tensor, 4>> decoder_weights_;
  double layer_dropout_ = 0.0;
  bool mixed_precision_ = false;
};

}  // namespace wordbridge
