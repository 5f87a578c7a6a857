// WordSpace: the searchable word vectors of one side of a model version, of one kind - what
// NearestWords, GetEmbedding, analogies, Similarity and DoesntMatch query. Immutable after
// construction, so queries run concurrently.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "model/embed/word_list.h"
#include "model/index/embedding_index.h"
#include "model/text/tokenizer.h"
#include "model/text/vocabulary.h"

namespace wordbridge {

// Which of a trained model's vectors stand for a word.
enum class VectorKind {
  kInput,       // the side's input embedding table (pieces composed by their mean)
  kOutput,      // the target side's output layer rows (the same as kInput when they are tied)
  kContextual,  // the word's hidden states (encoder: source; decoder: target) averaged over the corpus
};
inline constexpr const char* kVectorKindNames[] = {"input", "output", "contextual"};
const char* VectorKindName(VectorKind kind);
// InvalidArgumentError naming the kinds on an unknown name.
VectorKind ParseVectorKind(const std::string& name);

enum class AnalogyScoring { kCosAdd, kCosMul };

// The token ids a word splits into, on its own, without <UNK> and the other special tokens: the rows a
// word outside the list is composed from.
std::vector<int64_t> KnownTokenIds(const std::string& word, const Tokenizer& tokenizer, const Vocabulary& vocab);

struct WordHit {
  int64_t word = -1;  // index in the side's WordList
  float score = 0;
};

// A query word resolved to a vector: a word of the list, or composed from its pieces (an unseen word).
struct ResolvedWord {
  std::vector<float> vector;
  int64_t word = -1;  // index in the WordList; -1 when composed
};

class WordSpace {
 public:
  // `word_vectors` [words, dim] holds one row per word of `words`; `piece_table` [vocabulary, dim] one
  // row per token id, from which words outside the list are composed (mean of their tokens' rows).
  // `tokenizer` and `vocab` split such words into token ids; both must outlive the space. The search
  // index is `index` (one saved with the version, over these rows) or, when null, built here of `kind`.
  WordSpace(std::shared_ptr<const WordList> words, torch::Tensor word_vectors, torch::Tensor piece_table,
            const Tokenizer* tokenizer, const Vocabulary* vocab, std::string description,
            IndexKind kind = IndexKind::kFlat, std::unique_ptr<EmbeddingIndex> index = nullptr);

  // The vectors of a kind for `words`: each word's own row when `word_rows` holds them (contextual
  // states), otherwise the mean of `piece_table`'s rows of its tokens.
  static torch::Tensor ComposeAll(const WordList& words, const torch::Tensor& piece_table, const Tokenizer& tokenizer,
                                  const Vocabulary& vocab);

  const WordList& words() const { return *words_; }
  int64_t dimension() const { return index_->dimension(); }
  int64_t size() const { return words_->size(); }

  // The vector of `word`: its row, or the mean of its known tokens' rows. InvalidArgumentError for an
  // empty word or a special token; NotFoundError naming the word when none of its tokens is known.
  ResolvedWord Resolve(const std::string& word) const;
  std::vector<float> Row(int64_t word) const;
  // Every word's vector, [words, dim] in word-list order (most frequent first).
  const torch::Tensor& vectors() const { return vectors_; }

  // Nearest words by cosine, several queries in one FAISS search; result i never holds excludes[i]
  // (when given). restrict_vocab > 0 searches only the that many most frequent words, exactly (a
  // scan of their rows, whatever the index kind).
  std::vector<std::vector<WordHit>> Nearest(const std::vector<std::vector<float>>& queries, int64_t k,
                                            const std::vector<std::vector<int64_t>>& excludes,
                                            int64_t restrict_vocab) const;
  // Analogies (gensim's most_similar(positive, negative)): 3CosAdd searches the normalised sum of the
  // positive minus the negative unit vectors; 3CosMul (Levy and Goldberg, 2014) ranks by
  // prod(cos'(w, p)) / (prod(cos'(w, n)) + 0.001) with cos' = (cos + 1) / 2. Query words are excluded.
  std::vector<WordHit> Analogy(const std::vector<std::string>& positive, const std::vector<std::string>& negative,
                               AnalogyScoring scoring, int64_t k, int64_t restrict_vocab) const;
  // Cosine similarity of two words.
  float Similarity(const std::string& a, const std::string& b) const;
  // The word least like the others (lowest cosine to the mean of the unit vectors), with that cosine.
  std::pair<std::string, float> DoesntMatch(const std::vector<std::string>& words) const;

  const std::string& description() const { return description_; }
  const EmbeddingIndex& index() const { return *index_; }
  // Recall@10 of the index against exact search, over `queries` words spread evenly over the list
  // (each word's own row is the query; the word itself is excluded from both answers). 1 for flat.
  double MeasureRecallAt10(int64_t queries = 1000) const;

 private:
  std::shared_ptr<const WordList> words_;
  torch::Tensor unit_rows_;   // [words, dim] L2-normalised, for 3CosMul's full scan
  torch::Tensor vectors_;     // [words, dim] as given
  torch::Tensor piece_table_;
  const Tokenizer* tokenizer_;
  const Vocabulary* vocab_;
  std::unique_ptr<EmbeddingIndex> index_;
  std::string description_;  // "source input" etc., for messages
};

// Writes every word of `space` (most frequent first) with its vector as word2vec text
// (Word2VecTextWriter, model/embed/vector_io.h).
void WriteWord2VecText(const WordSpace& space, std::ostream& out);

}  // namespace wordbridge
