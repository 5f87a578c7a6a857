#include "model/train/batching.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "model/text/vocabulary.h"

namespace wordbridge {
namespace {

// The permutation PyTorch's RandomSampler draws: a fresh generator seeded from the global one.
std::vector<int64_t> SamplerPermutation(int64_t n) {
  const int64_t seed = torch::empty({}, torch::kInt64).random_().item<int64_t>();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto perm = torch::randperm(n, generator, torch::kInt64);
  return std::vector<int64_t>(perm.data_ptr<int64_t>(), perm.data_ptr<int64_t>() + n);
}

std::vector<int64_t> Shuffled(std::vector<int64_t> items) {
  auto perm = SamplerPermutation(static_cast<int64_t>(items.size()));
  std::vector<int64_t> out(items.size());
  for (size_t i = 0; i < items.size(); ++i) out[i] = items[perm[i]];
  return out;
}

}  // namespace

std::vector<std::vector<int64_t>> PlanEpoch(const std::vector<EncodedPair>& pairs, const BatchingOptions& options) {
  const int64_t n = static_cast<int64_t>(pairs.size());
  std::vector<int64_t> order = SamplerPermutation(n);
  std::vector<std::vector<int64_t>> batches;
  if (options.batch_tokens <= 0 && !options.bucket_by_length) {
    for (int64_t start = 0; start < n; start += options.batch_size) {
      batches.emplace_back(order.begin() + start, order.begin() + std::min(n, start + options.batch_size));
    }
    return batches;
  }
  // Sort the shuffled order by length (ties stay shuffled), cut into batches, shuffle the batches.
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const auto& pa = pairs[a];
    const auto& pb = pairs[b];
    if (pa.target.size() != pb.target.size()) return pa.target.size() < pb.target.size();
    return pa.source.size() < pb.source.size();
  });
  std::vector<int64_t> current;
  int64_t longest = 0;
  for (int64_t index : order) {
    const int64_t len = static_cast<int64_t>(std::max(pairs[index].target.size(), pairs[index].source.size())) + 1;
    const bool full = options.batch_tokens > 0
                          ? !current.empty() && (static_cast<int64_t>(current.size()) + 1) * std::max(longest, len) > options.batch_tokens
                          : static_cast<int64_t>(current.size()) >= options.batch_size;
    if (full) {
      batches.push_back(std::move(current));
      current.clear();
      longest = 0;
    }
    current.push_back(index);
    longest = std::max(longest, len);
  }
  if (!current.empty()) batches.push_back(std::move(current));
  std::vector<int64_t> batch_ids(batches.size());
  for (size_t i = 0; i < batch_ids.size(); ++i) batch_ids[i] = static_cast<int64_t>(i);
  std::vector<std::vector<int64_t>> shuffled;
  for (int64_t i : Shuffled(batch_ids)) shuffled.push_back(std::move(batches[i]));
  return shuffled;
}

Batch MakeBatch(const std::vector<EncodedPair>& pairs, const std::vector<int64_t>& indices) {
  const int64_t batch = static_cast<int64_t>(indices.size());
  size_t source_width = 0, target_width = 0;
  for (int64_t i : indices) {
    source_width = std::max(source_width, pairs[i].source.size());
    target_width = std::max(target_width, pairs[i].target.size() + 1);
  }
  Batch b;
  b.source = torch::zeros({batch, static_cast<int64_t>(source_width)}, torch::kInt64);
  b.source_lengths = torch::zeros({batch}, torch::kInt64);
  b.target_in = torch::zeros({batch, static_cast<int64_t>(target_width)}, torch::kInt64);
  b.target_out = torch::zeros({batch, static_cast<int64_t>(target_width)}, torch::kInt64);
  auto src = b.source.accessor<int64_t, 2>();
  auto tin = b.target_in.accessor<int64_t, 2>();
  auto tout = b.target_out.accessor<int64_t, 2>();
  auto lengths = b.source_lengths.accessor<int64_t, 1>();
  for (int64_t row = 0; row < batch; ++row) {
    const auto& pair = pairs[indices[row]];
    for (size_t j = 0; j < pair.source.size(); ++j) src[row][j] = pair.source[j];
    lengths[row] = static_cast<int64_t>(pair.source.size());
    tin[row][0] = Vocabulary::kSos;
    for (size_t j = 0; j < pair.target.size(); ++j) {
      tin[row][j + 1] = pair.target[j];
      tout[row][j] = pair.target[j];
    }
    tout[row][pair.target.size()] = Vocabulary::kEos;
    // The seed feeds <SOS> w1..wn <EOS> <PAD>.. shifted by one; shorter rows see their <EOS> as input.
    if (pair.target.size() + 1 < target_width) tin[row][pair.target.size() + 1] = Vocabulary::kEos;
    b.target_tokens += static_cast<int64_t>(pair.target.size()) + 1;
  }
  return b;
}

}  // namespace wordbridge
