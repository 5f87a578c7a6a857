// Forms training batches from encoded pairs: the seed's shuffled fixed-size batches, length-bucketed
// fixed-size batches, or length-bucketed batches sized in target tokens.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace wordbridge {

struct EncodedPair {
  std::vector<int64_t> source;  // token ids, no specials
  std::vector<int64_t> target;  // token ids, no specials
};

struct Batch {
  torch::Tensor source;          // [B, S] padded with 0
  torch::Tensor source_lengths;  // [B]
  torch::Tensor target_in;       // [B, T] <SOS> + target
  torch::Tensor target_out;      // [B, T] target + <EOS>, 0 where padded
  int64_t target_tokens = 0;     // real tokens in target_out
};

struct BatchingOptions {
  int64_t batch_size = 2;         // sentences per batch when batch_tokens == 0
  int64_t batch_tokens = 0;       // > 0: batches of at most this many padded target tokens
  bool bucket_by_length = false;  // with batch_size: group sentences of similar length
};

// Index lists of one epoch's batches. Draws randomness from torch's global generator, like the seed's
// DataLoader(shuffle=True): one randperm per epoch seeded from the global stream.
std::vector<std::vector<int64_t>> PlanEpoch(const std::vector<EncodedPair>& pairs, const BatchingOptions& options);

// Pads the pairs at `indices` into tensors.
Batch MakeBatch(const std::vector<EncodedPair>& pairs, const std::vector<int64_t>& indices);

}  // namespace wordbridge
