// ModelBundle: one immutable, complete model version - config, tokenizers, vocabularies, network
// weights and the FAISS indexes over both embedding tables. Everything a request needs (Translate,
// GetEmbedding, NearestWords) is a const method, safe to call from many threads at once.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "model/common/cancellation.h"
#include "model/decode/search.h"
#include "model/decode/shortlist.h"
#include "model/embed/word_space.h"
#include "model/embed/word_tables.h"
#include "model/index/embedding_index.h"
#include "model/nn/compute_type.h"
#include "model/nn/model_config.h"
#include "model/nn/seq2seq.h"
#include "model/text/tokenizer.h"
#include "model/text/vocabulary.h"

namespace wordbridge {

enum class Side { kSource, kTarget };

struct TranslationOptions : SearchOptions {
  // Absolute cap on output tokens; 0 = 2 x source tokens + 10.
  int max_length = 0;
  // Replace an <UNK> output by the source token it attends to most (attention models).
  bool replace_unknown = false;
  // Sentences decoded together by the synchronous Translate (sorted by length first, so padding
  // stays small). The serving engine batches by its own limits instead.
  int max_batch_size = 64;
  // Longer sources are refused with InvalidArgumentError.
  int max_source_tokens = 1024;
  // The arithmetic of the decoder's products; empty = the engine's default (EngineOptions), or
  // kDefaultComputeType for ModelBundle::Translate. Calls with different types never share a batch.
  std::optional<ComputeType> compute_type;
  // Decode over a per-batch vocabulary shortlist (the version's LexicalShortlist): faster, and scores
  // are normalised over the shortlist. A version without one refuses it (FailedPreconditionError).
  // Calls with and without never share a batch.
  bool use_shortlist = false;

  void Validate() const;  // throws InvalidArgumentError
  // Output tokens allowed for a source of `source_tokens` tokens.
  int64_t OutputCap(int64_t source_tokens) const { return max_length > 0 ? max_length : 2 * source_tokens + 10; }
  // Whether search must record attention (asked for, or needed to replace <UNK>).
  bool SearchesAttention() const { return record_attention || replace_unknown; }
};

// A source sentence split into tokens and mapped to ids, ready to decode. Empty when the sentence has
// no tokens (it then translates to one empty hypothesis without decoding).
struct SourceSentence {
  std::vector<std::string> tokens;
  std::vector<int64_t> ids;
};

struct TranslatedHypothesis {
  std::string text;
  std::vector<std::string> tokens;
  double score = 0.0;
  std::vector<float> attention;  // row-major [tokens x source tokens], when recorded
};

struct Translation {
  std::vector<std::string> source_tokens;
  std::vector<TranslatedHypothesis> hypotheses;  // best first
};

struct WordVector {
  std::vector<float> values;
  bool in_vocabulary = false;  // false: the <UNK> row
  int64_t id = Vocabulary::kUnk;
};

struct Neighbor {
  std::string word;
  int64_t id = 0;
  float score = 0.0f;
};

// The parts of a model before it has a name and version: what training produces.
struct ModelParts {
  ModelConfig config;
  std::shared_ptr<const Tokenizer> source_tokenizer, target_tokenizer;
  Vocabulary source_vocab, target_vocab;
  std::shared_ptr<Seq2SeqNet> network;
  std::map<std::string, double> metrics;
  std::map<std::string, double> training;  // the training settings used (TrainingOptions::Settings)
  std::shared_ptr<const LexicalShortlist> shortlist;  // null: the version has no vocabulary shortlist
  // Word lists and hidden-state averages for word retrieval (empty in versions trained before them).
  WordTables words;
  // The FAISS index kind of the word searches; empty = by size (DefaultIndexKind). Approximate indexes
  // are built when the version is saved and stored with it.
  std::optional<IndexKind> index_kind;
};

// The files of a model version but its word indexes: what ModelBundle::Save writes first, and what a
// training checkpoint keeps (model/train/training_checkpoint.h). `dir` must exist; files are written
// crash-safely one by one (the caller makes the folder appear whole, by renaming it into place).
void SaveModelParts(const ModelParts& parts, const std::string& dir);
// Reads them back. FailedPreconditionError on a damaged folder (unreadable or inconsistent files,
// weights whose shapes config.json does not describe); ResourceExhaustedError, before the network is
// made, when config.json describes weights larger than `max_model_bytes` (0 = no limit).
ModelParts LoadModelParts(const std::string& dir, int64_t max_model_bytes = 0);

// Sentences as one padded batch for search: ids [B, longest] (padded with <PAD>), lengths [B], and
// each sentence's output cap.
struct SourceBatch {
  torch::Tensor source, lengths;
  std::vector<int64_t> max_lengths;
};
SourceBatch MakeSourceBatch(const std::vector<const SourceSentence*>& sentences, const TranslationOptions& options);

// The numbers of a version's metrics.json or training.json; empty when the text is not a JSON object
// of numbers (those files are informative: a damaged one never fails a version).
std::map<std::string, double> ParseNumbersJson(const std::string& text);

class ModelBundle {
 public:
  // Takes the parts of a trained or loaded model; puts the network in inference mode and builds the
  // embedding indexes (the word vectors' indexes are built on first use).
  ModelBundle(std::string name, std::string version, ModelParts parts);

