#include "model/decode/search.h"

#include <algorithm>
#include <limits>

#include "model/text/vocabulary.h"

namespace wordbridge {
namespace {

// Copies row `row` of a [N, T] int64 tensor up to (not including) the first <EOS>.
std::vector<int64_t> IdsUntilEos(const torch::Tensor& sequences, int64_t row) {
  std::vector<int64_t> ids;
  auto accessor = sequences.accessor<int64_t, 2>();
  for (int64_t t = 0; t < sequences.size(1); ++t) {
    int64_t id = accessor[row][t];
    if (id == Vocabulary::kEos) break;
    ids.push_back(id);
  }
  return ids;
}

// Attention rows [T][S] of row `row` of a [N, T, S] tensor, first `steps` steps.
std::vector<std::vector<float>> AttentionRows(const torch::Tensor& attention, int64_t row, size_t steps) {
  std::vector<std::vector<float>> rows;
  if (!attention.defined()) return rows;
  auto a = attention[row].contiguous();
  for (size_t t = 0; t < steps && static_cast<int64_t>(t) < a.size(0); ++t) {
    auto r = a[t];
    rows.emplace_back(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
  }
  return rows;
}

torch::Tensor LimitsTensor(const std::vector<int64_t>& max_lengths, int64_t repeat) {
  auto limits = torch::tensor(max_lengths, torch::kInt64);
  return repeat > 1 ? limits.repeat_interleave(repeat) : limits;
}

}  // namespace

std::vector<std::vector<SearchHypothesis>> GreedySearch::Search(Seq2SeqNet& net, const torch::Tensor& source,
                                                                const torch::Tensor& lengths,
                                                                const std::vector<int64_t>& max_lengths,
                                                                const SearchOptions& options) const {
  const int64_t batch = source.size(0);
  EncoderOutput encoded;
  DecoderState state = net.Encode(source, lengths, &encoded);
  auto limits = LimitsTensor(max_lengths, 1);
  const int64_t max_steps = *std::max_element(max_lengths.begin(), max_lengths.end());
  auto tokens = torch::full({batch}, Vocabulary::kSos, torch::kInt64);
  auto finished = torch::zeros({batch}, torch::kBool);
  auto scores = torch::zeros({batch}, torch::kFloat64);
  std::vector<torch::Tensor> steps, attention_steps;
  const bool want_attention = options.record_attention && net.has_attention();
  for (int64_t t = 0; t < max_steps; ++t) {
    torch::Tensor attention;
    auto logits = net.DecodeStep(encoded, &state, tokens, want_attention ? &attention : nullptr);
    auto log_probs = torch::log_softmax(logits, 1);
    auto next = log_probs.argmax(1);
    auto gained = log_probs.gather(1, next.unsqueeze(1)).squeeze(1).to(torch::kFloat64);
    scores += gained.masked_fill(finished, 0.0);
    next = next.masked_fill(finished, Vocabulary::kEos);
    steps.push_back(next);
    if (want_attention) attention_steps.push_back(attention);
    finished = finished.logical_or(next.eq(Vocabulary::kEos)).logical_or(limits.le(t + 1));
    if (finished.all().item<bool>()) break;
    tokens = next;
  }
  auto sequences = torch::stack(steps, 1);
  auto attention = want_attention ? torch::stack(attention_steps, 1).to(torch::kFloat32) : torch::Tensor();
  std::vector<std::vector<SearchHypothesis>> results(batch);
  for (int64_t b = 0; b < batch; ++b) {
    SearchHypothesis hyp;
    hyp.ids = IdsUntilEos(sequences, b);
    hyp.score = scores[b].item<double>();
    hyp.attention = AttentionRows(attention, b, hyp.ids.size());
    results[b].push_back(std::move(hyp));
  }
  return results;
}

std::vector<std::vector<SearchHypothesis>> BeamSearch::Search(Seq2SeqNet& net, const torch::Tensor& source,
                                                              const torch::Tensor& lengths,
                                                              const std::vector<int64_t>& max_lengths,
                                                              const SearchOptions& options) const {
  const int64_t batch = source.size(0);
  const int64_t beam = options.beam_size;
  EncoderOutput encoded;
  DecoderState state = net.Encode(source, lengths, &encoded);
  // Every sentence's rows are repeated `beam` times; beams of one sentence share encoder rows, so
  // only the decoder state needs reordering as beams move.
  auto expand = torch::arange(batch, torch::kInt64).repeat_interleave(beam);
  encoded = SelectBatch(encoded, expand);
  state = SelectBatch(state, expand);
  auto limits = LimitsTensor(max_lengths, beam);
  const int64_t max_steps = *std::max_element(max_lengths.begin(), max_lengths.end());
  const float neg_inf = -std::numeric_limits<float>::infinity();

  auto scores = torch::zeros({batch, beam}, torch::kFloat32);
  if (beam > 1) scores.slice(1, 1).fill_(neg_inf);  // start from one live beam per sentence
  scores = scores.view({-1});
  auto tokens = torch::full({batch * beam}, Vocabulary::kSos, torch::kInt64);
  auto finished = torch::zeros({batch * beam}, torch::kBool);
  auto out_lengths = torch::zeros({batch * beam}, torch::kInt64);
  auto sequences = torch::empty({batch * beam, 0}, torch::kInt64);
  torch::Tensor attention_history;
  const bool want_attention = options.record_attention && net.has_attention();
  auto sentence_offset = (torch::arange(batch, torch::kInt64) * beam).unsqueeze(1);

  for (int64_t t = 0; t < max_steps; ++t) {
    torch::Tensor attention;
    auto logits = net.DecodeStep(encoded, &state, tokens, want_attention ? &attention : nullptr);
    auto log_probs = torch::log_softmax(logits, 1);
    const int64_t vocab = log_probs.size(1);
    // A stopped hypothesis may only continue with <EOS> at no cost, so it keeps its place and score.
    if (finished.any().item<bool>()) {
      auto stay = torch::full({vocab}, neg_inf);
      stay[Vocabulary::kEos] = 0.0f;
      log_probs = torch::where(finished.unsqueeze(1), stay.unsqueeze(0), log_probs);
    }
    auto candidates = (scores.unsqueeze(1) + log_probs).view({batch, beam * vocab});
    auto top = candidates.topk(beam, 1);
    auto top_scores = std::get<0>(top);
    auto top_index = std::get<1>(top);
    auto origin = (sentence_offset + top_index.div(vocab, "floor")).view({-1});
    auto next = top_index.remainder(vocab).view({-1});

    state = SelectBatch(state, origin);
    auto was_finished = finished.index_select(0, origin);
    out_lengths = out_lengths.index_select(0, origin) + was_finished.logical_not().to(torch::kInt64);
    sequences = torch::cat({sequences.index_select(0, origin), next.unsqueeze(1)}, 1);
    if (want_attention) {
      auto step = attention.index_select(0, origin).unsqueeze(1);
      attention_history = attention_history.defined()
                              ? torch::cat({attention_history.index_select(0, origin), step}, 1)
                              : step;
    }
    scores = top_scores.view({-1});
    finished = was_finished.logical_or(next.eq(Vocabulary::kEos)).logical_or(limits.le(t + 1));
    if (finished.all().item<bool>()) break;
    tokens = next;
  }

  auto normalised = scores.to(torch::kFloat64);
  if (options.length_penalty != 0.0) {
    normalised = normalised / out_lengths.clamp_min(1).to(torch::kFloat64).pow(options.length_penalty);
  }
  auto attention = want_attention ? attention_history.to(torch::kFloat32) : torch::Tensor();
  std::vector<std::vector<SearchHypothesis>> results(batch);
  const int64_t n_best = std::min<int64_t>(std::max(1, options.n_best), beam);
  for (int64_t b = 0; b < batch; ++b) {
    auto order = normalised.slice(0, b * beam, (b + 1) * beam).argsort(0, /*descending=*/true);
    for (int64_t i = 0; i < n_best; ++i) {
      int64_t row = b * beam + order[i].item<int64_t>();
      double score = normalised[row].item<double>();
      if (!std::isfinite(score)) continue;
      SearchHypothesis hyp;
      hyp.ids = IdsUntilEos(sequences, row);
      hyp.score = score;
      hyp.attention = AttentionRows(attention, row, hyp.ids.size());
      results[b].push_back(std::move(hyp));
    }
  }
  return results;
}

std::unique_ptr<SearchStrategy> MakeSearch(int beam_size) {
  if (beam_size <= 1) return std::make_unique<GreedySearch>();
  return std::make_unique<BeamSearch>();
}

}  // namespace wordbridge
