#include "model/serve/translation_engine.h"

#include <algorithm>
#include <numeric>

#include "model/common/errors.h"
#include "model/serve/metrics.h"

namespace wordbridge {

namespace {

using Steady = std::chrono::steady_clock;

// Calls whose sentences may share a batch: one model version and the same search.
bool Compatible(const TranslationCall& a, const TranslationCall& b) {
  return a.bundle() == b.bundle() && a.options().beam_size == b.options().beam_size &&
         a.options().n_best == b.options().n_best && a.options().length_penalty == b.options().length_penalty &&
         a.options().record_attention == b.options().record_attention &&
         a.options().replace_unknown == b.options().replace_unknown;
}

int64_t OutputTokens(const std::vector<Translation>& translations) {
  int64_t tokens = 0;
  for (const auto& t : translations) {
    for (const auto& h : t.hypotheses) tokens += static_cast<int64_t>(h.tokens.size()) + 1;  // + <EOS>
  }
  return tokens;
}

}  // namespace

void EngineOptions::Validate() const {
  if (workers < 1 || workers > 256) throw InvalidArgumentError("workers must be in [1, 256]");
  if (threads_per_worker < 1 || threads_per_worker > 256) {
    throw InvalidArgumentError("threads per worker must be in [1, 256]");
  }
  if (queue_capacity < 1) throw InvalidArgumentError("queue capacity must be >= 1");
  if (max_batch_sentences < 1) throw InvalidArgumentError("max batch sentences must be >= 1");
  if (max_batch_tokens < 1) throw InvalidArgumentError("max batch tokens must be >= 1");
  if (batch_timeout_micros < 0 || batch_timeout_micros > 10'000'000) {
    throw InvalidArgumentError("batch timeout must be in [0, 10 s]");
  }
}

TranslationEngine::TranslationEngine(EngineOptions options, ComputeSlots* slots, MetricsRegistry* metrics)
    : options_(options) {
  options_.Validate();
  if (slots == nullptr) {
    own_slots_ = std::make_unique<ComputeSlots>(options_.workers * options_.threads_per_worker);
    slots = own_slots_.get();
  }
  slots_ = slots;
  if (metrics != nullptr) {
    queue_depth_ = &metrics->GetGauge("wordbridge_translate_queue_sentences", "Sentences waiting for a batch");
    batch_sentences_ = &metrics->GetHistogram("wordbridge_translate_batch_sentences", "Sentences per decoded batch",
                                              ExponentialBuckets(1, 2, 9));
    batch_tokens_ = &metrics->GetHistogram("wordbridge_translate_batch_tokens",
                                           "Source tokens per decoded batch (sentences x longest source)",
                                           ExponentialBuckets(8, 2, 12));
    queue_wait_ = &metrics->GetHistogram("wordbridge_translate_queue_wait_seconds",
                                         "Time from a call's arrival to the start of its first batch",
                                         ExponentialBuckets(0.0001, 2, 18));
    tokens_decoded_ = &metrics->GetCounter("wordbridge_translate_output_tokens_total", "Output tokens decoded");
    sentences_decoded_ = &metrics->GetCounter("wordbridge_translate_sentences_total", "Sentences decoded");
    rejected_ = &metrics->GetCounter("wordbridge_translate_rejected_total",
                                     "Calls refused because the queue was full");
  }
  for (int w = 0; w < options_.workers; ++w) workers_.emplace_back(&TranslationEngine::WorkerLoop, this);
}

TranslationEngine::~TranslationEngine() { Shutdown(); }

int TranslationEngine::queued_sentences() const {
  std::lock_guard lock(mutex_);
  return queued_sentences_;
}

std::shared_ptr<TranslationCall> TranslationEngine::Submit(std::shared_ptr<const ModelBundle> bundle,
                                                          const std::vector<std::string>& sentences,
                                                          const TranslationOptions& options,
                                                          TranslationCall::Clock::time_point deadline) {
  options.Validate();
  auto call = std::make_shared<TranslationCall>();
  call->options_ = options;
  call->options_.abandoned = nullptr;  // the engine sets its own per batch
  call->deadline_ = deadline;
  call->future_ = call->promise_.get_future().share();
  call->results_.resize(sentences.size());
  call->sources_.reserve(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    call->sources_.push_back(bundle->PrepareSource(sentences[i], i, options));
    if (call->sources_.back().ids.empty()) {
      call->results_[i].hypotheses.push_back({});  // nothing to translate
    } else {
      call->order_.push_back(i);
    }
  }
  std::stable_sort(call->order_.begin(), call->order_.end(), [&](size_t a, size_t b) {
    return call->sources_[a].ids.size() < call->sources_[b].ids.size();
  });
  call->remaining_ = call->order_.size();
  call->bundle_ = std::move(bundle);
  if (call->remaining_ == 0) {
    call->completed_ = true;
    call->promise_.set_value(std::move(call->results_));
    return call;
  }
  const int n = static_cast<int>(call->remaining_);
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) throw UnavailableError("the server is shutting down");
    // Calls nobody waits for any more give their places back before this one is measured.
    std::vector<std::shared_ptr<TranslationCall>> dropped;
    DropAbandonedLocked(&dropped);
    for (auto& gone : dropped) Fail(*gone, AbandonedError(*gone));
    if (queued_sentences_ > 0 && queued_sentences_ + n > options_.queue_capacity) {
      if (rejected_) rejected_->Increment();
      throw ResourceExhaustedError("the translation queue is full (" + std::to_string(queued_sentences_) + " of " +
                                   std::to_string(options_.queue_capacity) + " sentences waiting; this call has " +
                                   std::to_string(n) + "); retry later");
    }
    // Shed load early: a call that would still be queued at its deadline only takes a place.
    const double wait = ExpectedWaitSecondsLocked();
    if (deadline != TranslationCall::Clock::time_point::max() && wait > 0 &&
        TranslationCall::Clock::now() + std::chrono::duration<double>(wait) > deadline) {
      if (rejected_) rejected_->Increment();
      throw ResourceExhaustedError("the server is busy: the translation queue holds about " +
                                   std::to_string(static_cast<int>(wait * 1000)) +
                                   " ms of work, more than the call's deadline allows; retry later");
    }
    call->enqueued_ = Steady::now();
    queue_.push_back(call);
    queued_sentences_ += n;
    if (queue_depth_) queue_depth_->Set(queued_sentences_);
  }
  work_ready_.notify_one();
  return call;
}

