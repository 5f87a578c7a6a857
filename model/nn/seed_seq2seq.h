// The seed program's network, reproduced exactly: Embedding(padding_idx 0) -> packed unidirectional
// LSTM encoder whose final (h, c) initialise an Embedding -> LSTM -> Linear decoder.
#pragma once

#include "model/nn/seq2seq.h"

namespace wordbridge {

class SeedSeq2Seq : public Seq2SeqNet {
 public:
  explicit SeedSeq2Seq(const ModelConfig& config);

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

  torch::Tensor source_embedding() const override { return encoder_embedding_->weight; }
  torch::Tensor target_embedding() const override { return decoder_embedding_->weight; }
  torch::Tensor output_rows() const override { return output_->weight; }
  bool has_attention() const override { return false; }

 private:
  // Registered in the seed's construction order so that a fixed seed draws the same initial weights.
  torch::nn::Embedding encoder_embedding_{nullptr};
  torch::nn::LSTM encoder_lstm_{nullptr};
  torch::nn::Embedding decoder_embedding_{nullptr};
  torch::nn::LSTM decoder_lstm_{nullptr};
  torch::nn::Linear output_{nullptr};
  int64_t embed_dim_, hidden_dim_, num_layers_;
};

}  // namespace wordbridge
