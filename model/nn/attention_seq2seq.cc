#include "model/nn/attention_seq2seq.h"

#include "model/nn/mixed_precision.h"

namespace wordbridge {

namespace rnn = torch::nn::utils::rnn;
namespace F = torch::nn::functional;

AttentionSeq2Seq::AttentionSeq2Seq(const ModelConfig& c)
    : hidden_dim_(c.hidden_dim), num_layers_(c.num_layers), tied_(c.tie_embeddings) {
  const double lstm_dropout = c.num_layers > 1 ? c.dropout : 0.0;
  source_embedding_ = register_module(
      "source_embedding",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(c.source_vocab_size, c.embed_dim).padding_idx(0)));
  encoder_ = register_module(
      "encoder", torch::nn::LSTM(torch::nn::LSTMOptions(c.embed_dim, c.hidden_dim / 2)
                                     .num_layers(c.num_layers)
                                     .batch_first(true)
                                     .bidirectional(true)
                                     .dropout(lstm_dropout)));
  target_embedding_ = register_module(
      "target_embedding",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(c.target_vocab_size, c.embed_dim).padding_idx(0)));
  decoder_ = register_module(
      "decoder", torch::nn::LSTM(torch::nn::LSTMOptions(c.embed_dim + c.hidden_dim, c.hidden_dim)
                                     .num_layers(c.num_layers)
                                     .batch_first(true)
                                     .dropout(lstm_dropout)));
  attention_in_ = register_module(
      "attention_in", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_dim, c.hidden_dim).bias(false)));
  attention_out_ = register_module(
      "attention_out",
      torch::nn::Linear(torch::nn::LinearOptions(2 * c.hidden_dim, c.hidden_dim).bias(false)));
  if (tied_) {
    if (c.hidden_dim != c.embed_dim) {
      to_embedding_ = register_module(
          "to_embedding",
          torch::nn::Linear(torch::nn::LinearOptions(c.hidden_dim, c.embed_dim).bias(false)));
    }
    output_bias_ = register_parameter("output_bias", torch::zeros({c.target_vocab_size}));
  } else {
    output_ = register_module("output", torch::nn::Linear(c.hidden_dim, c.target_vocab_size));
  }
  dropout_ = register_module("dropout", torch::nn::Dropout(c.dropout));
  layer_dropout_ = lstm_dropout;
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    const std::string suffix = "_l" + std::to_string(layer);
    auto params = decoder_->named_parameters();
    decoder_weights_.push_back({params["weight_ih" + suffix], params["weight_hh" + suffix],
                                params["bias_ih" + suffix], params["bias_hh" + suffix]});
  }
}

DecoderState AttentionSeq2Seq::Encode(const torch::Tensor& source, const torch::Tensor& lengths,
                                      EncoderOutput* out) {
  auto embedded = dropout_(source_embedding_(source));
  auto packed = rnn::pack_padded_sequence(embedded, lengths.to(torch::kCPU), /*batch_first=*/true,
                                          /*enforce_sorted=*/false);
  auto result = encoder_->forward_with_packed_input(packed);
  auto memory = std::get<0>(rnn::pad_packed_sequence(std::get<0>(result), /*batch_first=*/true, 0.0,
                                                     source.size(1)));
  // Final states are [L*2, B, H/2] ordered (layer, direction): join the directions per layer.
  auto join = [&](const torch::Tensor& s) {
    auto batch = s.size(1);
    return s.view({num_layers_, 2, batch, hidden_dim_ / 2}).permute({0, 2, 1, 3}).reshape(
        {num_layers_, batch, hidden_dim_});
  };
  DecoderState state{join(std::get<0>(std::get<1>(result))), join(std::get<1>(std::get<1>(result))),
                     torch::zeros({source.size(0), hidden_dim_}, memory.options())};
  out->memory = dropout_(memory);  // the attention's keys and values, regularised like its inputs
  out->source_mask = source.ne(0);
  out->context = state.h[-1];
  return state;
}