  // Writes every file of the bundle into `dir` (which must exist) and syncs them (the shortlist's
  // file only when the version has one).
  void Save(const std::string& dir) const;
  // Loads a bundle written by Save. Throws FailedPreconditionError on a damaged bundle (unreadable or
  // inconsistent files, weights whose shapes config.json does not describe), and
  // ResourceExhaustedError, before the network is made, when config.json describes a network whose
  // weights need more than `max_model_bytes` (0 = no limit; model/nn/model_size.h).
  static std::shared_ptr<const ModelBundle> Load(const std::string& name, const std::string& version,
                                                 const std::string& dir, int64_t max_model_bytes = 0);
  // Checks that every weight is finite and decodes a one-token probe sentence (greedy, a few steps),
  // so that a version whose files load but whose network cannot run fails before it serves.
  // FailedPreconditionError naming the cause.
  void SelfCheck() const;

  // Translates on the calling thread, batch after batch: for tests and offline tools. The server
  // goes through TranslationEngine (model/serve), which batches across requests on its own workers.
  std::vector<Translation> Translate(const std::vector<std::string>& sentences,
                                     const TranslationOptions& options, const StopToken* stop) const;

  // The steps of a translation, for engines that schedule batches themselves.
  // Tokenizes sentence `index` of a request; InvalidArgumentError when it is over max_source_tokens.
  SourceSentence PrepareSource(const std::string& sentence, size_t index, const TranslationOptions& options) const;
  // Decodes non-empty sentences as one batch (any order; padded to the longest). Sentences that
  // options.abandoned reports leave the batch and get no hypotheses. Runs on the calling thread.
  std::vector<Translation> DecodeBatch(const std::vector<const SourceSentence*>& batch,
                                       const TranslationOptions& options) const;
  // The network's decoder weights packed for `type`, made on first use (once per type, whichever
  // thread asks first; the others wait), so a server that never decodes in int8 holds no int8 copy.
  const PackedDecoder& Packed(ComputeType type) const;
  // The shortlist a call decodes with: null unless options.use_shortlist; FailedPreconditionError when
  // asked for on a version without one.
  const LexicalShortlist* ShortlistFor(const TranslationOptions& options) const;
  // Turns a sentence's search output into text (replacing <UNK> from the source when asked).
  Translation ToTranslation(const SourceSentence& source, std::vector<SearchHypothesis> hypotheses,
                            const TranslationOptions& options) const;

  // Row `id` of a side's embedding table for `word` (the <UNK> row when unknown).
  WordVector WordEmbedding(Side side, const std::string& word) const;
  // A source sentence as one vector: the encoder's context vector (the seed's), or the mean of its
  // outputs over the sentence's tokens (attention models; FailedPreconditionError otherwise).
  enum class SentencePooling { kFinalState, kMeanStates };
  std::vector<float> SentenceEmbedding(const std::string& sentence,
                                       SentencePooling pooling = SentencePooling::kFinalState) const;
  // Many sentences at once, encoded in padded batches of similar lengths: [sentences, H] float32. A
  // sentence without tokens gets a zero row; one over 1,024 tokens, InvalidArgumentError.
  torch::Tensor SentenceEmbeddings(const std::vector<std::string>& sentences, SentencePooling pooling,
                                   int64_t batch_size = 64) const;
  // Nearest words by cosine; the query word itself is excluded. NotFoundError for unknown words.
  std::vector<Neighbor> NearestWords(Side side, const std::string& word, int64_t k) const;
  std::vector<Neighbor> NearestToVector(Side side, const std::vector<float>& vector, int64_t k) const;
  // Several queries in one FAISS batch search; result i belongs to query i. NotFoundError names the
  // first unknown word.
  std::vector<std::vector<Neighbor>> NearestWordsBatch(Side side, const std::vector<std::string>& words,
                                                       int64_t k) const;
  std::vector<std::vector<Neighbor>> NearestToVectors(Side side, const std::vector<std::vector<float>>& vectors,
                                                      int64_t k) const;

