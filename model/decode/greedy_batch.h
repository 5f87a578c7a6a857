// GreedyBatch: greedy decoding of a batch that sentences join and leave between steps (iteration-level
// scheduling, as in Orca and vLLM). A finished sentence is reported at the step it ends, not when the
// batch's longest one does, and a serving worker tops the batch up with queued sentences at any step,
// so no core waits for stragglers. GreedySearch is this with every sentence added up front.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <optional>
#include <vector>

#include "model/decode/search.h"
#include "model/decode/shortlist.h"
#include "model/nn/seq2seq.h"

namespace wordbridge {

class GreedyBatch {
 public:
  struct Finished {
    int64_t tag;                  // the caller's tag of the sentence
    SearchHypothesis hypothesis;  // its output (log-probability score)
  };

  // `packed` (may be null): the network's decoder weights pre-packed for a compute type.
  // `shortlist` (may be null): decode over the union of the live rows' shortlists, recomputed and
  // repacked (in `packed`'s compute type, else float32) whenever rows join; scores are then
  // normalised over that union.
  GreedyBatch(Seq2SeqNet& net, bool record_attention, const PackedDecoder* packed = nullptr,
              const LexicalShortlist* shortlist = nullptr);

  // Encodes sources [N, S] (padded with <PAD>, true lengths [N]) and adds them as rows, each with
  // its output cap and a tag the caller knows it by.
  void Add(const torch::Tensor& source, const torch::Tensor& lengths, const std::vector<int64_t>& max_lengths,
           const std::vector<int64_t>& tags);
  // Rows whose tag `drop` reports leave without a result (nobody waits for them). Returns their tags.
  std::vector<int64_t> Drop(const std::function<bool(int64_t tag)>& drop);
  // Decodes one token for every row still decoding; returns the rows that finished at this step.
  std::vector<Finished> Step();

  // Rows still decoding.
  int64_t size() const { return live_; }
  // The longest source among the rows still decoding, in tokens.
  int64_t longest_source() const;
  // Target ids the batch decodes over now: the shortlist's union, or 0 = the whole vocabulary.
  int64_t shortlist_size() const { return output_ ? static_cast<int64_t>(output_->ids.size()) : 0; }

 private:
  // Removes finished and dropped rows from the tensors once they are an eighth of the batch, or when
  // `force`d (before rows are added, so tensors and row lists stay aligned).
  void Compact(bool force);

  Seq2SeqNet& net_;
  bool want_attention_;
  const PackedDecoder* packed_;
  const LexicalShortlist* shortlist_;
  std::optional<DecodeShortlist> output_;  // the output layer over the shortlist's union
  EncoderOutput encoded_;
  DecoderState state_;
  torch::Tensor tokens_;  // [rows] the last token of each row
  // Per row (aligned with the tensors' batch dimension):
  std::vector<int64_t> tags_, max_lengths_, source_lengths_;
  std::vector<std::vector<int64_t>> source_ids_;  // kept for the shortlist's union
  std::vector<SearchHypothesis> hypotheses_;
  std::vector<char> done_;
  int64_t live_ = 0;
};

}  // namespace wordbridge