std::vector<Translation> TranslationEngine::Translate(std::shared_ptr<const ModelBundle> bundle,
                                                      const std::vector<std::string>& sentences,
                                                      const TranslationOptions& options, const StopToken* stop,
                                                      TranslationCall::Clock::time_point deadline) {
  auto call = Submit(std::move(bundle), sentences, options, deadline);
  auto future = call->future();
  // Poll for the caller going away or its deadline; either gives the call's place up at once.
  while (future.wait_for(std::chrono::milliseconds(5)) != std::future_status::ready) {
    if (TranslationCall::Clock::now() >= call->deadline()) {
      Cancel(call);
      throw DeadlineExceededError("deadline exceeded before the translation finished");
    }
    if (stop != nullptr && (stop->StopRequested() || stop->DeadlinePassed())) {
      Cancel(call);
      ThrowIfStopped(stop);
      throw CancelledError("cancelled");
    }
  }
  return future.get();
}

void TranslationEngine::Cancel(const std::shared_ptr<TranslationCall>& call) {
  call->Cancel();
  std::lock_guard lock(mutex_);
  auto it = std::find(queue_.begin(), queue_.end(), call);
  if (it != queue_.end()) {
    queued_sentences_ -= static_cast<int>(call->order_.size() - call->next_);
    queue_.erase(it);
    if (queue_depth_) queue_depth_->Set(queued_sentences_);
    if (queue_.empty()) drained_.notify_all();
  }
  Fail(*call, AbandonedError(*call));
}

void TranslationEngine::RunOnWorker(const std::function<void()>& task) {
  std::packaged_task<void()> packaged(task);
  auto done = packaged.get_future();
  {
    std::lock_guard lock(mutex_);
    if (!accepting_) throw UnavailableError("the server is shutting down");
    tasks_.push_back([&packaged] { packaged(); });
  }
  work_ready_.notify_one();
  done.get();
}

