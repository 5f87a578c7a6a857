#include "model/embed/word_tables.h"

#include "model/embed/word_space.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <sstream>

#include "model/common/errors.h"
#include "model/embed/vector_io.h"
#include "model/common/file_util.h"

namespace wordbridge {
namespace {

constexpr int64_t kMaxSentenceTokens = 256;             // longer pairs are skipped (training drops them too)

std::string Surface(const std::string& token) {
  std::string surface;
  for (size_t i = 0; i < token.size();) {
    if (token.compare(i, sizeof(kWordStartMark) - 1, kWordStartMark) == 0) {
      i += sizeof(kWordStartMark) - 1;
    } else {
      surface += token[i++];
    }
  }
  return surface;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

// For each token of `text`, the index in `list` of the word it lies in (-1: punctuation, or a word the
// list does not keep). Empty when the tokens or the words cannot be placed in the text.
std::vector<int64_t> TokenWordIndices(const std::string& text, const std::vector<std::string>& tokens,
                                      const Tokenizer& word_tokenizer, const WordList& list) {
  const auto token_spans = TokenSpans(text, tokens);
  const auto words = word_tokenizer.Tokenize(text);
  const auto word_spans = TokenSpans(text, words);
  if (token_spans.size() != tokens.size() || word_spans.size() != words.size()) return {};
  std::vector<int64_t> word_at(text.size() + 1, -1);
  for (size_t w = 0; w < words.size(); ++w) {
    const int64_t index = list.Find(words[w]);
    for (size_t b = word_spans[w].first; b < word_spans[w].second; ++b) word_at[b] = index;
  }
  std::vector<int64_t> result(tokens.size(), -1);
  for (size_t t = 0; t < tokens.size(); ++t) {
    // A token lies in the word holding its first byte (a bare word-start mark lies in none).
    if (token_spans[t].second > token_spans[t].first) result[t] = word_at[token_spans[t].first];
  }
  return result;
}

// Sums of state rows per word occurrence and per token id, turned into means by Finish.
class StateAccumulator {
 public:
  StateAccumulator(int64_t words, int64_t vocabulary, int64_t dim)
      : dim_(dim),
        word_sum_(words * dim, 0.0),
        word_n_(words, 0),
        piece_sum_(vocabulary * dim, 0.0),
        piece_n_(vocabulary, 0) {}

  // `states` points at [tokens, dim] rows of one sentence; ids and word indices are per token.
  void Add(const float* states, const std::vector<int64_t>& ids, const std::vector<int64_t>& word_of) {
    for (size_t t = 0; t < ids.size(); ++t) {
      const float* row = states + t * dim_;
      double* piece = &piece_sum_[ids[t] * dim_];
      for (int64_t d = 0; d < dim_; ++d) piece[d] += row[d];
      ++piece_n_[ids[t]];
    }
    // One occurrence of a word is the mean of its consecutive tokens' rows.
    for (size_t t = 0; t < ids.size();) {
      size_t end = t + 1;
      while (end < ids.size() && word_of[end] == word_of[t]) ++end;
      if (word_of[t] >= 0) {
        double* sum = &word_sum_[word_of[t] * dim_];
        const double weight = 1.0 / static_cast<double>(end - t);
        for (size_t u = t; u < end; ++u) {
          const float* row = states + u * dim_;
          for (int64_t d = 0; d < dim_; ++d) sum[d] += weight * row[d];
        }
        ++word_n_[word_of[t]];
      }
      t = end;
    }
  }

  // Means; a word never seen gets the mean of its tokens' means (`word_ids`), as an unseen word would.
  StateAverages Finish(const std::vector<std::vector<int64_t>>& word_ids) const {
    StateAverages averages;
    const int64_t vocabulary = static_cast<int64_t>(piece_n_.size());
    const int64_t words = static_cast<int64_t>(word_n_.size());
    averages.pieces = torch::zeros({vocabulary, dim_});
    averages.words = torch::zeros({words, dim_});
    float* pieces = averages.pieces.data_ptr<float>();
    for (int64_t v = 0; v < vocabulary; ++v) {
      if (piece_n_[v] == 0) continue;
      for (int64_t d = 0; d < dim_; ++d) pieces[v * dim_ + d] = static_cast<float>(piece_sum_[v * dim_ + d] / piece_n_[v]);
    }
    float* out = averages.words.data_ptr<float>();
    for (int64_t w = 0; w < words; ++w) {
      if (word_n_[w] > 0) {
        for (int64_t d = 0; d < dim_; ++d) out[w * dim_ + d] = static_cast<float>(word_sum_[w * dim_ + d] / word_n_[w]);
        continue;
      }
      int64_t seen = 0;
      for (int64_t id : word_ids[w]) {
        if (piece_n_[id] == 0) continue;
        ++seen;
        for (int64_t d = 0; d < dim_; ++d) out[w * dim_ + d] += pieces[id * dim_ + d];
      }
      for (int64_t d = 0; seen > 0 && d < dim_; ++d) out[w * dim_ + d] /= static_cast<float>(seen);
    }
    return averages;
  }

 private:
  int64_t dim_;
  std::vector<double> word_sum_;
  std::vector<int64_t> word_n_;
  std::vector<double> piece_sum_;
  std::vector<int64_t> piece_n_;
};

// Token ids of each word of `list` on its own, as unseen words are composed.
std::vector<std::vector<int64_t>> WordTokenIds(const WordList& list, const Tokenizer& tokenizer,
                                               const Vocabulary& vocab) {
  std::vector<std::vector<int64_t>> ids(list.size());
  for (int64_t w = 0; w < list.size(); ++w) ids[w] = KnownTokenIds(list.word(w), tokenizer, vocab);
  return ids;
}

void CheckStates(const StateAverages& states, int64_t words, int64_t vocabulary, const std::string& side) {
  if (!states.defined()) return;
  if (states.words.dim() != 2 || states.pieces.dim() != 2 || states.words.size(0) != words ||
      states.pieces.size(0) != vocabulary || states.words.size(1) != states.pieces.size(1) ||
      states.words.scalar_type() != torch::kFloat32 || states.pieces.scalar_type() != torch::kFloat32) {
    throw FailedPreconditionError(std::string(WordTables::kStatesFile) + ": the " + side +
                                  " states' shapes disagree with the word list or the vocabulary");
  }
  if (!torch::isfinite(states.words).all().item<bool>() || !torch::isfinite(states.pieces).all().item<bool>()) {
    throw FailedPreconditionError(std::string(WordTables::kStatesFile) + ": the " + side +
                                  " states hold NaN or infinite values");
  }
}

}  // namespace

std::vector<std::pair<size_t, size_t>> TokenSpans(const std::string& text, const std::vector<std::string>& tokens) {
  std::vector<std::pair<size_t, size_t>> spans;
  spans.reserve(tokens.size());
  size_t position = 0;
  for (const auto& token : tokens) {
    const std::string surface = Surface(token);
    while (position < text.size() && IsSpace(text[position])) ++position;
    if (text.compare(position, surface.size(), surface) != 0) return {};
    spans.emplace_back(position, position + surface.size());
    position += surface.size();
  }
  return spans;
}

void WordTables::Save(const std::string& dir) const {
  WriteFileAtomically(dir + "/" + WordList::kSourceFile, source_words.Serialize());
  WriteFileAtomically(dir + "/" + WordList::kTargetFile, target_words.Serialize());
  if (!source_states.defined() && !target_states.defined()) return;
  torch::serialize::OutputArchive archive;
  if (source_states.defined()) {
    archive.write("source_words", source_states.words);
    archive.write("source_pieces", source_states.pieces);
  }
  if (target_states.defined()) {
    archive.write("target_words", target_states.words);
    archive.write("target_pieces", target_states.pieces);
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  WriteFileAtomically(dir + "/" + kStatesFile, bytes.str());
}

WordTables WordTables::Load(const std::string& dir, int64_t source_vocab_size, int64_t target_vocab_size) {
  WordTables tables;
  auto read_list = [&](const char* file) {
    const std::string path = dir + "/" + file;
    return std::filesystem::exists(path) ? WordList::Parse(ReadFile(path), file) : WordList();
  };
  tables.source_words = read_list(WordList::kSourceFile);
  tables.target_words = read_list(WordList::kTargetFile);
  const std::string states_path = dir + "/" + kStatesFile;
  if (!std::filesystem::exists(states_path)) return tables;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(states_path);
    auto read_pair = [&](const std::string& side, StateAverages* out) {
      torch::Tensor words, pieces;
      if (archive.try_read(side + "_words", words) && archive.try_read(side + "_pieces", pieces)) {
        out->words = words;
        out->pieces = pieces;
      }
    };
    read_pair("source", &tables.source_states);
    read_pair("target", &tables.target_states);
  } catch (const c10::Error& e) {
    throw FailedPreconditionError(std::string(kStatesFile) + " cannot be read: " + e.msg());
  }
  CheckStates(tables.source_states, tables.source_words.size(), source_vocab_size, "source");
  CheckStates(tables.target_states, tables.target_words.size(), target_vocab_size, "target");
  return tables;
}

void AverageHiddenStates(Seq2SeqNet& network, const Tokenizer& source_tokenizer, const Vocabulary& source_vocab,
                         const Tokenizer& target_tokenizer, const Vocabulary& target_vocab,
                         const std::vector<SentencePair>& pairs, const ContextualOptions& options, WordTables* tables) {
  if (options.max_sentences <= 0 || pairs.empty()) return;
  network.eval();
  c10::InferenceMode inference;
  const auto word_tokenizer = CreateTokenizer("word", {}, {});

  struct Prepared {
    std::vector<int64_t> source_ids, target_ids, source_words, target_words;
  };
  // Corpora are often ordered (a Bible's Old Testament first, a crawl by site): the pairs looked at are
  // spread evenly over the whole corpus, at most five times the pairs that will be run.
  const int64_t total = static_cast<int64_t>(pairs.size());
  const int64_t looked_at = std::min<int64_t>(total, 5 * options.max_sentences);
  std::vector<Prepared> candidates;
  for (int64_t j = 0; j < looked_at; ++j) {
    const auto& pair = pairs[j * total / looked_at];
    const auto source_tokens = source_tokenizer.Tokenize(pair.source);
    const auto target_tokens = target_tokenizer.Tokenize(pair.target);
    if (source_tokens.empty() || target_tokens.empty() ||
        static_cast<int64_t>(std::max(source_tokens.size(), target_tokens.size())) > kMaxSentenceTokens) {
      continue;
    }
    Prepared p;
    p.source_words = TokenWordIndices(pair.source, source_tokens, *word_tokenizer, tables->source_words);
    p.target_words = TokenWordIndices(pair.target, target_tokens, *word_tokenizer, tables->target_words);
    if (p.source_words.empty() || p.target_words.empty()) continue;
    p.source_ids = source_vocab.Encode(source_tokens);
    p.target_ids = target_vocab.Encode(target_tokens);
    candidates.push_back(std::move(p));
  }
  // Every max_sentences-th share of them, then any other pair that holds a word none of those holds,
  // so that every listed word seen in the pairs looked at gets states of its own.
  const int64_t m = static_cast<int64_t>(candidates.size());
  const int64_t wanted = std::min<int64_t>(m, options.max_sentences);
  std::vector<bool> chosen(m, false);
  std::vector<bool> source_seen(tables->source_words.size(), false), target_seen(tables->target_words.size(), false);
  auto mark = [&](const Prepared& p) {
    for (int64_t w : p.source_words) if (w >= 0) source_seen[w] = true;
    for (int64_t w : p.target_words) if (w >= 0) target_seen[w] = true;
  };
  for (int64_t j = 0; j < wanted; ++j) {
    chosen[j * m / wanted] = true;
    mark(candidates[j * m / wanted]);
  }
  for (int64_t j = 0; j < m; ++j) {
    if (chosen[j]) continue;
    const auto& p = candidates[j];
    const bool adds = std::any_of(p.source_words.begin(), p.source_words.end(), [&](int64_t w) { return w >= 0 && !source_seen[w]; }) ||
                      std::any_of(p.target_words.begin(), p.target_words.end(), [&](int64_t w) { return w >= 0 && !target_seen[w]; });
    if (!adds) continue;
    chosen[j] = true;
    mark(p);
  }
  std::vector<Prepared> prepared;
  for (int64_t j = 0; j < m; ++j) {
    if (chosen[j]) prepared.push_back(std::move(candidates[j]));
  }
  if (prepared.empty()) return;
  // Similar lengths together, so little of each batch is padding.
  std::vector<size_t> order(prepared.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return prepared[a].source_ids.size() < prepared[b].source_ids.size(); });

