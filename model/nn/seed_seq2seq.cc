#include "model/nn/seed_seq2seq.h"

#include <optional>

namespace wordbridge {

namespace rnn = torch::nn::utils::rnn;

namespace {
// The seed decoder's matrices packed for one compute type: each LSTM layer's gates and the output.
struct SeedPacked : PackedDecoder {
  using PackedDecoder::PackedDecoder;
  std::vector<PackedLstmLayer> layers;
  std::optional<PackedLinear> output;
  size_t bytes() const override {
    size_t total = output->bytes();
    for (const auto& layer : layers) total += layer.bytes();
    return total;
  }
};
}  // namespace

SeedSeq2Seq::SeedSeq2Seq(const ModelConfig& c)
    : embed_dim_(c.embed_dim), hidden_dim_(c.hidden_dim), num_layers_(c.num_layers) {
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
                                      const torch::Tensor& tokens, torch::Tensor*, const PackedDecoder* packed_decoder,
                                      const PackedLinear* output) {
  if (packed_decoder != nullptr) {
    const auto& packed = static_cast<const SeedPacked&>(*packed_decoder);
    auto input = decoder_embedding_(tokens);
    std::vector<torch::Tensor> hs, cs;
    for (int64_t layer = 0; layer < num_layers_; ++layer) {
      auto hc = packed.layers[layer].Step({input}, state->h[layer], state->c[layer]);
      hs.push_back(std::get<0>(hc));
      cs.push_back(std::get<1>(hc));
      input = hs.back();
    }
    state->h = torch::stack(hs);
    state->c = torch::stack(cs);
    return (output != nullptr ? *output : *packed.output).Forward(input);
  }
  auto embedded = decoder_embedding_(tokens.unsqueeze(1));
  auto result = decoder_lstm_(embedded, std::make_tuple(state->h, state->c));
  state->h = std::get<0>(std::get<1>(result));
  state->c = std::get<1>(std::get<1>(result));
  auto hidden = std::get<0>(result).squeeze(1);
  return output != nullptr ? output->Forward(hidden) : output_(hidden);
}

}  // namespace wordbridge

namespace wordbridge {

std::unique_ptr<const PackedDecoder> SeedSeq2Seq::PackDecoder(ComputeType type) const {
  torch::NoGradGuard no_grad;
  auto packed = std::make_unique<SeedPacked>(type);
  auto params = decoder_lstm_->named_parameters();
  for (int64_t layer = 0; layer < num_layers_; ++layer) {
    const std::string suffix = "_l" + std::to_string(layer);
    packed->layers.emplace_back(params["weight_ih" + suffix], params["weight_hh" + suffix], params["bias_ih" + suffix],
                                params["bias_hh" + suffix], type);
  }
  packed->output.emplace(output_->weight, output_->bias, type);
  return packed;
}

std::unique_ptr<const PackedLinear> SeedSeq2Seq::PackOutputRows(const torch::Tensor& ids, ComputeType type) const {
  torch::NoGradGuard no_grad;
  return std::make_unique<const PackedLinear>(output_->weight.index_select(0, ids), output_->bias.index_select(0, ids),
                                              type, kShortLivedRowMultiple);
}

int64_t SeedSeq2Seq::DecodeStepFlops(int64_t) const {
  const int64_t h = hidden_dim_;
  int64_t flops = 2 * (embed_dim_ + h) * 4 * h + (num_layers_ - 1) * 2 * (2 * h) * 4 * h;
  return flops + 2 * h * output_->weight.size(0);
}

}  // namespace wordbridge
