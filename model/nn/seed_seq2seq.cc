#include "model/nn/seed_seq2seq.h"

namespace wordbridge {

namespace rnn = torch::nn::utils::rnn;

SeedSeq2Seq::SeedSeq2Seq(const ModelConfig& c) {
  encoder_embedding_ = register_module(
      "encoder_embedding",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(c.source_vocab_size, c.embed_dim).padding_idx(0)));
  encoder_lstm_ = register_module(
      "encoder_lstm",
      torch::nn::LSTM(torch::nn::LSTMOptions(c.embed_dim, c.hidden_dim).num_layers(c.num_layers).batch_first(true)));
  decoder_embedding_ = register_module(
      "decoder_embedding",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(c.target_vocab_size, c.embed_dim).padding_idx(0)));
  decoder_lstm_ = register_module(
      "decoder_lstm",
      torch::nn::LSTM(torch::nn::LSTMOptions(c.embed_dim, c.hidden_dim).num_layers(c.num_layers).batch_first(true)));
  output_ = register_module("output", torch::nn::Linear(c.hidden_dim, c.target_vocab_size));
}

DecoderState SeedSeq2Seq::Encode(const torch::Tensor& source, const torch::Tensor& lengths,
                                 EncoderOutput* out) {
  auto embedded = encoder_embedding_(source);
  auto packed = rnn::pack_padded_sequence(embedded, lengths.to(torch::kCPU), /*batch_first=*/true,
                                          /*enforce_sorted=*/false);
  auto result = encoder_lstm_->forward_with_packed_input(packed);
  auto h = std::get<0>(std::get<1>(result));
  auto c = std::get<1>(std::get<1>(result));
  if (out != nullptr) {
    out->source_mask = source.ne(0);
    out->context = h[-1];
  }
  return DecoderState{h, c, {}};
}

torch::Tensor SeedSeq2Seq::DecoderHidden(const EncoderOutput&, DecoderState state,
                                         const torch::Tensor& target_in) {
  auto embedded = decoder_embedding_(target_in);
  return std::get<0>(decoder_lstm_(embedded, std::make_tuple(state.h, state.c)));
}

torch::Tensor SeedSeq2Seq::Logits(const torch::Tensor& hidden) { return output_(hidden); }

torch::Tensor SeedSeq2Seq::DecodeStep(const EncoderOutput&, DecoderState* state,
                                      const torch::Tensor& tokens, torch::Tensor*) {
  auto embedded = decoder_embedding_(tokens.unsqueeze(1));
  auto result = decoder_lstm_(embedded, std::make_tuple(state->h, state->c));
  state->h = std::get<0>(std::get<1>(result));
  state->c = std::get<1>(std::get<1>(result));
  return output_(std::get<0>(result).squeeze(1));
}

}  // namespace wordbridge
