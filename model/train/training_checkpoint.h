// Training checkpoints that a run continues from exactly: the model's files (config, tokenizers,
// vocabularies, shortlist, weights), the optimizer's moments, the random generator's state, the best
// weights so far and where the run stands, down to the batch within the epoch.
//
// Layout of a checkpoint folder (TrainingOptions::checkpoint_dir):
//   checkpoint-<n>/   one complete checkpoint: SaveModelParts' files, optimizer.pt, state.pt, state.json
//   LATEST            the name of the newest complete checkpoint (written atomically, after it)
// A checkpoint is written into a staging folder and renamed into place before LATEST names it, so a
// crash at any moment leaves the previous checkpoint readable; older ones are removed after.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <vector>

#include "model/store/model_bundle.h"

namespace wordbridge {

// Where a training run stands between two steps.
struct TrainingState {
  int epoch = 1;             // the epoch in progress (or the next one, when next_batch is 0)
  int64_t next_batch = 0;    // batches of `epoch` already taken
  // The epoch so far (next_batch > 0): its loss sum over tokens, batches, tokens, and training seconds.
  double epoch_loss_sum = 0;
  int64_t epoch_batches = 0, epoch_tokens = 0;
  double epoch_seconds = 0;
  int epochs_done = 0;
  int64_t steps = 0, total_tokens = 0;
  double last_loss = 0;
  double best_bleu = -1;
  int epochs_without_gain = 0;
  double learning_rate = 0;
  double elapsed_seconds = 0;   // wall time of the run so far (preparation included), for the budget
  double loop_seconds = 0;      // time in the training loop so far, for tokens/s and the ETA
  // The generator's state when `epoch`'s batch plan was drawn, and at the checkpoint: the plan is
  // drawn again from the first, and dropout continues from the second.
  torch::Tensor epoch_rng, rng;
  std::vector<torch::Tensor> best;  // the best weights so far, in parameter order; empty = none yet
};

struct TrainingCheckpoint {
  ModelParts parts;       // the network in training mode, with the checkpoint's weights
  TrainingState state;
  std::string optimizer_file;  // load into an optimizer over parts.network's parameters
};

// Writes a checkpoint of `parts` (its network's current weights), `optimizer` and `state` into
// `dir` (created if needed). Throws as WriteFileAtomically does (ResourceExhaustedError on a full disk;
// the previous checkpoint stays).
void SaveTrainingCheckpoint(const std::string& dir, const ModelParts& parts, const torch::optim::Optimizer& optimizer,
                            const TrainingState& state);
// The newest complete checkpoint in `dir`; nullopt when there is none. FailedPreconditionError when
// LATEST names a damaged one.
std::optional<TrainingCheckpoint> LoadTrainingCheckpoint(const std::string& dir);
// Removes every checkpoint in `dir` (after a run published its model, or was cancelled).
void RemoveTrainingCheckpoints(const std::string& dir);

// The CPU generator's state, and setting it back (dropout and the batch plans draw from it).
torch::Tensor GeneratorState();
void SetGeneratorState(const torch::Tensor& state);

}  // namespace wordbridge