void TranslationEngine::Shutdown(std::chrono::milliseconds grace) {
  std::lock_guard shutting_down(shutdown_mutex_);
  if (workers_.empty()) return;
  std::vector<std::shared_ptr<TranslationCall>> left;
  {
    std::unique_lock lock(mutex_);
    accepting_ = false;
    work_ready_.notify_all();  // a worker waiting for a batch to fill starts it now
    drained_.wait_for(lock, grace, [&] { return queue_.empty(); });
    // Batches already running finish; queued tasks still run (workers take them before stopping).
    stopping_ = true;
    left.assign(queue_.begin(), queue_.end());
    queue_.clear();
    queued_sentences_ = 0;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
  workers_.clear();
  auto error = std::make_exception_ptr(UnavailableError("the server shut down before the translation started"));
  std::lock_guard lock(mutex_);
  for (auto& call : left) Fail(*call, error);
}

void TranslationEngine::Fail(TranslationCall& call, std::exception_ptr error) {
  if (call.completed_) return;
  call.completed_ = true;
  call.promise_.set_exception(error);
}

std::exception_ptr TranslationEngine::AbandonedError(const TranslationCall& call) {
  if (call.abandoned_.load()) return std::make_exception_ptr(CancelledError("the call was cancelled"));
  return std::make_exception_ptr(
      DeadlineExceededError("deadline exceeded before the translation finished; the server is busy"));
}

void TranslationEngine::DropAbandonedLocked(std::vector<std::shared_ptr<TranslationCall>>* failed) {
  if (queue_.empty()) return;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if ((*it)->abandoned()) {
      queued_sentences_ -= static_cast<int>((*it)->order_.size() - (*it)->next_);
      failed->push_back(*it);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
}

bool TranslationEngine::NextWork(std::unique_lock<std::mutex>& lock, std::function<void()>* task, Batch* batch) {
  while (true) {
    if (!tasks_.empty()) {
      *task = std::move(tasks_.front());
      tasks_.pop_front();
      return true;
    }
    if (stopping_) return false;
    std::vector<std::shared_ptr<TranslationCall>> dropped;
    DropAbandonedLocked(&dropped);
    for (auto& call : dropped) Fail(*call, AbandonedError(*call));
    if (queue_.empty()) {
      if (!accepting_) drained_.notify_all();
      work_ready_.wait(lock);
      continue;
    }
    // Start when the batch is full, when its oldest sentence has waited long enough, or when draining.
    const auto start_by = queue_.front()->enqueued_ + std::chrono::microseconds(options_.batch_timeout_micros);
    if (queued_sentences_ >= options_.max_batch_sentences || !accepting_ || Steady::now() >= start_by) {
      *batch = TakeBatchLocked();
      return true;
    }
    work_ready_.wait_until(lock, start_by);
  }
}

TranslationEngine::Batch TranslationEngine::TakeBatchLocked() {
  Batch batch;
  std::vector<std::shared_ptr<TranslationCall>> group;
  for (auto& call : queue_) {
    if (Compatible(*call, *queue_.front())) group.push_back(call);
  }
  if (queue_wait_) {
    const auto now = Steady::now();
    for (auto& call : group) {
      if (call->next_ == 0) queue_wait_->Observe(std::chrono::duration<double>(now - call->enqueued_).count());
    }
  }
  // Round-robin, one sentence per call per turn, within the sentence and token bounds; each call's
  // sentences come shortest first, so a large call's batches stay length-sorted.
  const auto full = [&] { return static_cast<int>(batch.indices.size()) >= options_.max_batch_sentences; };
  size_t width = 0;
  for (bool took = true; took && !full();) {
    took = false;
    for (auto& call : group) {
      if (full()) break;
      if (call->next_ >= call->order_.size()) continue;
      const size_t index = call->order_[call->next_];
      const size_t new_width = std::max(width, call->sources_[index].ids.size());
      if (!batch.indices.empty() &&
          static_cast<int64_t>(new_width * (batch.indices.size() + 1)) > options_.max_batch_tokens) {
        continue;
      }
      width = new_width;
      ++call->next_;
      batch.calls.push_back(call);
      batch.indices.push_back(index);
      took = true;
    }
  }
  queued_sentences_ -= static_cast<int>(batch.indices.size());
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [](const auto& call) { return call->next_ >= call->order_.size(); }),
               queue_.end());
  if (queue_.empty()) drained_.notify_all();
  if (queue_depth_) queue_depth_->Set(queued_sentences_);
  if (batch_sentences_) batch_sentences_->Observe(static_cast<double>(batch.indices.size()));
  if (batch_tokens_) batch_tokens_->Observe(static_cast<double>(width * batch.indices.size()));
  return batch;
}

