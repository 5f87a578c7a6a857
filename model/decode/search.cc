#include "model/decode/search.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <optional>

#include "model/decode/greedy_batch.h"
#include "model/decode/shortlist.h"
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
  GreedyBatch decoding(net, options.record_attention, options.packed, options.shortlist);
  std::vector<int64_t> tags(batch);
  std::iota(tags.begin(), tags.end(), 0);
  decoding.Add(source, lengths.to(torch::kInt64).contiguous(), max_lengths, tags);
  std::vector<std::vector<SearchHypothesis>> results(batch);
  while (decoding.size() > 0) {
    if (options.abandoned) decoding.Drop(options.abandoned);
    for (auto& finished : decoding.Step()) results[finished.tag].push_back(std::move(finished.hypothesis));
  }
  return results;
}

std::vector<std::vector<SearchHypothesis>> BeamSearch::Search(Seq2SeqNet& net, const torch::Tensor& source,
                                                              const torch::Tensor& lengths,
                                                              const std::vector<int64_t>& max_lengths,
                                                              const SearchOptions& options) const {
  const int64_t batch = source.size(0);
  const int64_t beam = options.beam_size;
  const int64_t n_best = std::min<int64_t>(std::max(1, options.n_best), beam);
  const bool want_attention = options.record_attention && net.has_attention();
  const float neg_inf = -std::numeric_limits<float>::infinity();
  EncoderOutput encoded;
  DecoderState state = net.Encode(source, lengths, &encoded);
  // With a shortlist the batch decodes over the union of its sources' candidates, packed once here;
  // log-probabilities are then normalised over that union. Columns map back to ids through its index.
  std::optional<DecodeShortlist> output;
  if (options.shortlist != nullptr) {
    output = DecodeShortlist::Make(net, options.shortlist->Union(source),
                                   options.packed != nullptr ? options.packed->type : ComputeType::kFloat32);
  }
  const int64_t eos_column = output ? output->eos_column : Vocabulary::kEos;
  // Rows are grouped by sentence: group g holds its `beam` hypotheses at rows [g*beam, (g+1)*beam).
  // Beams of one sentence share encoder rows, so only the decoder state follows the beams.
  auto expand = torch::arange(batch, torch::kInt64).repeat_interleave(beam);
  encoded = SelectBatch(encoded, expand);
  state = SelectBatch(state, expand);
  std::vector<int64_t> sentences(batch);  // sentence of each group
  std::iota(sentences.begin(), sentences.end(), 0);
  auto limits = LimitsTensor(max_lengths, beam);
  const int64_t max_steps = *std::max_element(max_lengths.begin(), max_lengths.end());

  auto scores = torch::zeros({batch, beam}, torch::kFloat32);
  if (beam > 1) scores.slice(1, 1).fill_(neg_inf);  // one live hypothesis per sentence at the start
  scores = scores.view({-1});
  auto tokens = torch::full({batch * beam}, Vocabulary::kSos, torch::kInt64);
  auto finished = torch::zeros({batch * beam}, torch::kBool);
  auto out_lengths = torch::zeros({batch * beam}, torch::kInt64);
  auto sequences = torch::empty({batch * beam, 0}, torch::kInt64);
  torch::Tensor attention_history;
  std::vector<std::vector<SearchHypothesis>> results(batch);
  std::vector<char> extracted(batch, 0);  // per group: hypotheses already taken

  // Ranks a group's hypotheses by length-normalised score and keeps the n best.
  auto extract = [&](int64_t group) {
    auto raw = scores.slice(0, group * beam, (group + 1) * beam).to(torch::kFloat64);
    auto normalised = raw;
    if (options.length_penalty != 0.0) {
      auto lens = out_lengths.slice(0, group * beam, (group + 1) * beam).clamp_min(1).to(torch::kFloat64);
      normalised = raw / lens.pow(options.length_penalty);
    }
    auto order = normalised.argsort(0, /*descending=*/true);
    auto stopped = finished.slice(0, group * beam, (group + 1) * beam);
    auto& out = results[sentences[group]];
    // Stopped hypotheses first (best normalised score first); a live one only fills a gap.
    std::vector<int64_t> ranked;
    for (bool want_stopped : {true, false}) {
      for (int64_t i = 0; i < beam; ++i) {
        const int64_t k = order[i].item<int64_t>();
        if (stopped[k].item<bool>() == want_stopped) ranked.push_back(k);
      }
    }
    for (int64_t k : ranked) {
      if (static_cast<int64_t>(out.size()) >= n_best) break;
      const double score = normalised[k].item<double>();
      if (!std::isfinite(score)) continue;
      SearchHypothesis hyp;
      hyp.ids = IdsUntilEos(sequences, group * beam + k);
      hyp.score = score;
      if (want_attention) hyp.attention = AttentionRows(attention_history, group * beam + k, hyp.ids.size());
      out.push_back(std::move(hyp));
    }
    extracted[group] = 1;
  };

  for (int64_t t = 0; t < max_steps && !sentences.empty(); ++t) {
    const int64_t groups = static_cast<int64_t>(sentences.size());
    torch::Tensor attention;
    auto logits = net.DecodeStep(encoded, &state, tokens, want_attention ? &attention : nullptr, options.packed,
                                 output ? output->output.get() : nullptr);
    auto log_probs = torch::log_softmax(logits, 1);
    const int64_t vocab = log_probs.size(1);
    // A stopped hypothesis may only continue with <EOS> at no cost, so it keeps its place and score.
    if (finished.any().item<bool>()) {
      auto stay = torch::full({vocab}, neg_inf);
      stay[eos_column] = 0.0f;
      log_probs = torch::where(finished.unsqueeze(1), stay.unsqueeze(0), log_probs);
    }
    auto candidates = (scores.unsqueeze(1) + log_probs).view({groups, beam * vocab});
    auto top = candidates.topk(beam, 1);
    auto group_offset = (torch::arange(groups, torch::kInt64) * beam).unsqueeze(1);
    auto origin = (group_offset + std::get<1>(top).div(vocab, "floor")).view({-1});
    auto next = std::get<1>(top).remainder(vocab).view({-1});
    if (output) next = output->index.index_select(0, next);  // columns -> target ids

    state = SelectBatch(state, origin);
    auto was_finished = finished.index_select(0, origin);
    out_lengths = out_lengths.index_select(0, origin) + was_finished.logical_not().to(torch::kInt64);
    sequences = torch::cat({sequences.index_select(0, origin), next.unsqueeze(1)}, 1);
    if (want_attention) {
      auto step = attention.index_select(0, origin).unsqueeze(1).to(torch::kFloat32);
      attention_history = attention_history.defined()
                              ? torch::cat({attention_history.index_select(0, origin), step}, 1)
                              : step;
    }
    scores = std::get<0>(top).view({-1});
    finished = was_finished.logical_or(next.eq(Vocabulary::kEos)).logical_or(limits.le(t + 1));
    tokens = next;

    // A sentence is done when all its hypotheses have stopped. (Stopping once the best raw score has
    // stopped, as OpenNMT does, cost 0.8 BLEU on the Bible benchmark with length normalisation: a
    // live, longer hypothesis often wins after normalising.) Done sentences give their hypotheses
    // now; once enough are done they leave the batch.
    auto group_done = finished.view({groups, beam}).all(1);
    auto done_a = group_done.accessor<bool, 1>();
    std::vector<int64_t> keep_groups;
    bool left = false;  // a sentence was abandoned at this step: compact now
    for (int64_t g = 0; g < groups; ++g) {
      if (!extracted[g] && options.abandoned && options.abandoned(sentences[g])) {
        extracted[g] = 1;  // nobody waits for it: it leaves without hypotheses
        left = true;
      }
      if (done_a[g] || extracted[g]) {
        if (!extracted[g]) extract(g);
      } else {
        keep_groups.push_back(g);
      }
    }
    const int64_t stopped = groups - static_cast<int64_t>(keep_groups.size());
    if (keep_groups.empty()) {
      sentences.clear();
    } else if (left || stopped * 8 >= groups) {
      std::vector<int64_t> rows, kept_sentences;
      for (int64_t g : keep_groups) {
        kept_sentences.push_back(sentences[g]);
        for (int64_t k = 0; k < beam; ++k) rows.push_back(g * beam + k);
      }
      auto index = torch::tensor(rows, torch::kInt64);
      encoded = SelectBatch(encoded, index);
      state = SelectBatch(state, index);
      for (torch::Tensor* row_tensor : {&scores, &tokens, &finished, &out_lengths, &sequences, &limits}) {
        *row_tensor = row_tensor->index_select(0, index);
      }
      if (attention_history.defined()) attention_history = attention_history.index_select(0, index);
      sentences = std::move(kept_sentences);
      extracted.assign(sentences.size(), 0);
    }
  }
  for (int64_t g = 0; g < static_cast<int64_t>(sentences.size()); ++g) {
    if (!extracted[g]) extract(g);
  }
  return results;
}

std::unique_ptr<SearchStrategy> MakeSearch(int beam_size) {
  if (beam_size <= 1) return std::make_unique<GreedySearch>();
  return std::make_unique<BeamSearch>();
}

}  // namespace wordbridge
