#include "model/decode/greedy_batch.h"

#include <algorithm>

#include "model/text/vocabulary.h"

namespace wordbridge {
namespace {

// Pads [B, S, ...] along dimension 1 to `width` with `value`.
torch::Tensor PadSource(const torch::Tensor& t, int64_t width, double value) {
  if (!t.defined() || t.size(1) == width) return t;
  std::vector<int64_t> shape = t.sizes().vec();
  shape[1] = width - t.size(1);
  return torch::cat({t, torch::full(shape, value, t.options())}, 1);
}

torch::Tensor Join(const torch::Tensor& a, const torch::Tensor& b, int64_t dim) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return torch::cat({a, b}, dim);
}

// Rows of two encoder outputs in one: sources padded to the longer width (the padding is masked, so
// attention gives it no weight and every row decodes as it would alone).
EncoderOutput JoinEncoded(const EncoderOutput& a, const EncoderOutput& b) {
  if (!a.source_mask.defined()) return b;
  const int64_t width = std::max(a.source_mask.size(1), b.source_mask.size(1));
  return EncoderOutput{Join(PadSource(a.memory, width, 0.0), PadSource(b.memory, width, 0.0), 0),
                       Join(PadSource(a.source_mask, width, 0), PadSource(b.source_mask, width, 0), 0),
                       Join(a.context, b.context, 0)};
}

DecoderState JoinState(const DecoderState& a, const DecoderState& b) {
  if (!a.h.defined()) return b;
  return DecoderState{Join(a.h, b.h, 1), Join(a.c, b.c, 1), Join(a.feed, b.feed, 0)};
}

}  // namespace

GreedyBatch::GreedyBatch(Seq2SeqNet& net, bool record_attention, const PackedDecoder* packed,
                         const LexicalShortlist* shortlist)
    : net_(net), want_attention_(record_attention && net.has_attention()), packed_(packed), shortlist_(shortlist) {}

void GreedyBatch::Add(const torch::Tensor& source, const torch::Tensor& lengths,
                      const std::vector<int64_t>& max_lengths, const std::vector<int64_t>& tags) {
  Compact(/*force=*/true);
  EncoderOutput encoded;
  DecoderState state = net_.Encode(source, lengths, &encoded);
  encoded_ = JoinEncoded(encoded_, encoded);
  state_ = JoinState(state_, state);
  tokens_ = Join(tokens_, torch::full({source.size(0)}, Vocabulary::kSos, torch::kInt64), 0);
  auto lengths_a = lengths.accessor<int64_t, 1>();
  for (int64_t i = 0; i < source.size(0); ++i) {
    tags_.push_back(tags[i]);
    max_lengths_.push_back(max_lengths[i]);
    source_lengths_.push_back(lengths_a[i]);
    hypotheses_.emplace_back();
    done_.push_back(0);
    if (shortlist_ != nullptr) {
      auto row = source[i].slice(0, 0, lengths_a[i]).to(torch::kInt64).contiguous();
      source_ids_.emplace_back(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
    }
  }
  live_ += source.size(0);
  if (shortlist_ != nullptr) {
    // Every row is live here (Compact ran first): the union over them, repacked when it changed.
    std::vector<const std::vector<int64_t>*> rows;
    for (const auto& ids : source_ids_) rows.push_back(&ids);
    auto ids = shortlist_->Union(rows);
    if (!output_ || output_->ids != ids) {
      output_ = DecodeShortlist::Make(net_, std::move(ids), packed_ != nullptr ? packed_->type : ComputeType::kFloat32);
    }
  }
}

std::vector<int64_t> GreedyBatch::Drop(const std::function<bool(int64_t tag)>& drop) {
  std::vector<int64_t> dropped;
  for (size_t i = 0; i < tags_.size(); ++i) {
    if (!done_[i] && drop(tags_[i])) {
      done_[i] = 1;
      --live_;
      dropped.push_back(tags_[i]);
    }
  }
  if (!dropped.empty()) Compact(/*force=*/true);  // they stop costing at once
  return dropped;
}

std::vector<GreedyBatch::Finished> GreedyBatch::Step() {
  std::vector<Finished> finished;
  if (live_ == 0) return finished;
  torch::Tensor attention;
  auto logits = net_.DecodeStep(encoded_, &state_, tokens_, want_attention_ ? &attention : nullptr, packed_,
                                output_ ? output_->output.get() : nullptr);
  // The best token and its logit in one pass (max(1) costs half of argmax(1) plus gather here).
  auto [best, next] = logits.max(1);
  // log p(next) = logit(next) - logsumexp(logits): the score without a full log_softmax. With a
  // shortlist the logits cover its union only, so this is normalised over the union.
  auto gained = (best - logits.logsumexp(1)).to(torch::kFloat64);
  if (output_) next = output_->index.index_select(0, next);  // columns -> target ids
  auto next_a = next.accessor<int64_t, 1>();
  auto gained_a = gained.accessor<double, 1>();
  for (size_t i = 0; i < tags_.size(); ++i) {
    if (done_[i]) continue;
    SearchHypothesis& hyp = hypotheses_[i];
    hyp.score += gained_a[i];
    const int64_t id = next_a[i];
    if (id != Vocabulary::kEos) {
      hyp.ids.push_back(id);
      if (want_attention_) {
        auto row = attention[i].slice(0, 0, source_lengths_[i]).to(torch::kFloat32).contiguous();
        hyp.attention.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
      }
    }
    if (id == Vocabulary::kEos || static_cast<int64_t>(hyp.ids.size()) >= max_lengths_[i]) {
      done_[i] = 1;
      --live_;
      finished.push_back({tags_[i], std::move(hyp)});
    }
  }
  tokens_ = next;
  Compact(/*force=*/false);
  return finished;
}

int64_t GreedyBatch::longest_source() const {
  int64_t longest = 0;
  for (size_t i = 0; i < tags_.size(); ++i) {
    if (!done_[i]) longest = std::max(longest, source_lengths_[i]);
  }
  return longest;
}

void GreedyBatch::Compact(bool force) {
  const auto rows = static_cast<int64_t>(tags_.size());
  const int64_t stopped = rows - live_;
  if (stopped == 0 || (!force && stopped * 8 < rows)) return;
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < rows; ++i) {
    if (!done_[i]) keep.push_back(i);
  }
  auto filter = [&](auto& values) {
    std::remove_reference_t<decltype(values)> kept;
    kept.reserve(keep.size());
    for (int64_t i : keep) kept.push_back(std::move(values[i]));
    values = std::move(kept);
  };
  filter(tags_);
  filter(max_lengths_);
  filter(source_lengths_);
  filter(hypotheses_);
  if (!source_ids_.empty()) filter(source_ids_);
  done_.assign(keep.size(), 0);
  if (keep.empty()) {
    encoded_ = {};
    state_ = {};
    tokens_ = torch::Tensor();
    return;
  }
  auto index = torch::tensor(keep, torch::kInt64);
  encoded_ = SelectBatch(encoded_, index);
  state_ = SelectBatch(state_, index);
  tokens_ = tokens_.index_select(0, index);
  // Trim source padding no remaining row needs.
  const int64_t width = longest_source();
  if (encoded_.source_mask.size(1) > width) {
    encoded_.source_mask = encoded_.source_mask.slice(1, 0, width);
    if (encoded_.memory.defined()) encoded_.memory = encoded_.memory.slice(1, 0, width);
  }
}

}  // namespace wordbridge