void TranslationEngine::WorkerLoop() {
  SetThreadComputeThreads(options_.threads_per_worker);
  std::unique_lock lock(mutex_);
  while (true) {
    std::function<void()> task;
    Batch batch;
    if (!NextWork(lock, &task, &batch)) return;
    if (task) {
      lock.unlock();
      SlotLease lease = AcquireSlots();
      task();
      lock.lock();
      continue;
    }
    // More may be queued than this batch took: let another worker look.
    if (!queue_.empty()) work_ready_.notify_one();
    lock.unlock();
    RunBatch(batch);
    lock.lock();
  }
}

SlotLease TranslationEngine::AcquireSlots() {
  slots_->Acquire(options_.threads_per_worker);
  return SlotLease(slots_, options_.threads_per_worker);
}

double TranslationEngine::ExpectedWaitSecondsLocked() const {
  return seconds_per_sentence_ * queued_sentences_ / options_.workers;
}

void TranslationEngine::RunBatch(Batch& batch) {
  std::vector<Translation> decoded;
  std::exception_ptr error;
  try {
    const TranslationCall& first = *batch.calls.front();
    TranslationOptions options = first.options_;
    options.abandoned = [&batch](int64_t sentence) { return batch.calls[sentence]->abandoned(); };
    std::vector<const SourceSentence*> sources;
    sources.reserve(batch.indices.size());
    for (size_t i = 0; i < batch.indices.size(); ++i) sources.push_back(&batch.calls[i]->sources_[batch.indices[i]]);
    SlotLease lease = AcquireSlots();
    const auto start = Steady::now();
    decoded = first.bundle_->DecodeBatch(sources, options);
    // Only well-filled batches say how fast a deep queue drains (small ones cost more per sentence).
    if (2 * sources.size() >= static_cast<size_t>(options_.max_batch_sentences)) {
      const double per_sentence = std::chrono::duration<double>(Steady::now() - start).count() / sources.size();
      std::lock_guard lock(mutex_);
      seconds_per_sentence_ =
          seconds_per_sentence_ == 0 ? per_sentence : 0.8 * seconds_per_sentence_ + 0.2 * per_sentence;
    }
  } catch (...) {
    error = std::current_exception();
  }
  FinishBatch(batch, &decoded, error);
}

void TranslationEngine::FinishBatch(Batch& batch, std::vector<Translation>* decoded, std::exception_ptr error) {
  if (!error) {
    if (tokens_decoded_) tokens_decoded_->Increment(static_cast<double>(OutputTokens(*decoded)));
    if (sentences_decoded_) sentences_decoded_->Increment(static_cast<double>(decoded->size()));
  }
  std::vector<std::shared_ptr<TranslationCall>> done;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < batch.indices.size(); ++i) {
      TranslationCall& call = *batch.calls[i];
      if (call.completed_) continue;
      if (error) {
        Fail(call, error);
        continue;
      }
      if (call.abandoned()) {
        Fail(call, AbandonedError(call));
        continue;
      }
      call.results_[batch.indices[i]] = std::move((*decoded)[i]);
      if (--call.remaining_ == 0) done.push_back(batch.calls[i]);
    }
    for (auto& call : done) call->completed_ = true;
  }
  // Set outside the lock: a waiting caller wakes and may call back into the engine.
  for (auto& call : done) call->promise_.set_value(std::move(call->results_));
}

}  // namespace wordbridge
