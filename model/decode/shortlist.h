// LexicalShortlist: a per-batch target-vocabulary shortlist for decoding (as Marian's lexical
// shortlist and CTranslate2's vocabulary map). Learned at training time from the encoded training
// pairs: for each source token id, the target ids most associated with it at sentence level (Dice,
// 2 c(s,t) / (c(s) + c(t)) over sentence co-occurrence), plus the most frequent target ids and the
// special tokens, which are always in. A batch decodes over the union of its source tokens' lists
// (DecodeShortlist), so the output layer - most of a decoder step's work - shrinks from the whole
// target vocabulary to those rows. Stored with each model version (kFileName); a version without
// the file has no shortlist. Immutable after construction and safe to share between threads.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/nn/seq2seq.h"

namespace wordbridge {

struct ShortlistOptions {
  // Candidates kept per source token id (the best by Dice).
  int per_source = 50;
  // The most frequent target ids, always in (the special tokens are always in as well).
  int frequent = 200;
  // A batch's union is rounded up to a multiple of this with the next most frequent target ids, so
  // batches repeat the output layer's shapes (oneDNN's primitive cache serves them) at the cost of at
  // most align - 1 extra rows; 1 = no rounding.
  int align = 64;
};

class LexicalShortlist {
 public:
  // The file of a model version directory that holds the table.
  static constexpr const char* kFileName = "shortlist.bin";
  // The ids of pair i's source and target sides (no specials added).
  using IdsOf = std::function<const std::vector<int64_t>&(size_t pair)>;
  // Learns the table from `pairs` encoded pairs. Counts with an inverted index (source id -> the
  // sentences it occurs in) and one dense counter over the target vocabulary reused per source id,
  // so memory stays O(vocabulary + corpus), never O(vocabulary^2).
  static std::shared_ptr<const LexicalShortlist> Learn(size_t pairs, const IdsOf& source, const IdsOf& target,
                                                       int64_t source_vocab_size, int64_t target_vocab_size,
                                                       const ShortlistOptions& options = {});

  // A compact binary form (little-endian 32-bit words with a checksum) and back. Parse throws
  // FailedPreconditionError on damaged or truncated bytes.
  std::string Serialize() const;
  static std::shared_ptr<const LexicalShortlist> Parse(const std::string& bytes);

  // The candidates of one source id, best first (empty for ids it never saw).
  std::vector<int64_t> CandidatesOf(int64_t source_id) const;
  // Ids always in: the special tokens and the `frequent` most frequent target ids, sorted.
  std::vector<int64_t> AlwaysIn() const;
  // The sorted target ids a batch of sources [B, S] (int64, <PAD>-padded) decodes over: AlwaysIn(),
  // plus the candidates of every source id in the batch, padded to a multiple of options().align with the next
  // most frequent target ids (never more than the whole vocabulary). Counted in stats().
  std::vector<int64_t> Union(const torch::Tensor& sources) const;
  // The same for sources given as id lists.
  std::vector<int64_t> Union(const std::vector<const std::vector<int64_t>*>& sources) const;

  int64_t source_vocab_size() const { return source_vocab_size_; }
  int64_t target_vocab_size() const { return target_vocab_size_; }
  const ShortlistOptions& options() const { return options_; }

  // Unions made so far and their total size (for benchmarks: the mean union size per batch).
  struct Stats {
    int64_t unions = 0;
    int64_t ids = 0;
  };
  Stats stats() const { return {unions_.load(), union_ids_.load()}; }
  void ResetStats() const {
    unions_ = 0;
    union_ids_ = 0;
  }

  LexicalShortlist() = default;

 private:
  // Marks the union of the source ids `for_each` visits and returns it sorted and padded.
  std::vector<int64_t> UnionOf(const std::function<void(const std::function<void(int64_t)>&)>& for_each) const;

  int64_t source_vocab_size_ = 0, target_vocab_size_ = 0;
  ShortlistOptions options_;
  std::vector<uint32_t> offsets_;       // [source vocab + 1]: candidates of s at [offsets_[s], offsets_[s+1])
  std::vector<uint32_t> candidates_;    // best first per source id
  std::vector<uint32_t> by_frequency_;  // target ids seen in training, most frequent first
  mutable std::atomic<int64_t> unions_{0}, union_ids_{0};
};

// The output layer of one batch restricted to a shortlist: the sorted target ids its logits' columns
// stand for and the rows of the output layer (weights and bias) for them, gathered and packed once in
// the batch's compute type. Log-probabilities computed over these logits are normalised over the
// shortlist, not the whole vocabulary.
struct DecodeShortlist {
  std::vector<int64_t> ids;
  torch::Tensor index;  // the same ids, int64 [N]: maps a column back to its target id
  std::unique_ptr<const PackedLinear> output;
  int64_t eos_column = -1;  // the column of <EOS> (always in)

  // Builds it for `ids` (sorted, specials included) from `net`'s output layer in `type`.
  static DecodeShortlist Make(const Seq2SeqNet& net, std::vector<int64_t> ids, ComputeType type);
};

}  // namespace wordbridge
