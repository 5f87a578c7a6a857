// Decoding strategies behind one batch-first interface: GreedySearch and BeamSearch.
// Both start from <SOS>, stop a hypothesis at <EOS> or at its sentence's length limit, and stop the
// batch when every hypothesis has stopped.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "model/nn/seq2seq.h"

namespace wordbridge {

class LexicalShortlist;

struct SearchOptions {
  // Hypotheses kept per sentence; 1 = greedy.
  int beam_size = 1;
  // Hypotheses returned per sentence, best first (at most beam_size).
  int n_best = 1;
  // Beam scores are divided by length^length_penalty before ranking; 0 = raw sums.
  double length_penalty = 1.0;
  // Record the attention row of every output token (attention architectures only).
  bool record_attention = false;
  // Asked between steps for each sentence still decoding (by its row in the batch): true means nobody
  // waits for it any more (its caller cancelled or timed out), so it leaves the batch at once and gets
  // no hypotheses. Empty = never.
  std::function<bool(int64_t sentence)> abandoned;
  // The decoder's weights pre-packed for a compute type (ModelBundle::Packed), made from the network
  // searched with; null = the network's own float32 weights (as training's evaluation uses).
  const PackedDecoder* packed = nullptr;
  // A vocabulary shortlist (ModelBundle::ShortlistFor): each batch decodes over the union of its source
  // tokens' candidates only (the output layer's rows gathered and packed once per batch, in the packed
  // decoder's compute type); scores are then log-probabilities normalised over that union, not the whole
  // vocabulary. Null = the whole target vocabulary.
  const LexicalShortlist* shortlist = nullptr;
};

struct SearchHypothesis {
  std::vector<int64_t> ids;                     // output tokens, <EOS> excluded
  double score = 0.0;                           // log-probability (length-normalised for beams)
  std::vector<std::vector<float>> attention;    // [ids.size()][source length], when recorded
};

class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;
  // source [B, S], lengths [B], max_lengths[b] = output token cap for sentence b.
  // Returns B lists of hypotheses, best first.
  virtual std::vector<std::vector<SearchHypothesis>> Search(Seq2SeqNet& net, const torch::Tensor& source,
                                                            const torch::Tensor& lengths,
                                                            const std::vector<int64_t>& max_lengths,
                                                            const SearchOptions& options) const = 0;
};

class GreedySearch : public SearchStrategy {
 public:
  std::vector<std::vector<SearchHypothesis>> Search(Seq2SeqNet& net, const torch::Tensor& source,
                                                    const torch::Tensor& lengths,
                                                    const std::vector<int64_t>& max_lengths,
                                                    const SearchOptions& options) const override;
};

class BeamSearch : public SearchStrategy {
 public:
  std::vector<std::vector<SearchHypothesis>> Search(Seq2SeqNet& net, const torch::Tensor& source,
                                                    const torch::Tensor& lengths,
                                                    const std::vector<int64_t>& max_lengths,
                                                    const SearchOptions& options) const override;
};

// GreedySearch for beam_size 1, BeamSearch otherwise.
std::unique_ptr<SearchStrategy> MakeSearch(int beam_size);

}  // namespace wordbridge
