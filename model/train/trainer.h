// Training: tokenizers and vocabularies from the training side, then the seed's loop (teacher forcing,
// cross-entropy without padding, Adam) with the options real corpora need: token-sized length buckets,
// gradient clipping, label smoothing, dev BLEU with learning-rate decay and early stopping, a wall-clock
// budget, and per-epoch checkpoints. Returns the parts of a model; the store publishes them.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/common/cancellation.h"
#include "model/embed/vector_io.h"
#include "model/store/model_bundle.h"
#include "model/train/corpus.h"

namespace wordbridge {

struct TrainingOptions {
  // Passes over the training data.
  int epochs = 50;
  // Sentences per batch (when batch_tokens is 0).
  int batch_size = 2;
  // > 0: length-bucketed batches of at most this many padded target tokens.
  int batch_tokens = 0;
  // With batch_size: group sentences of similar length (the seed shuffles freely).
  bool bucket_by_length = false;
  // Adam's learning rate.
  double learning_rate = 1e-3;
  // Seeds torch's generator before the weights are drawn.
  int64_t seed = 42;
  // > 0: every weight matrix is drawn uniform in [-init_range, init_range] and biases start at zero;
  // 0 = LibTorch's per-module defaults (the seed program's).
  double init_range = 0;
  // Matrix products in bfloat16 with float32 weights, where the CPU has fast bfloat16 GEMMs
  // (AVX512-BF16 through oneDNN); elsewhere training stays float32.
  bool mixed_precision = false;
  // Wall-clock budget in minutes; 0 = none. Training then ends with the best weights so far.
  double max_minutes = 0;
  // Clip the gradient norm to this; 0 = no clipping.
  double clip_norm = 0;
  // Label smoothing of the cross-entropy; 0 = none.
  double label_smoothing = 0;
  // Stop after this many epochs without a better dev BLEU; 0 = never.
  int patience = 0;
  // Multiply the learning rate by this when dev BLEU does not improve.
  double lr_decay = 0.5;
  // Pairs with a side longer than this many tokens are skipped (and counted).
  int max_sentence_tokens = 200;
  // Dev BLEU is measured on at most this many dev pairs.
  int max_dev_sentences = 1000;
  // Without a dev set, hold out this fraction of a corpus of at least min_pairs_for_dev_holdout pairs as
  // the dev set (deterministically), so dev BLEU, early stopping and best-weights selection work.
  double dev_holdout_fraction = 0;
  int min_pairs_for_dev_holdout = 0;
  // Refuse (ResourceExhaustedError) a model whose estimated training memory is above this, before
  // its weights are allocated (model/nn/model_size.h); 0 = no limit. A server limit, not a setting.
  int64_t max_training_bytes = 0;
  // Threads for tokenizer training.
  int threads = 1;
  // Word retrieval (model/embed): words seen fewer times are left out of a side's word list, and the
  // first this many training pairs are run through the trained network to average each word's hidden
  // states (the "contextual" vectors; 0 = none).
  int64_t word_min_count = 2;
  int64_t contextual_sentences = 20000;
  // The word searches' FAISS index kind (model/index/embedding_index.h); empty = by vocabulary size.
  std::string index_kind;
  // If set, training checkpoints (model/train/training_checkpoint.h: weights, optimizer, generator,
  // position) are written here at the end of every epoch, every checkpoint_minutes within one (0 =
  // only at epoch ends), and when the run is stopped (cancelled, interrupted) between two batches.
  std::string checkpoint_dir;
  double checkpoint_minutes = 0;
  // Continue from the newest checkpoint in checkpoint_dir, if there is one, instead of starting over:
  // the same corpus and options then give the same model as a run that was never stopped. Without
  // it, a run removes the checkpoints it finds.
  bool resume = false;
  // Word vectors (word2vec text or GloVe; model/embed/vector_io.h) that initialise a side's embedding
  // table once it is drawn: every token whose text, without SentencePiece's word-start mark, is a
  // word of the file starts from that word's vector. The file's dimension must be embed_dim
  // (InvalidArgumentError before training). Empty = none.
  std::string source_vectors, target_vectors;
  // The side's embedding table gets no gradient: it keeps its initial values. A target table tied to
  // the output layer is the output layer's weight, which is then frozen too.
  bool freeze_source_embeddings = false, freeze_target_embeddings = false;

  void Validate() const;  // throws InvalidArgumentError
  // The most target tokens one batch can hold (token batches: their cap, or one sentence of the
  // longest length allowed; sentence batches: that many of the longest).
  int64_t MaxBatchTargetTokens() const;

  // The defaults of an architecture, the one place they are set (see the table in trainer.cc).
  static TrainingOptions ForArchitecture(const std::string& architecture);
  // The numeric settings by name, as ListModels reports them.
  std::map<std::string, double> Settings() const;
};

struct EpochProgress {
  int epoch = 0;
  int total_epochs = 0;
  int64_t steps = 0;
  double loss = 0;               // mean loss per target token over the epoch
  double tokens_per_second = 0;  // real target tokens (with <EOS>), padding excluded
  int64_t train_tokens = 0;      // this epoch's target tokens
  double train_seconds = 0;      // this epoch's training time, dev evaluation excluded
  double dev_bleu = -1;          // -1 without a dev set
  double elapsed_seconds = 0;
  double eta_seconds = 0;
};

struct TrainingResult {
  ModelParts parts;
  CorpusReport report;        // counts over-long pairs on top of what reading counted
  std::string stop_reason;    // "completed", "early stopping", "time budget"
};

using EpochCallback = std::function<void(const EpochProgress&)>;
// Called once, after the vocabularies and the network are made and before the first step, with what
// was done beyond the usual (vectors imported: "source vectors: 812 of 1000 tokens matched ..."; empty
// when nothing was).
using PreparedCallback = std::function<void(const std::string&)>;

// Trains a model on `train` (and measures on `dev`, which may be empty). `report` carries the counts of
// reading the corpus and is extended. Throws InvalidArgumentError on unusable data (and on a vector file
// that is malformed or of another dimension), CancelledError / DeadlineExceededError when `stop` says so.
TrainingResult TrainModel(ModelConfig config, const std::vector<SentencePair>& train,
                          const std::vector<SentencePair>& dev, const TrainingOptions& options,
                          CorpusReport report, const EpochCallback& on_epoch, const StopToken* stop,
                          const PreparedCallback& on_prepared = nullptr);

// Copies `vectors`' rows into `table` [vocabulary, dim] for each token of `vocab` (special tokens
// excepted) whose TokenWord is a word of the file; returns how many were copied.
int64_t CopyMatchingVectors(const WordVectors& vectors, const Vocabulary& vocab, torch::Tensor table);

// Greedy-decodes `pairs` sources and scores them against their targets.
double EvaluateBleu(const ModelBundle& bundle, const std::vector<SentencePair>& pairs, int beam_size = 1);

}  // namespace wordbridge
