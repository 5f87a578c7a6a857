#include "model/serve/translation_engine.h"

#include <algorithm>
#include <numeric>

#include "model/common/errors.h"
#include "model/decode/greedy_batch.h"
#include "model/serve/metrics.h"

namespace wordbridge {

namespace {

using Steady = std::chrono::steady_clock;

// Calls whose sentences may share a batch: one model version, the same search and compute type, and
// the same vocabulary (shortlisted or not).
bool Compatible(const TranslationCall& a, const TranslationCall& b) {
  return a.bundle() == b.bundle() && a.options().beam_size == b.options().beam_size &&
         a.options().n_best == b.options().n_best && a.options().length_penalty == b.options().length_penalty &&
         a.options().record_attention == b.options().record_attention &&
         a.options().replace_unknown == b.options().replace_unknown &&
         a.options().compute_type == b.options().compute_type &&
         a.options().use_shortlist == b.options().use_shortlist;
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
  if (worker_nice < 0 || worker_nice > 19) throw InvalidArgumentError("worker nice must be in [0, 19]");
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
  bundle->ShortlistFor(options);  // a version without a shortlist refuses use_shortlist here, before queueing
  auto call = std::make_shared<TranslationCall>();
  call->options_ = options;
  call->options_.abandoned = nullptr;  // the engine sets its own per batch
  if (!call->options_.compute_type) call->options_.compute_type = options_.compute_type;
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
    DropAbandonedLocked();  // calls nobody waits for give their places back before this one is measured
    if (queued_sentences_ > 0 && queued_sentences_ + n > options_.queue_capacity) {
      if (rejected_) rejected_->Increment();
      throw ResourceExhaustedError("the translation queue is full (" + std::to_string(queued_sentences_) + " of " +
                                   std::to_string(options_.queue_capacity) + " sentences waiting; this call has " +
                                   std::to_string(n) + "); retry later");
    }
    // Shed load early: a call that would not finish by its deadline only takes a place and a worker's
    // time from calls that can.
    const double expected = ExpectedLatencySecondsLocked(n);
    if (deadline != TranslationCall::Clock::time_point::max() && expected > 0 &&
        TranslationCall::Clock::now() + std::chrono::duration<double>(expected) > deadline) {
      if (rejected_) rejected_->Increment();
      throw ResourceExhaustedError("the server is busy: this call would take about " +
                                   std::to_string(static_cast<int>(expected * 1000)) +
                                   " ms with the work queued before it, more than its deadline allows; retry later");
    }
    call->enqueued_ = Steady::now();
    queue_.push_back(call);
    queued_sentences_ += n;
    QueueChangedLocked();
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
  // Poll for the caller going away (there is no callback for it); the deadline is waited for exactly.
  // Either gives the call's place up at once. A slower poll means fewer wake-ups under load.
  constexpr auto kPoll = std::chrono::milliseconds(25);
  while (future.wait_until(std::min(call->deadline(), TranslationCall::Clock::now() + kPoll)) !=
         std::future_status::ready) {
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
    queued_sentences_ -= call->pending();
    queue_.erase(it);
    QueueChangedLocked();
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

void TranslationEngine::DropAbandonedLocked() {
  const auto abandoned = std::stable_partition(queue_.begin(), queue_.end(),
                                               [](const auto& call) { return !call->abandoned(); });
  if (abandoned == queue_.end()) return;
  for (auto it = abandoned; it != queue_.end(); ++it) {
    queued_sentences_ -= (*it)->pending();
    Fail(**it, AbandonedError(**it));
  }
  queue_.erase(abandoned, queue_.end());
  QueueChangedLocked();
}

void TranslationEngine::QueueChangedLocked() {
  if (queue_depth_) queue_depth_->Set(queued_sentences_);
  if (queue_.empty()) drained_.notify_all();
}

bool TranslationEngine::NextWork(std::unique_lock<std::mutex>& lock, std::function<void()>* task, Batch* batch,
                                 SlotLease* lease) {
  // Work is taken only with compute slots in hand: a worker that waited for them (while training or
  // another worker used the cores) must not sit on sentences another worker could decode.
  const auto ensure_slots = [&] {
    if (lease->size() > 0) return true;
    lock.unlock();
    *lease = AcquireSlots();
    lock.lock();
    return false;  // look again: the work may have gone to another worker meanwhile
  };
  while (true) {
    if (!tasks_.empty()) {
      if (!ensure_slots()) continue;
      *task = std::move(tasks_.front());
      tasks_.pop_front();
      return true;
    }
    if (stopping_) return false;
    DropAbandonedLocked();
    if (queue_.empty()) {
      if (!accepting_) drained_.notify_all();
      lease->Reset();  // an idle worker holds no cores
      work_ready_.wait(lock);
      continue;
    }
    // Start when the batch is full, when its oldest sentence has waited long enough, or when draining.
    const auto start_by = queue_.front()->enqueued_ + std::chrono::microseconds(options_.batch_timeout_micros);
    if (queued_sentences_ >= options_.max_batch_sentences || !accepting_ || Steady::now() >= start_by) {
      if (!ensure_slots()) continue;
      // With workers idle, share the queue among them rather than give one worker all of it: a single
      // large call then runs on every core.
      const int idle = std::max(1, options_.workers - busy_workers_);
      *batch = TakeBatchLocked(*queue_.front(), 0, 0, (queued_sentences_ + idle - 1) / idle);
      ++busy_workers_;
      return true;
    }
    work_ready_.wait_until(lock, start_by);
  }
}

TranslationEngine::Batch TranslationEngine::TakeBatchLocked(const TranslationCall& key, int rows, size_t width,
                                                            int limit) {
  Batch batch;
  std::vector<std::shared_ptr<TranslationCall>> group;
  for (auto& call : queue_) {
    if (Compatible(*call, key)) group.push_back(call);
  }
  if (queue_wait_) {
    const auto now = Steady::now();
    for (auto& call : group) {
      if (call->next_ == 0) queue_wait_->Observe(std::chrono::duration<double>(now - call->enqueued_).count());
    }
  }
  // Round-robin, one sentence per call per turn, within the sentence and token bounds; each call's
  // sentences come shortest first, so a large call's batches stay length-sorted.
  const auto total = [&] { return rows + static_cast<int>(batch.indices.size()); };
  const auto full = [&] {
    return total() >= options_.max_batch_sentences || static_cast<int>(batch.indices.size()) >= limit;
  };
  for (bool took = true; took && !full();) {
    took = false;
    for (auto& call : group) {
      if (full()) break;
      if (call->pending() == 0) continue;
      const size_t index = call->order_[call->next_];
      const size_t new_width = std::max(width, call->sources_[index].ids.size());
      if (total() > 0 && static_cast<int64_t>(new_width * (total() + 1)) > options_.max_batch_tokens) continue;
      width = new_width;
      ++call->next_;
      batch.calls.push_back(call);
      batch.indices.push_back(index);
      took = true;
    }
  }
  if (batch.indices.empty()) return batch;
  queued_sentences_ -= static_cast<int>(batch.indices.size());
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [](const auto& call) { return call->pending() == 0; }),
               queue_.end());
  QueueChangedLocked();
  if (batch_sentences_) batch_sentences_->Observe(static_cast<double>(total()));
  if (batch_tokens_) batch_tokens_->Observe(static_cast<double>(width * total()));
  return batch;
}

void TranslationEngine::WorkerLoop() {
  SetThreadNice(options_.worker_nice);
  SetThreadComputeThreads(options_.threads_per_worker);
  std::unique_lock lock(mutex_);
  while (true) {
    std::function<void()> task;
    Batch batch;
    SlotLease lease;
    if (!NextWork(lock, &task, &batch, &lease)) return;
    if (task) {
      lock.unlock();
      task();
      lease.Reset();
      lock.lock();
      continue;
    }
    // More may be queued than this batch took: let another worker look.
    if (!queue_.empty()) work_ready_.notify_one();
    lock.unlock();
    if (batch.calls.front()->options_.beam_size == 1) {
      RunContinuous(batch);
    } else {
      RunBatch(batch);
    }
    lease.Reset();
    lock.lock();
    --busy_workers_;
  }
}

SlotLease TranslationEngine::AcquireSlots() {
  slots_->Acquire(options_.threads_per_worker);
  return SlotLease(slots_, options_.threads_per_worker);
}

double TranslationEngine::ExpectedLatencySecondsLocked(int sentences) const {
  // The queue ahead drains over all workers; the call's own sentences then take about one batch's
  // time. The margin covers what an average hides: a deep queue makes the fullest, slowest batches.
  constexpr double kMargin = 2.0;
  if (sentences <= 0) return 0;
  return kMargin * (seconds_per_sentence_ * queued_sentences_ / options_.workers + seconds_per_batch_);
}

void TranslationEngine::RecordSpeed(double seconds_per_sentence, double seconds_per_batch) {
  std::lock_guard lock(mutex_);
  const bool first = seconds_per_batch_ == 0;
  seconds_per_sentence_ = first ? seconds_per_sentence : 0.8 * seconds_per_sentence_ + 0.2 * seconds_per_sentence;
  seconds_per_batch_ = first ? seconds_per_batch : 0.8 * seconds_per_batch_ + 0.2 * seconds_per_batch;
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
    const auto start = Steady::now();
    decoded = first.bundle_->DecodeBatch(sources, options);
    // Only well-filled batches say how fast a deep queue drains (small ones cost more per sentence).
    if (2 * sources.size() >= static_cast<size_t>(options_.max_batch_sentences)) {
      const double seconds = std::chrono::duration<double>(Steady::now() - start).count();
      RecordSpeed(seconds / sources.size(), seconds);
    }
  } catch (...) {
    error = std::current_exception();
  }
  if (!error) {
    const auto delivered = std::count_if(decoded.begin(), decoded.end(),
                                         [](const Translation& t) { return !t.hypotheses.empty(); });
    if (tokens_decoded_) tokens_decoded_->Increment(static_cast<double>(OutputTokens(decoded)));
    if (sentences_decoded_) sentences_decoded_->Increment(static_cast<double>(delivered));
  }
  std::vector<std::shared_ptr<TranslationCall>> done;
  {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < batch.indices.size(); ++i) {
      if (error) {
        Fail(*batch.calls[i], error);
      } else {
        DeliverLocked(batch.calls[i], batch.indices[i], std::move(decoded[i]), &done);
      }
    }
  }
  Complete(done);
}