  std::unique_ptr<StateAccumulator> source_sums, target_sums;
  for (size_t begin = 0; begin < order.size(); begin += options.batch_size) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(options.batch_size));
    const int64_t b = static_cast<int64_t>(end - begin);
    int64_t s_len = 0, t_len = 0;
    for (size_t i = begin; i < end; ++i) {
      s_len = std::max<int64_t>(s_len, prepared[order[i]].source_ids.size());
      t_len = std::max<int64_t>(t_len, prepared[order[i]].target_ids.size());
    }
    auto source = torch::full({b, s_len}, Vocabulary::kPad, torch::kInt64);
    auto target_in = torch::full({b, t_len}, Vocabulary::kPad, torch::kInt64);
    auto lengths = torch::zeros({b}, torch::kInt64);
    for (int64_t r = 0; r < b; ++r) {
      const auto& p = prepared[order[begin + r]];
      const int64_t s = static_cast<int64_t>(p.source_ids.size());
      source[r].slice(0, 0, s).copy_(torch::tensor(p.source_ids, torch::kInt64));
      lengths[r] = s;
      // <SOS> + target without its last token: output t predicts target token t.
      std::vector<int64_t> in{Vocabulary::kSos};
      in.insert(in.end(), p.target_ids.begin(), p.target_ids.end() - 1);
      target_in[r].slice(0, 0, static_cast<int64_t>(in.size())).copy_(torch::tensor(in, torch::kInt64));
    }
    EncoderOutput encoded;
    DecoderState state = network.Encode(source, lengths, &encoded);
    auto decoded = network.DecoderHidden(encoded, state, target_in).to(torch::kFloat32).contiguous();
    torch::Tensor memory;
    if (encoded.memory.defined()) memory = encoded.memory.to(torch::kFloat32).contiguous();
    if (!target_sums) {
      target_sums = std::make_unique<StateAccumulator>(tables->target_words.size(), target_vocab.size(), decoded.size(2));
      if (memory.defined()) {
        source_sums = std::make_unique<StateAccumulator>(tables->source_words.size(), source_vocab.size(), memory.size(2));
      }
    }
    for (int64_t r = 0; r < b; ++r) {
      const auto& p = prepared[order[begin + r]];
      target_sums->Add(decoded[r].data_ptr<float>(), p.target_ids, p.target_words);
      if (source_sums) source_sums->Add(memory[r].data_ptr<float>(), p.source_ids, p.source_words);
    }
  }
  tables->target_states = target_sums->Finish(WordTokenIds(tables->target_words, target_tokenizer, target_vocab));
  if (source_sums) {
    tables->source_states = source_sums->Finish(WordTokenIds(tables->source_words, source_tokenizer, source_vocab));
  }
}

WordTables BuildWordTables(Seq2SeqNet& network, const Tokenizer& source_tokenizer, const Vocabulary& source_vocab,
                           const Tokenizer& target_tokenizer, const Vocabulary& target_vocab,
                           const std::vector<SentencePair>& pairs, const WordListOptions& word_options,
                           const ContextualOptions& contextual_options) {
  WordTables tables;
  std::vector<std::string> sources, targets;
  sources.reserve(pairs.size());
  targets.reserve(pairs.size());
  for (const auto& pair : pairs) {
    sources.push_back(pair.source);
    targets.push_back(pair.target);
  }
  tables.source_words = WordList::Count(sources, word_options);
  tables.target_words = WordList::Count(targets, word_options);
  AverageHiddenStates(network, source_tokenizer, source_vocab, target_tokenizer, target_vocab, pairs,
                      contextual_options, &tables);
  return tables;
}

}  // namespace wordbridge
