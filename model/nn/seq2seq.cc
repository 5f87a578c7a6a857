#include "model/nn/seq2seq.h"

#include "model/common/errors.h"
#include "model/nn/attention_seq2seq.h"
#include "model/nn/seed_seq2seq.h"

namespace wordbridge {

std::shared_ptr<Seq2SeqNet> CreateNetwork(const ModelConfig& config) {
  config.Validate();
  if (config.source_vocab_size < 5 || config.target_vocab_size < 5) {
    throw InvalidArgumentError("vocabularies are empty: the corpus has no usable words");
  }
  if (config.architecture == "seed") return std::make_shared<SeedSeq2Seq>(config);
  return std::make_shared<AttentionSeq2Seq>(config);
}

void InitializeUniform(Seq2SeqNet& net, double range) {
  torch::NoGradGuard no_grad;
  for (auto& p : net.parameters()) {
    if (p.dim() > 1) {
      p.uniform_(-range, range);
    } else {
      p.zero_();
    }
  }
  net.source_embedding()[0].zero_();
  net.target_embedding()[0].zero_();
}

namespace {
torch::Tensor Select(const torch::Tensor& t, int64_t dim, const torch::Tensor& index) {
  return t.defined() ? t.index_select(dim, index) : t;
}
}  // namespace

EncoderOutput SelectBatch(const EncoderOutput& e, const torch::Tensor& index) {
  return EncoderOutput{Select(e.memory, 0, index), Select(e.source_mask, 0, index),
                       Select(e.context, 0, index)};
}

DecoderState SelectBatch(const DecoderState& s, const torch::Tensor& index) {
  return DecoderState{Select(s.h, 1, index), Select(s.c, 1, index), Select(s.feed, 0, index)};
}

}  // namespace wordbridge
