// TranslationEngine: the serving engine. A fixed pool of inference workers fed by one bounded queue;
// sentences of concurrent requests with compatible options are merged into batches (CTranslate2's
// translator pool, TF Serving's batch scheduler). Callers submit and get a future; no thread is made
// per request, and no forward pass runs on the caller's thread.
//
// Request path: Submit tokenizes on the caller's thread (cheap, and bad input fails at once), checks
// the queue's capacity and enqueues. A free worker takes the oldest request's batching key and fills
// a batch round-robin over the queued requests of that key - one sentence from each in turn, each
// request's sentences shortest first - up to max_batch_sentences and max_batch_tokens, waiting at most
// batch_timeout_micros for a batch to fill. A large request is thereby split and interleaved with
// small ones. Greedy batches are continuous: finished sentences leave at the step they end and queued
// compatible sentences join between steps, so a one-sentence request waits for at most a few steps;
// beam batches run to their end. Results go back into their request's slots; the future is set when
// the last one arrives. docs/design.md draws the whole path.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "model/common/cancellation.h"
#include "model/serve/compute_slots.h"
#include "model/store/model_bundle.h"

namespace wordbridge {

class MetricsRegistry;
class Counter;
class Gauge;
class Histogram;

struct EngineOptions {
  // Inference workers, each decoding one batch at a time (CTranslate2's inter_threads).
  int workers = 2;
  // OpenMP threads of each worker (intra_threads). Decoding's per-step products are small, and one
  // core per worker serves them better than two cores on one batch.
  int threads_per_worker = 1;
  // Sentences that may wait in the queue; a call that would go beyond it is refused with
  // ResourceExhaustedError (an empty queue takes any call, so one large request is never refused).
  // Calls are also refused when the queue's expected wait already exceeds their deadline.
  int queue_capacity = 1024;
  // Largest batch in sentences, and in source tokens (sentences x longest source).
  int max_batch_sentences = 64;
  int max_batch_tokens = 6000;
  // How long a batch that is not full may wait for more sentences before it starts, counted from
  // its oldest sentence's arrival (TF Serving's batch_timeout_micros). 0 = start at once.
  int64_t batch_timeout_micros = 1000;
  // Scheduling niceness of the workers (see SetThreadNice): below the RPC threads, so a FAISS search
  // never waits behind a decoding step for a core.
  int worker_nice = 5;
  // The compute type of calls that name none (TranslationOptions::compute_type).
  ComputeType compute_type = kDefaultComputeType;

  void Validate() const;  // throws InvalidArgumentError
};

// One submitted request. The engine and the waiting caller share it.
class TranslationCall {
 public:
  using Clock = std::chrono::system_clock;

  // The results, one per sentence in order, or the error that ended the call.
  std::shared_future<std::vector<Translation>> future() const { return future_; }
  // Nobody waits any more: queued sentences are dropped when the engine next looks at the queue,
  // running ones leave their batch at the next step, and the future holds CancelledError.
  // TranslationEngine::Cancel also gives the call's queue places back at once.
  void Cancel() { abandoned_.store(true); }
  bool abandoned() const { return abandoned_.load() || Clock::now() >= deadline_; }
  Clock::time_point deadline() const { return deadline_; }
  const ModelBundle* bundle() const { return bundle_.get(); }
  const TranslationOptions& options() const { return options_; }

 private:
  friend class TranslationEngine;

  std::shared_ptr<const ModelBundle> bundle_;
  TranslationOptions options_;
  std::vector<SourceSentence> sources_;
  std::vector<size_t> order_;  // sentences to decode, shortest first
  size_t next_ = 0;            // next entry of order_ to batch
  size_t remaining_ = 0;       // sentences not yet decoded
  std::vector<Translation> results_;
  bool completed_ = false;     // the promise is set
  std::promise<std::vector<Translation>> promise_;
  std::shared_future<std::vector<Translation>> future_;
  std::atomic<bool> abandoned_{false};
  Clock::time_point deadline_ = Clock::time_point::max();
  std::chrono::steady_clock::time_point enqueued_;

  // Sentences not yet taken into a batch.
  int pending() const { return static_cast<int>(order_.size() - next_); }
};

class TranslationEngine {
 public:
  // `slots` is the process's compute budget, shared with training (may be null: then the engine
  // makes one of workers x threads_per_worker). `metrics` may be null.
  TranslationEngine(EngineOptions options, ComputeSlots* slots = nullptr, MetricsRegistry* metrics = nullptr);
  ~TranslationEngine();  // Shutdown with no grace

  // Queues `sentences` for translation with `bundle`. Throws InvalidArgumentError for bad options or
  // an over-long sentence, ResourceExhaustedError when the queue cannot take them, UnavailableError
  // after Shutdown. The call fails with DeadlineExceededError if it is still queued at `deadline`.
  std::shared_ptr<TranslationCall> Submit(std::shared_ptr<const ModelBundle> bundle,
                                          const std::vector<std::string>& sentences,
                                          const TranslationOptions& options,
                                          TranslationCall::Clock::time_point deadline =
                                              TranslationCall::Clock::time_point::max());

