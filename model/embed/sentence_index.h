// SentenceIndex: a translation memory. The source sentences of a corpus, embedded by a model version
// (one vector per sentence), searchable by cosine, each with its stored translation. Immutable after
// construction, so searches run concurrently.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "model/index/embedding_index.h"
#include "model/train/corpus.h"

namespace wordbridge {

class SentenceIndex {
 public:
  static constexpr int64_t kMaxSentences = 2000000;

  // Embeds the sources of `pairs` with `embed` ([n, H] for n sentences; zero rows for sentences without
  // tokens, which are left out of the index) and indexes them (flat, or HNSW above
  // kExactSearchMaxFloats: DefaultIndexKind). `pooling` is recorded ("final" or "mean"). InvalidArgumentError on
  // no usable pair or more than kMaxSentences.
  static std::unique_ptr<SentenceIndex> Build(
      std::vector<SentencePair> pairs, const std::function<torch::Tensor(const std::vector<std::string>&)>& embed,
      std::string pooling);

  // Writes pairs.tsv, vectors.pt and meta.json into `dir` (which must exist), crash-safely.
  void Save(const std::string& dir) const;
  // FailedPreconditionError on damaged files.
  static std::unique_ptr<SentenceIndex> Load(const std::string& dir);

  struct Hit {
    int64_t pair = 0;  // index into pairs()
    float score = 0;   // cosine similarity
  };
  // The k most similar indexed sentences per query vector, best first.
  std::vector<std::vector<Hit>> Search(const std::vector<std::vector<float>>& queries, int64_t k) const;

  const std::vector<SentencePair>& pairs() const { return pairs_; }
  const std::string& pooling() const { return pooling_; }
  int64_t size() const { return static_cast<int64_t>(pairs_.size()); }
  int64_t dimension() const { return vectors_.size(1); }

 private:
  SentenceIndex(std::vector<SentencePair> pairs, torch::Tensor vectors, std::string pooling);

  std::vector<SentencePair> pairs_;  // only the indexed ones, in corpus order
  torch::Tensor vectors_;            // [pairs, H]
  std::string pooling_;
  std::unique_ptr<EmbeddingIndex> index_;
};

// A sentence index name: 1-64 characters of [A-Za-z0-9_.-], not starting with a dot
// (InvalidArgumentError otherwise). Names become folder names.
void CheckSentenceIndexName(const std::string& name);

}  // namespace wordbridge
