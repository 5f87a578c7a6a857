// The serving engine as the benchmarks run it: the whole test set queued at once, batches bounded by
// sentences only, so a figure measures decoding rather than admission or token limits.
#pragma once

#include "model/serve/translation_engine.h"

namespace wordbridge::bench {

inline EngineOptions WholeTestSetEngine(int workers, int threads_per_worker, int batch, size_t sentences,
                                        ComputeType compute_type = kDefaultComputeType) {
  EngineOptions options;
  options.workers = workers;
  options.threads_per_worker = threads_per_worker;
  options.max_batch_sentences = batch;
  options.max_batch_tokens = 1 << 30;
  options.queue_capacity = static_cast<int>(sentences);
  options.compute_type = compute_type;
  return options;
}

}  // namespace wordbridge::bench