torch::Tensor AttentionSeq2Seq::Step(const EncoderOutput& encoded, DecoderState* state,
                                     const torch::Tensor& embedded, torch::Tensor* attention) {
  // The decoder LSTM one step at a time through fused lstm_cell calls: the same weights and maths as
  // decoder_ on a length-1 sequence, without the module's per-call set-up.
  auto input = torch::cat({embedded, state->feed}, 1);  // [B, E + H]
  std::vector<torch::Tensor> hs, cs;
  for (int64_t layer = 0; layer < num_layers_; ++layer) {
    const auto& w = decoder_weights_[layer];
    if (mixed_precision_ && is_training()) {
      // lstm_cell's maths (gates i, f, g, o) around bfloat16 products.
      auto gates = (Project(input, w[0], w[2]) + Project(state->h[layer], w[1], w[3])).chunk(4, 1);
      auto c = torch::sigmoid(gates[1]) * state->c[layer] + torch::sigmoid(gates[0]) * torch::tanh(gates[2]);
      hs.push_back(torch::sigmoid(gates[3]) * torch::tanh(c));
      cs.push_back(c);
    } else {
      auto hc = torch::lstm_cell(input, {state->h[layer], state->c[layer]}, w[0], w[1], w[2], w[3]);
      hs.push_back(std::get<0>(hc));
      cs.push_back(std::get<1>(hc));
    }
    input = layer + 1 < num_layers_ ? F::dropout(hs.back(), F::DropoutFuncOptions().p(layer_dropout_).training(is_training()))
                                    : hs.back();
  }
  state->h = torch::stack(hs);
  state->c = torch::stack(cs);
  return Attend(encoded, hs.back(), state, attention);
}

torch::Tensor AttentionSeq2Seq::Attend(const EncoderOutput& encoded, const torch::Tensor& query, DecoderState* state,
                                       torch::Tensor* attention) {
  auto scores = torch::bmm(encoded.memory, attention_in_(query).unsqueeze(2)).squeeze(2);  // [B, S]
  scores = scores.masked_fill(encoded.source_mask.logical_not(), -1e9);
  auto weights = torch::softmax(scores, 1);
  auto context = torch::bmm(weights.unsqueeze(1), encoded.memory).squeeze(1);  // [B, H]
  // Input feeding sees the same dropped-out vector the output layer sees (as OpenNMT does); in
  // training this regularises the recurrent path too, at inference dropout is the identity.
  auto attentional = dropout_(torch::tanh(Project(torch::cat({context, query}, 1), attention_out_->weight)));
  state->feed = attentional;
  if (attention != nullptr) *attention = weights;
  return attentional;
}

torch::Tensor AttentionSeq2Seq::DecoderHidden(const EncoderOutput& encoded, DecoderState state,
                                              const torch::Tensor& target_in) {
  auto embedded = dropout_(target_embedding_(target_in));  // [B, T, E]
  std::vector<torch::Tensor> outputs;
  outputs.reserve(target_in.size(1));
  if (!is_training() || num_layers_ != 1) {
    for (int64_t t = 0; t < target_in.size(1); ++t) {
      outputs.push_back(Step(encoded, &state, embedded.select(1, t), nullptr));
    }
    return torch::stack(outputs, 1);
  }
  // Teacher forcing knows every input token up front, so the embeddings' share of the gates is one
  // large product over all steps; each step then multiplies [feed; h] by the rest of the weights
  // once (the input and recurrent products of lstm_cell merged). Same maths as Step.
  const auto& w = decoder_weights_[0];
  const int64_t embed = embedded.size(2);
  auto input_gates = Project(embedded, w[0].slice(1, 0, embed), w[2] + w[3]);  // [B, T, 4H]
  auto recurrent = torch::cat({w[0].slice(1, embed), w[1]}, 1);                // [4H, H + H]
  torch::Tensor recurrent16;
  if (mixed_precision_) recurrent16 = recurrent.detach().to(torch::kBFloat16);
  auto h = state.h[0], c = state.c[0];
  for (int64_t t = 0; t < target_in.size(1); ++t) {
    auto step_input = torch::cat({state.feed, h}, 1);
    auto recurrent_gates = mixed_precision_ ? Bf16Linear(step_input, recurrent, {}, recurrent16)
                                            : F::linear(step_input, recurrent);
    auto gates = (input_gates.select(1, t) + recurrent_gates).chunk(4, 1);  // i, f, g, o
    c = torch::sigmoid(gates[1]) * c + torch::sigmoid(gates[0]) * torch::tanh(gates[2]);
    h = torch::sigmoid(gates[3]) * torch::tanh(c);
    outputs.push_back(Attend(encoded, h, &state, nullptr));
  }
  return torch::stack(outputs, 1);
}

torch::Tensor AttentionSeq2Seq::Logits(const torch::Tensor& hidden) {
  if (!tied_) return Project(hidden, output_->weight, output_->bias);
  auto projected = to_embedding_ ? Project(hidden, to_embedding_->weight) : hidden;
  return Project(projected, target_embedding_->weight, output_bias_);
}

torch::Tensor AttentionSeq2Seq::Project(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) const {
  if (mixed_precision_ && is_training()) return Bf16Linear(x, w, b);
  return F::linear(x, w, b);
}

torch::Tensor AttentionSeq2Seq::DecodeStep(const EncoderOutput& encoded, DecoderState* state,
                                           const torch::Tensor& tokens, torch::Tensor* attention) {
  auto embedded = dropout_(target_embedding_(tokens));
  return Logits(Step(encoded, state, embedded, attention));
}

}  // namespace wordbridge
