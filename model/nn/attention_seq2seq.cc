#include "model/nn/attention_seq2seq.h"

#include "model/nn/mixed_precision.h"

#include <optional>

namespace wordbridge {

// The decoder's matrices packed for one compute type: the LSTM layers' gates, W_a, W_c, the tied
// output's H -> E projection and the output layer (the tied embedding table, or the untied layer).
struct AttentionSeq2Seq::Packed : PackedDecoder {
  using PackedDecoder::PackedDecoder;
  std::vector<PackedLstmLayer> layers;
  std::optional<PackedLinear> attention_in, attention_out, to_embedding, output;

  size_t bytes() const override {
    size_t total = 0;
    for (const auto& layer : layers) total += layer.bytes();
    for (const auto* linear : {&attention_in, &attention_out, &to_embedding, &output}) {
      if (*linear) total += (*linear)->bytes();
    }
    return total;
  }
};

namespace rnn = torch::nn::utils::rnn;
namespace F = torch::nn::functional;

namespace {
// lstm_cell's pointwise maths on pre-activations [B, 4H] (gates i, f, g, o): returns (h, c).
// Training paths that compute the gate products themselves (bfloat16, hoisted) share it.
std::tuple<torch::Tensor, torch::Tensor> LstmPointwise(const torch::Tensor& preactivations, const torch::Tensor& c) {
  auto gates = preactivations.chunk(4, 1);
  auto next_c = torch::sigmoid(gates[1]) * c + torch::sigmoid(gates[0]) * torch::tanh(gates[2]);
  return {torch::sigmoid(gates[3]) * torch::tanh(next_c), next_c};
}
}  // namespace

AttentionSeq2Seq::AttentionSeq2Seq(const ModelConfig& c)
    : embed_dim_(c.embed_dim),
      hidden_dim_(c.hidden_dim), num_layers_(c.num_layers), tied_(c.tie_embeddings) {
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
  if (c.bridge) {
    bridge_h_ = register_module("bridge_h", torch::nn::Linear(c.hidden_dim, c.hidden_dim));
    bridge_c_ = register_module("bridge_c", torch::nn::Linear(c.hidden_dim, c.hidden_dim));
  }
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
  auto h = join(std::get<0>(std::get<1>(result))), c = join(std::get<1>(std::get<1>(result)));
  if (bridge_h_) {  // per layer: the Linear maps the last dimension
    h = torch::tanh(bridge_h_(h));
    c = bridge_c_(c);
  }
  DecoderState state{h, c, torch::zeros({source.size(0), hidden_dim_}, memory.options())};
  out->memory = dropout_(memory);  // the attention's keys and values, regularised like its inputs
  out->source_mask = source.ne(0);
  out->context = state.h[-1];
  return state;
}

torch::Tensor AttentionSeq2Seq::Step(const EncoderOutput& encoded, DecoderState* state,
                                     const torch::Tensor& embedded, torch::Tensor* attention, const Packed* packed) {
  // The decoder LSTM one step at a time through fused lstm_cell calls: the same weights and maths as
  // decoder_ on a length-1 sequence, without the module's per-call set-up. Packed, each layer's
  // gates are one product over [input; h].
  std::vector<torch::Tensor> input{embedded, state->feed};  // [B, E + H] once joined
  std::vector<torch::Tensor> hs, cs;
  for (int64_t layer = 0; layer < num_layers_; ++layer) {
    std::tuple<torch::Tensor, torch::Tensor> hc;
    if (packed != nullptr) {
      hc = packed->layers[layer].Step(input, state->h[layer], state->c[layer]);
    } else if (mixed_precision_ && is_training()) {
      // lstm_cell's maths (gates i, f, g, o) around bfloat16 products.
      const auto& w = decoder_weights_[layer];
      hc = LstmPointwise(Project(torch::cat(input, 1), w[0], w[2]) + Project(state->h[layer], w[1], w[3]),
                         state->c[layer]);
    } else {
      const auto& w = decoder_weights_[layer];
      hc = torch::lstm_cell(torch::cat(input, 1), {state->h[layer], state->c[layer]}, w[0], w[1], w[2], w[3]);
    }
    hs.push_back(std::get<0>(hc));
    cs.push_back(std::get<1>(hc));
    input = {layer + 1 < num_layers_
                 ? F::dropout(hs.back(), F::DropoutFuncOptions().p(layer_dropout_).training(is_training()))
                 : hs.back()};
  }
  state->h = torch::stack(hs);
  state->c = torch::stack(cs);
  return Attend(encoded, hs.back(), state, attention, packed);
}

torch::Tensor AttentionSeq2Seq::Attend(const EncoderOutput& encoded, const torch::Tensor& query, DecoderState* state,
                                       torch::Tensor* attention, const Packed* packed) {
  auto keys = packed != nullptr ? packed->attention_in->Forward(query) : attention_in_(query);
  // Decoding multiplies with one query per row: broadcast multiply-and-sum beats bmm's per-matrix
  // GEMM calls at these shapes (docs/design.md). Training keeps bmm, whose backward stores less.
  const bool by_rows = !is_training();
  auto scores = by_rows ? (encoded.memory * keys.unsqueeze(1)).sum(2)
                        : torch::bmm(encoded.memory, keys.unsqueeze(2)).squeeze(2);  // [B, S]
  scores = scores.masked_fill(encoded.source_mask.logical_not(), -1e9);
  auto weights = torch::softmax(scores, 1);
  auto context = by_rows ? (weights.unsqueeze(2) * encoded.memory).sum(1)
                         : torch::bmm(weights.unsqueeze(1), encoded.memory).squeeze(1);  // [B, H]
  auto combined = torch::cat({context, query}, 1);
  // Input feeding sees the same dropped-out vector the output layer sees (as OpenNMT does); in
  // training this regularises the recurrent path too, at inference dropout is the identity.
  auto attentional = dropout_(torch::tanh(packed != nullptr ? packed->attention_out->Forward(combined)
                                                            : Project(combined, attention_out_->weight)));
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
      outputs.push_back(Step(encoded, &state, embedded.select(1, t), nullptr, nullptr));
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
    std::tie(h, c) = LstmPointwise(input_gates.select(1, t) + recurrent_gates, c);
    outputs.push_back(Attend(encoded, h, &state, nullptr, nullptr));
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
                                           const torch::Tensor& tokens, torch::Tensor* attention,
                                           const PackedDecoder* packed_decoder, const PackedLinear* output) {
  auto embedded = dropout_(target_embedding_(tokens));
  if (packed_decoder == nullptr) {
    auto hidden = Step(encoded, state, embedded, attention, nullptr);
    if (output == nullptr) return Logits(hidden);
    if (to_embedding_) hidden = to_embedding_(hidden);
    return output->Forward(hidden);
  }
  const auto& packed = static_cast<const Packed&>(*packed_decoder);
  auto hidden = Step(encoded, state, embedded, attention, &packed);
  if (packed.to_embedding) hidden = packed.to_embedding->Forward(hidden);
  return (output != nullptr ? *output : *packed.output).Forward(hidden);
}

std::unique_ptr<const PackedLinear> AttentionSeq2Seq::PackOutputRows(const torch::Tensor& ids, ComputeType type) const {
  torch::NoGradGuard no_grad;
  if (tied_) {
    return std::make_unique<const PackedLinear>(target_embedding_->weight.index_select(0, ids),
                                                output_bias_.index_select(0, ids), type, kShortLivedRowMultiple);
  }
  return std::make_unique<const PackedLinear>(output_->weight.index_select(0, ids), output_->bias.index_select(0, ids),
                                              type, kShortLivedRowMultiple);
}

std::unique_ptr<const PackedDecoder> AttentionSeq2Seq::PackDecoder(ComputeType type) const {
  torch::NoGradGuard no_grad;
  auto packed = std::make_unique<Packed>(type);
  for (const auto& w : decoder_weights_) packed->layers.emplace_back(w[0], w[1], w[2], w[3], type);
  packed->attention_in.emplace(attention_in_->weight, torch::Tensor(), type);
  packed->attention_out.emplace(attention_out_->weight, torch::Tensor(), type);
  if (tied_) {
    if (to_embedding_) packed->to_embedding.emplace(to_embedding_->weight, torch::Tensor(), type);
    packed->output.emplace(target_embedding_->weight, output_bias_, type);
  } else {
    packed->output.emplace(output_->weight, output_->bias, type);
  }
  return packed;
}

int64_t AttentionSeq2Seq::DecodeStepFlops(int64_t source_length) const {
  const int64_t h = hidden_dim_, e = embed_dim_;
  const int64_t vocab = tied_ ? target_embedding_->weight.size(0) : output_->weight.size(0);
  // Gates: layer 0 over [embedding; feed; h], the others over [h_below; h].
  int64_t flops = 2 * (e + 2 * h) * 4 * h + (num_layers_ - 1) * 2 * (2 * h) * 4 * h;
  flops += 2 * h * h;                   // W_a query
  flops += 2 * 2 * source_length * h;   // scores and context
  flops += 2 * (2 * h) * h;             // W_c combine
  const int64_t width = tied_ ? e : h;  // the output layer's input
  if (tied_ && to_embedding_) flops += 2 * h * e;
  flops += 2 * width * vocab;           // output layer
  return flops;
}

}  // namespace wordbridge
