// What a model version keeps for word retrieval beyond its network: each side's word list and the
// mean hidden states of its words and pieces over the training corpus ("contextual" vectors),
// computed once when the version is trained.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/embed/word_list.h"
#include "model/nn/seq2seq.h"
#include "model/train/corpus.h"
#include "model/text/tokenizer.h"
#include "model/text/vocabulary.h"

namespace wordbridge {

// Mean hidden states of one side: per word of the side's WordList and per token id of its vocabulary.
// Undefined tensors: not computed (an architecture without per-token encoder states, or a version
// trained before they were).
struct StateAverages {
  torch::Tensor words;   // [words, H] float32
  torch::Tensor pieces;  // [vocabulary, H] float32; zero rows for tokens never seen
  bool defined() const { return words.defined() && pieces.defined(); }
};

struct WordTables {
  static constexpr const char* kStatesFile = "word_states.pt";

  WordList source_words, target_words;
  StateAverages source_states, target_states;

  // Writes the word lists (and the states, when computed) into `dir`.
  void Save(const std::string& dir) const;
  // Reads what Save wrote; a version without the files gets empty lists and undefined states.
  // FailedPreconditionError on damaged files or states whose shapes disagree with the lists, the
  // vocabulary sizes or `source_dim` / `target_dim`.
  static WordTables Load(const std::string& dir, int64_t source_vocab_size, int64_t target_vocab_size);
};

struct ContextualOptions {
  // Pairs run through the network, spread evenly over the corpus (plus any pair holding a listed word
  // that those do not, among at most five times as many looked at); 0 = none.
  int64_t max_sentences = 20000;
  int64_t batch_size = 64;
};

// Byte spans of `tokens` (a tokenizer's output for `text`) inside `text`, SentencePiece's word-start
// mark ignored. Empty when the tokens do not spell the text (a normalising tokenizer changed it).
std::vector<std::pair<size_t, size_t>> TokenSpans(const std::string& text, const std::vector<std::string>& tokens);

// Runs the pairs through `network` (eval mode, teacher forcing) and averages, for every word of
// `source_words` / `target_words` over its occurrences, the encoder's outputs at its source tokens
// and the decoder's outputs that predict its target tokens; and the same per token id. Pairs whose
// tokens cannot be placed in their text are skipped. `network` is left in eval mode.
void AverageHiddenStates(Seq2SeqNet& network, const Tokenizer& source_tokenizer, const Vocabulary& source_vocab,
                         const Tokenizer& target_tokenizer, const Vocabulary& target_vocab,
                         const std::vector<SentencePair>& pairs, const ContextualOptions& options, WordTables* tables);

// Both sides' word lists counted from `pairs`, then their hidden-state averages: what a trained
// version stores for word retrieval.
WordTables BuildWordTables(Seq2SeqNet& network, const Tokenizer& source_tokenizer, const Vocabulary& source_vocab,
                           const Tokenizer& target_tokenizer, const Vocabulary& target_vocab,
                           const std::vector<SentencePair>& pairs, const WordListOptions& word_options,
                           const ContextualOptions& contextual_options);

}  // namespace wordbridge