  // Submit, then wait until done, the call's deadline, or `stop` (polled) says stop. On stop or
  // deadline the call is cancelled and CancelledError / DeadlineExceededError thrown.
  std::vector<Translation> Translate(std::shared_ptr<const ModelBundle> bundle,
                                     const std::vector<std::string>& sentences, const TranslationOptions& options,
                                     const StopToken* stop,
                                     TranslationCall::Clock::time_point deadline =
                                         TranslationCall::Clock::time_point::max());

  // Cancels `call` (see TranslationCall::Cancel) and removes its queued sentences now.
  void Cancel(const std::shared_ptr<TranslationCall>& call);

  // Runs `task` on a worker ahead of queued batches (short forward passes, e.g. a sentence vector),
  // and waits for it. Exceptions propagate.
  void RunOnWorker(const std::function<void()>& task);

  // Stops taking work, lets the workers finish what is queued for up to `grace`, fails the rest with
  // UnavailableError and joins the workers. Idempotent.
  void Shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  const EngineOptions& options() const { return options_; }
  int queued_sentences() const;

 private:
  struct Batch {
    std::vector<std::shared_ptr<TranslationCall>> calls;  // per sentence: its call
    std::vector<size_t> indices;                          // per sentence: its index in the call
  };

  void WorkerLoop();
  // Waits for a task or a batch to start and for the compute slots to run it (held in `lease`);
  // false when the engine stops.
  bool NextWork(std::unique_lock<std::mutex>& lock, std::function<void()>* task, Batch* batch, SlotLease* lease);
  // Removes abandoned calls from the queue and fails them.
  void DropAbandonedLocked();
  // After the queue changed: the depth gauge, and Shutdown's wait for an empty queue.
  void QueueChangedLocked();
  // Takes up to max_batch_sentences - `rows` (and at most `limit`) queued sentences of calls
  // compatible with `key`, round-robin over the calls, keeping (rows + taken) x longest source (at
  // least `width`) within max_batch_tokens.
  Batch TakeBatchLocked(const TranslationCall& key, int rows, size_t width, int limit);
  // Beam search: decodes `batch` as one static batch.
  void RunBatch(Batch& batch);
  // Greedy search: decodes `batch` as a running batch that finished sentences leave at once and
  // queued compatible sentences join between steps, until it runs dry.
  void RunContinuous(Batch& batch);
  // Stores a sentence's translation in its call (under mutex_); adds the call to `done` when it was
  // the last one.
  void DeliverLocked(const std::shared_ptr<TranslationCall>& call, size_t index, Translation translation,
                     std::vector<std::shared_ptr<TranslationCall>>* done);
  // Sets the promises of completed calls (outside mutex_).
  static void Complete(const std::vector<std::shared_ptr<TranslationCall>>& done);
  // Expected time until a call of `sentences` queued now is decoded (under mutex_); 0 when unknown.
  double ExpectedLatencySecondsLocked(int sentences) const;
  // Folds a measured speed into the admission estimate.
  void RecordSpeed(double seconds_per_sentence, double seconds_per_batch);
  SlotLease AcquireSlots();
  // Sets the call's error once (under mutex_).
  static void Fail(TranslationCall& call, std::exception_ptr error);
  // CancelledError or DeadlineExceededError, whichever ended the call.
  static std::exception_ptr AbandonedError(const TranslationCall& call);

  EngineOptions options_;
  std::unique_ptr<ComputeSlots> own_slots_;
  ComputeSlots* slots_;

  std::mutex shutdown_mutex_;  // one Shutdown at a time
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable drained_;  // the queue became empty (Shutdown's grace period)
  std::deque<std::shared_ptr<TranslationCall>> queue_;  // arrival order
  std::deque<std::function<void()>> tasks_;
  int queued_sentences_ = 0;
  int busy_workers_ = 0;  // workers decoding a batch
  bool accepting_ = true;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
  // Seconds a worker spends per sentence and per batch in well-filled batches (EWMA; 0 = not
  // measured yet): the basis of the expected latency that admission compares with a deadline.
  double seconds_per_sentence_ = 0;
  double seconds_per_batch_ = 0;

  // Metrics (null without a registry).
  Gauge* queue_depth_ = nullptr;
  Histogram* batch_sentences_ = nullptr;
  Histogram* batch_tokens_ = nullptr;
  Histogram* queue_wait_ = nullptr;
  Counter* tokens_decoded_ = nullptr;
  Counter* sentences_decoded_ = nullptr;
  Counter* rejected_ = nullptr;
};

}  // namespace wordbridge