void TranslationEngine::RunContinuous(Batch& first) {
  // Rows of the running batch by tag: the call and the sentence's index in it, and when it joined.
  // Tags of rows that left are reused, so a run that lasts as long as the load holds only the calls
  // it is decoding.
  std::vector<std::pair<std::shared_ptr<TranslationCall>, size_t>> rows;
  std::vector<Steady::time_point> joined;
  std::vector<int64_t> free_tags;
  const auto release = [&](int64_t tag) {
    rows[tag].first.reset();
    free_tags.push_back(tag);
  };
  const std::shared_ptr<TranslationCall> key = first.calls.front();
  const ModelBundle& bundle = *key->bundle_;
  const TranslationOptions& options = key->options_;
  c10::InferenceMode inference;
  GreedyBatch decoding(bundle.network(), options.SearchesAttention(), &bundle.Packed(*options.compute_type),
                       bundle.ShortlistFor(options));

  // Speed accounting for admission, refreshed every half batch of finished sentences.
  auto since = Steady::now();
  int finished_since = 0;
  double time_in_batch = 0;

  const auto add = [&](Batch& more) {
    std::vector<const SourceSentence*> sources;
    std::vector<int64_t> max_lengths, tags;
    for (size_t i = 0; i < more.indices.size(); ++i) {
      const TranslationCall& call = *more.calls[i];
      sources.push_back(&call.sources_[more.indices[i]]);
      max_lengths.push_back(call.options_.OutputCap(static_cast<int64_t>(sources.back()->ids.size())));
      int64_t tag = static_cast<int64_t>(rows.size());
      if (free_tags.empty()) {
        rows.emplace_back();
        joined.emplace_back();
      } else {
        tag = free_tags.back();
        free_tags.pop_back();
      }
      rows[tag] = {more.calls[i], more.indices[i]};
      joined[tag] = Steady::now();
      tags.push_back(tag);
    }
    // Each call keeps its own max_length: the caps are per sentence, not the batch's.
    const SourceBatch batch = MakeSourceBatch(sources, options);
    decoding.Add(batch.source, batch.lengths, max_lengths, tags);
  };

  std::vector<std::shared_ptr<TranslationCall>> done;
  try {
    add(first);
    while (decoding.size() > 0) {
      for (int64_t tag : decoding.Drop([&](int64_t tag) { return rows[tag].first->abandoned(); })) {
        {
          std::lock_guard lock(mutex_);
          Fail(*rows[tag].first, AbandonedError(*rows[tag].first));
        }
        release(tag);
      }
      auto finished = decoding.Step();
      if (!finished.empty()) {
        std::vector<Translation> translations;
        for (auto& f : finished) {
          const auto& [call, index] = rows[f.tag];
          std::vector<SearchHypothesis> hypotheses;
          hypotheses.push_back(std::move(f.hypothesis));
          translations.push_back(bundle.ToTranslation(call->sources_[index], std::move(hypotheses), options));
          time_in_batch += std::chrono::duration<double>(Steady::now() - joined[f.tag]).count();
        }
        if (tokens_decoded_) tokens_decoded_->Increment(static_cast<double>(OutputTokens(translations)));
        if (sentences_decoded_) sentences_decoded_->Increment(static_cast<double>(translations.size()));
        {
          std::lock_guard lock(mutex_);
          for (size_t i = 0; i < finished.size(); ++i) {
            const auto& [call, index] = rows[finished[i].tag];
            DeliverLocked(call, index, std::move(translations[i]), &done);
          }
        }
        for (const auto& f : finished) release(f.tag);
        Complete(done);
        done.clear();
        finished_since += static_cast<int>(finished.size());
        if (2 * finished_since >= options_.max_batch_sentences) {
          const double seconds = std::chrono::duration<double>(Steady::now() - since).count();
          RecordSpeed(seconds / finished_since, time_in_batch / finished_since);
          since = Steady::now();
          finished_since = 0;
          time_in_batch = 0;
        }
      }
      // Between steps: a short task (a sentence vector) runs now rather than after this batch, and
      // queued sentences of compatible calls take the places of those that finished.
      std::function<void()> task;
      Batch more;
      {
        std::lock_guard lock(mutex_);
        if (!tasks_.empty()) {
          task = std::move(tasks_.front());
          tasks_.pop_front();
        }
        // Joining costs an encoder pass and a copy of the batch's tensors: a large batch waits until an
        // eighth of it is free (as it compacts), a small one takes newcomers at once.
        const int64_t free = options_.max_batch_sentences - decoding.size();
        if (!queue_.empty() && free > 0 && free * 8 >= decoding.size()) {
          const int others_idle = std::max(0, options_.workers - busy_workers_);
          more = TakeBatchLocked(*key, static_cast<int>(decoding.size()),
                                 static_cast<size_t>(decoding.longest_source()),
                                 (queued_sentences_ + others_idle) / (others_idle + 1));
        }
      }
      if (task) task();
      if (!more.indices.empty()) add(more);
    }
  } catch (...) {
    auto error = std::current_exception();
    std::lock_guard lock(mutex_);
    for (auto& row : rows) {
      if (row.first) Fail(*row.first, error);
    }
  }
}

void TranslationEngine::DeliverLocked(const std::shared_ptr<TranslationCall>& call, size_t index,
                                      Translation translation, std::vector<std::shared_ptr<TranslationCall>>* done) {
  if (call->completed_) return;
  if (call->abandoned()) {
    Fail(*call, AbandonedError(*call));
    return;
  }
  call->results_[index] = std::move(translation);
  if (--call->remaining_ == 0) {
    call->completed_ = true;
    done->push_back(call);
  }
}

void TranslationEngine::Complete(const std::vector<std::shared_ptr<TranslationCall>>& done) {
  // Outside the lock: a waiting caller wakes and may call back into the engine.
  for (auto& call : done) call->promise_.set_value(std::move(call->results_));
}

}  // namespace wordbridge