  // Word retrieval (model/embed): the side's words and their vectors of `kind` (the side's default
  // when empty). FailedPreconditionError when the version has no vectors of that kind (contextual
  // states in versions trained before them, or from the seed's encoder; output rows on the source).
  const WordSpace& Words(Side side, std::optional<VectorKind> kind = std::nullopt) const;
  // The kinds this version offers for a side, and the one used when a request names none.
  std::vector<VectorKind> VectorKinds(Side side) const;
  VectorKind DefaultVectorKind(Side side) const;
  // True when the side's word list was counted from the training corpus; false when it was derived
  // from the token vocabulary (versions trained before word lists: counts are then 0).
  bool HasCountedWords(Side side) const;
  // The word search index of a side and kind: what was built (approximate kinds fall back to flat on
  // few words), its recall@10 against exact search measured when it was built, and its build time.
  struct WordIndexInfo {
    IndexKind kind = IndexKind::kFlat;
    double recall_at_10 = 1.0;
    double build_seconds = 0;
  };
  WordIndexInfo WordIndex(Side side, VectorKind kind) const;

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const ModelConfig& config() const { return config_; }
  const Vocabulary& vocabulary(Side side) const { return side == Side::kSource ? source_vocab_ : target_vocab_; }
  const Tokenizer& tokenizer(Side side) const {
    return side == Side::kSource ? *source_tokenizer_ : *target_tokenizer_;
  }
  const std::map<std::string, double>& metrics() const { return metrics_; }
  // The settings this version was trained with (empty for versions saved before they were recorded).
  const std::map<std::string, double>& training() const { return training_; }
  // The version's vocabulary shortlist, or null (versions trained before shortlists were learned).
  const LexicalShortlist* shortlist() const { return shortlist_.get(); }
  // When this version finished loading (or was published) in this process.
  std::chrono::system_clock::time_point ready_time() const { return ready_time_; }
  // The network, for tests and offline tools. Do not train it: the bundle is shared.
  Seq2SeqNet& network() const { return *network_; }

 private:
  torch::Tensor Table(Side side) const;
  // Turns search output into tokens and text, replacing <UNK> from the source when asked.
  TranslatedHypothesis ToText(const SearchHypothesis& hyp, const std::vector<std::string>& source_tokens,
                              const TranslationOptions& options) const;
  const EmbeddingIndex& Index(Side side) const { return side == Side::kSource ? *source_index_ : *target_index_; }
  // Maps a word to a token id of `side`, looking through the side's tokenizer when needed.
  int64_t WordId(Side side, const std::string& word) const;
  // WordId, or NotFoundError for an unknown or empty word (InvalidArgumentError).
  int64_t KnownWordId(Side side, const std::string& word) const;
  std::vector<float> Row(Side side, int64_t id) const;
  std::vector<Neighbor> ToNeighbors(Side side, const std::vector<ScoredId>& hits) const;

  std::string name_;
  std::string version_;
  ModelConfig config_;
  std::shared_ptr<const Tokenizer> source_tokenizer_, target_tokenizer_;
  Vocabulary source_vocab_, target_vocab_;
  std::shared_ptr<Seq2SeqNet> network_;
  std::map<std::string, double> metrics_;
  std::map<std::string, double> training_;
  std::shared_ptr<const LexicalShortlist> shortlist_;
  WordTables word_tables_;
  std::optional<IndexKind> index_kind_;
  // Word indexes saved with a loaded version ("source.contextual" -> file and measured figures).
  struct StoredIndex {
    std::string path;
    WordIndexInfo info;
  };
  std::map<std::string, StoredIndex> stored_indexes_;
  std::unique_ptr<EmbeddingIndex> source_index_, target_index_;
  // Word spaces per side and kind, built on first use (a dev-set probe bundle never builds them).
  struct SideWords {
    std::once_flag once;
    std::shared_ptr<const WordList> words;
    std::array<std::unique_ptr<const WordSpace>, 3> spaces;  // by VectorKind; null: not offered
    std::array<WordIndexInfo, 3> indexes;
  };
  const SideWords& BuildSideWords(Side side) const;
  // Writes the approximate word indexes and word_indexes.json (kinds, recall, build times).
  void SaveWordIndexes(const std::string& dir) const;
  mutable std::array<SideWords, 2> side_words_;
  std::chrono::system_clock::time_point ready_time_;
  mutable std::array<std::once_flag, kNumComputeTypes> packed_once_;
  mutable std::array<std::unique_ptr<const PackedDecoder>, kNumComputeTypes> packed_;
};

}  // namespace wordbridge
