#include "model/jobs/training_jobs.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <random>
#include <set>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/train/training_checkpoint.h"

namespace wordbridge {

namespace {
// Training runs below translation workers (nice 5) and RPC threads (0): requests come first, and a
// training job takes the cycles they leave.
constexpr int kTrainingNice = 10;
// A running job rewrites its record after an epoch when the last write is this old (and always when
// it starts and ends), so a short epoch does not cost an fsync each.
constexpr auto kRecordInterval = std::chrono::seconds(5);

using Clock = std::chrono::system_clock;

// The job managers alive in this process, by id: a record naming this process and a manager that is
// not here belongs to one that was destroyed while its job ran (a restart within the process).
std::mutex live_managers_mutex;
std::set<std::string> live_managers;

std::string NewManagerId() {
  std::random_device random;
  return std::to_string(random()) + std::to_string(random());
}

bool SameProcess(const StagingOwner& a, const StagingOwner& b) {
  return a.CheckableFrom(b) && a.pid == b.pid && a.start_time == b.start_time;
}

}  // namespace

std::optional<JobProgress> DoneProgressOf(const JobRecord& record) {
  if (record.state != JobState::kSucceeded) return std::nullopt;
  JobProgress done;
  done.stage = JobProgress::Stage::kDone;
  done.epoch = record.epoch;
  done.total_epochs = record.total_epochs;
  done.loss = record.loss;
  done.dev_bleu = record.best_dev_bleu;
  done.elapsed_seconds = record.ElapsedSeconds();
  done.version = record.version;
  done.message = record.message;
  done.training_pairs = record.training_pairs;
  return done;
}

TrainingJob::Next TrainingJob::WaitForProgress(size_t index, JobProgress* out,
                                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return index < history_.size() || IsFinished(record_.state); });
  if (index < history_.size()) {
    *out = history_[index];
    return Next::kMessage;
  }
  return IsFinished(record_.state) ? Next::kEnd : Next::kTimeout;
}

bool TrainingJob::WaitUntilFinished(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, timeout, [&] { return IsFinished(record_.state); });
}

bool TrainingJob::finished() const {
  std::lock_guard lock(mutex_);
  return IsFinished(record_.state);
}

JobRecord TrainingJob::record() const {
  std::lock_guard lock(mutex_);
  return record_;
}

void TrainingJob::Interrupt() {
  {
    std::lock_guard lock(mutex_);
    interrupted_ = true;
  }
  stop_.RequestStop();
}

void TrainingJob::Push(JobProgress progress) {
  {
    std::lock_guard lock(mutex_);
    if (!progress.message.empty()) record_.message = progress.message;
    history_.push_back(std::move(progress));
  }
  changed_.notify_all();
}

JobRecord TrainingJob::Update(const std::function<void(JobRecord&)>& change) {
  JobRecord copy;
  {
    std::lock_guard lock(mutex_);
    change(record_);
    copy = record_;
  }
  changed_.notify_all();
  return copy;
}

TrainingJobs::TrainingJobs(ModelStore* store, int max_concurrent, ComputeSlots* slots, int inference_reserve,
                           MetricsRegistry* metrics, int threads_per_job, size_t keep_finished)
    : store_(store),
      records_(store->root()),
      max_concurrent_(max_concurrent),
      slots_(slots),
      inference_reserve_(inference_reserve),
      metrics_(metrics),
      threads_per_job_(std::max(1, threads_per_job)),
      keep_finished_(std::max<size_t>(1, keep_finished)),
      owner_(StagingOwner::Current()),
      manager_id_(NewManagerId()) {
  {
    std::lock_guard lock(live_managers_mutex);
    live_managers.insert(manager_id_);
  }
  if (metrics_) metrics_->GetGauge("wordbridge_training_jobs_running", "Training jobs running");
  // Jobs that were running when their process died: say so on disk, once, for every reader.
  for (auto& record : records_.List()) {
    if (ResolveOrphan(&record)) Save(record);
  }
}

TrainingJobs::~TrainingJobs() {
  InterruptAll();
  for (auto& [job, thread] : threads_) {
    if (thread.joinable()) thread.join();
  }
  std::lock_guard lock(live_managers_mutex);
  live_managers.erase(manager_id_);
}

void TrainingJobs::Report(const std::string& model, const EpochProgress& p) {
  if (!metrics_) return;
  const Labels labels = {{"model", model}};
  metrics_->GetGauge("wordbridge_training_epoch", "Epochs finished by the model's running training job", labels)
      .Set(p.epoch);
  metrics_->GetGauge("wordbridge_training_total_epochs", "Epochs planned for the model's training job", labels)
      .Set(p.total_epochs);
  metrics_->GetGauge("wordbridge_training_loss", "Training loss of the last finished epoch", labels).Set(p.loss);
  metrics_->GetGauge("wordbridge_training_tokens_per_second", "Target tokens per second of the last epoch", labels)
      .Set(p.tokens_per_second);
  metrics_->GetGauge("wordbridge_training_dev_bleu", "Dev BLEU after the last epoch (-1: no dev set)", labels)
      .Set(p.dev_bleu);
  metrics_->GetGauge("wordbridge_training_eta_seconds", "Estimated seconds left in the training job", labels)
      .Set(p.eta_seconds);
}

void TrainingJobs::Save(const JobRecord& record) const {
  try {
    records_.Write(record);
  } catch (const std::exception& e) {
    std::cerr << "cannot write the record of training job " << record.id << ": " << e.what() << std::endl;
  }
}

bool TrainingJobs::ResolveOrphan(JobRecord* record) const {
  if (IsFinished(record->state)) return false;
  bool gone = false;
  if (SameProcess(record->owner, owner_)) {
    std::lock_guard lock(live_managers_mutex);
    gone = live_managers.count(record->manager) == 0;
  } else if (record->owner.CheckableFrom(owner_)) {
    gone = !record->owner.Alive();
  }
  // A record of another machine or container is shown as its owner last wrote it.
  if (!gone) return false;
  record->state = JobState::kInterrupted;
  record->end_time = record->updated;
  record->error = {ErrorCode::kAborted, "process " + std::to_string(record->owner.pid) + " on " +
                                            record->owner.host + " ended while the job ran"};
  return true;
}

void TrainingJobs::InterruptAll() {
  std::lock_guard lock(mutex_);
  for (auto& [name, job] : running_) job->Interrupt();
}

bool TrainingJobs::IsTraining(const std::string& model) const {
  std::lock_guard lock(mutex_);
  return running_.count(model) > 0;
}

std::shared_ptr<TrainingJob> TrainingJobs::Find(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(id);
  return it == jobs_.end() ? nullptr : it->second;
}

JobRecord TrainingJobs::Get(const std::string& id) const {
  if (auto job = Find(id)) return job->record();
  auto record = records_.Find(id);
  if (!record) throw NotFoundError("no training job '" + id + "'");
  ResolveOrphan(&*record);
  return *record;
}

std::vector<JobRecord> TrainingJobs::List(const std::string& model) const {
  std::map<std::string, JobRecord> by_id;
  for (auto& record : records_.List(model)) {
    ResolveOrphan(&record);
    by_id[record.id] = std::move(record);
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, job] : jobs_) {
      if (model.empty() || job->model() == model) by_id[id] = job->record();  // fresher than its file
    }
  }
  std::vector<JobRecord> list;
  for (auto& [id, record] : by_id) list.push_back(std::move(record));
  std::sort(list.begin(), list.end(), [](const JobRecord& a, const JobRecord& b) {
    return a.start_time != b.start_time ? a.start_time > b.start_time : a.id > b.id;
  });
  return list;
}

JobRecord TrainingJobs::Cancel(const std::string& id, std::chrono::milliseconds wait) {
  auto refuse_finished = [&](const JobRecord& record) -> JobRecord {
    if (record.state == JobState::kCancelled) return record;  // again: the same outcome
    throw FailedPreconditionError("job " + id + " already ended " + JobStateName(record.state) +
                                  (record.version.empty() ? "" : " (version " + record.version + ")") +
                                  "; there is nothing to cancel");
  };
  auto job = Find(id);
  if (!job) {
    JobRecord record = Get(id);
    if (IsFinished(record.state)) return refuse_finished(record);
    throw FailedPreconditionError("job " + id + " runs in another server process (pid " +
                                  std::to_string(record.owner.pid) + " on " + record.owner.host +
                                  "); cancel it there");
  }
  if (job->finished()) return refuse_finished(job->record());
  job->Cancel();
  if (!job->WaitUntilFinished(wait)) return job->record();  // still stopping: it ends CANCELLED
  const JobRecord record = job->record();
  if (record.state != JobState::kCancelled) {
    throw FailedPreconditionError("job " + id + " ended " + JobStateName(record.state) +
                                  " before the cancellation took effect");
  }
  return record;
}

void TrainingJobs::ForgetOldJobsLocked(const std::string& model, const TrainingJob& ending) {
  std::vector<std::shared_ptr<TrainingJob>> finished;
  for (const auto& [id, job] : jobs_) {
    if (job->model() == model && (job.get() == &ending || job->finished())) finished.push_back(job);
  }
  if (finished.size() <= keep_finished_) return;
  std::sort(finished.begin(), finished.end(), [](const auto& a, const auto& b) {
    const JobRecord ra = a->record(), rb = b->record();
    return ra.start_time != rb.start_time ? ra.start_time > rb.start_time : ra.id > rb.id;
  });
  for (size_t i = keep_finished_; i < finished.size(); ++i) jobs_.erase(finished[i]->id());
}

void TrainingJobs::CheckCapacityLocked(const std::string& model) const {
  if (auto running = running_.find(model); running != running_.end()) {
    throw FailedPreconditionError("model '" + model + "' is already being trained by job " + running->second->id());
  }
  if (max_concurrent_ == 0) {
    throw FailedPreconditionError("this server does not train (--max-training-jobs 0); send Train to a server that "
                                  "does (in Kubernetes: the wordbridge-trainer Service)");
  }
  if (static_cast<int>(running_.size()) >= max_concurrent_) {
    throw ResourceExhaustedError("the server already runs " + std::to_string(running_.size()) +
                                 " training job(s), its limit; try again when one finishes");
  }
}

std::shared_ptr<TrainingJob> TrainingJobs::Start(JobSpec spec) {
  std::lock_guard lock(mutex_);
  CheckCapacityLocked(spec.model);
  JobRecord record;
  record.start_time = Clock::now();
  record.id = NewJobId(record.start_time);
  record.model = spec.model;
  record.state = JobState::kQueued;
  record.total_epochs = spec.options.epochs;
  record.message = "accepted";
  record.owner = owner_;
  record.manager = manager_id_;
  // The request first, then the record (a job nobody could find again must not start); the claim
  // on the request marks the job as this process's for any server that would resume it.
  std::unique_ptr<FileLock> claim;
  const std::string request_path = records_.RequestPathOf(spec.model, record.id);
  if (!spec.request.empty()) {
    std::error_code error;
    std::filesystem::create_directories(std::filesystem::path(request_path).parent_path(), error);
    WriteFileAtomically(request_path, spec.request);
    claim = std::make_unique<FileLock>(request_path, FileLock::Mode::kWait, /*create=*/false);
  }
  try {
    records_.Write(record);
  } catch (...) {
    claim.reset();
    ::unlink(request_path.c_str());
    throw;
  }
  return LaunchLocked(record, std::move(spec), std::move(claim), "accepted");
}

std::shared_ptr<TrainingJob> TrainingJobs::Resume(const std::string& id, JobSpec spec) {
  std::lock_guard lock(mutex_);
  auto found = records_.Find(id);
  if (!found) throw NotFoundError("no job " + id);
  if (found->model != spec.model) throw FailedPreconditionError("job " + id + " trains " + found->model);
  CheckCapacityLocked(spec.model);
  const std::string request_path = records_.RequestPathOf(found->model, id);
  if (!std::filesystem::exists(request_path)) {
    throw NotFoundError("job " + id + " kept no request to resume from; start it again");
  }
  auto claim = std::make_unique<FileLock>(request_path, FileLock::Mode::kTry, /*create=*/false);
  if (!claim->held()) throw FailedPreconditionError("job " + id + " is being resumed by another server process");
  // Read again under the claim: another process may have resumed it (and finished) in between.
  found = records_.Find(id);
  if (!found || found->state != JobState::kInterrupted) {
    throw FailedPreconditionError("job " + id + " is " + (found ? JobStateName(found->state) : "gone") +
                                  "; only an INTERRUPTED job resumes");
  }
  JobRecord record = *found;
  record.state = JobState::kQueued;
  record.end_time = {};
  record.error = {};
  record.message = "resumed";
  record.owner = owner_;
  record.manager = manager_id_;
  records_.Write(record);
  spec.options.resume = true;
  return LaunchLocked(record, std::move(spec), std::move(claim), "resumed from its last checkpoint");
}

std::string TrainingJobs::StoredRequest(const std::string& id) const {
  const JobRecord record = Get(id);
  try {
    return ReadFile(records_.RequestPathOf(record.model, id));
  } catch (const NotFoundError&) {
    throw NotFoundError("job " + id + " kept no request to resume from; start it again");
  }
}

std::vector<JobRecord> TrainingJobs::Resumable() const {
  std::vector<JobRecord> resumable;
  for (auto& record : List()) {
    if (record.state == JobState::kInterrupted &&
        std::filesystem::exists(records_.RequestPathOf(record.model, record.id))) {
      resumable.push_back(std::move(record));
    }
  }
  std::sort(resumable.begin(), resumable.end(),
            [](const JobRecord& a, const JobRecord& b) { return a.start_time < b.start_time; });
  return resumable;
}

std::shared_ptr<TrainingJob> TrainingJobs::LaunchLocked(const JobRecord& record, JobSpec spec,
                                                        std::unique_ptr<FileLock> claim,
                                                        const std::string& message) {
  // Reap the threads of jobs that have ended (each exits right after publishing its status).
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->first->finished()) {
      it->second.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  auto job = std::make_shared<TrainingJob>(record);
  job->claim_ = std::move(claim);
  JobProgress accepted;
  accepted.stage = JobProgress::Stage::kStarted;
  accepted.total_epochs = spec.options.epochs;
  accepted.message = message;
  job->Push(accepted);
  running_[spec.model] = job;
  jobs_[job->id()] = job;
  if (metrics_) {
    metrics_->GetGauge("wordbridge_training_jobs_running", "Training jobs running").Set(running_.size());
  }
  threads_.emplace_back(job, std::thread(&TrainingJobs::Run, this, job, std::move(spec)));
  return job;
}

void TrainingJobs::Run(std::shared_ptr<TrainingJob> job, JobSpec spec) {
  const auto start = std::chrono::steady_clock::now();
  Save(job->Update([](JobRecord& r) { r.state = JobState::kRunning; }));
  auto last_write = std::chrono::steady_clock::now();
  // Its compute threads, with slots of the shared budget when they are free beyond the translation
  // workers' reserve (see the constructor).
  SetThreadNice(kTrainingNice);
  SetThreadComputeThreads(threads_per_job_);
  SlotLease lease;
  if (slots_ && slots_->TryAcquire(threads_per_job_, inference_reserve_)) lease = SlotLease(slots_, threads_per_job_);
  ErrorStatus status;
  try {
    CorpusReport report;
    auto corpus = spec.read_corpus(&report);
    auto dev = spec.read_dev ? spec.read_dev() : std::vector<SentencePair>{};
    const auto& o = spec.options;
    if (dev.empty() && o.dev_holdout_fraction > 0 &&
        corpus.size() >= static_cast<size_t>(o.min_pairs_for_dev_holdout)) {
      auto split = SplitCorpus(corpus, o.dev_holdout_fraction, 0.0, spec.split_seed);
      corpus = std::move(split.train);
      dev = std::move(split.dev);
      report.kept = static_cast<int64_t>(corpus.size());
    }
    JobProgress started;
    started.stage = JobProgress::Stage::kStarted;
    started.total_epochs = spec.options.epochs;
    started.training_pairs = report.kept;
    started.skipped_pairs = report.skipped();
    started.message = "corpus: " + report.Summary() + "; dev pairs: " + std::to_string(dev.size());
    // With vectors to import, the message waits for their counts (known once the vocabularies are built).
    const bool importing = !o.source_vectors.empty() || !o.target_vectors.empty();
    if (!importing) job->Push(started);
    auto on_prepared = [&](const std::string& note) {
      if (!importing) return;
      if (!note.empty()) started.message += "; " + note;
      job->Push(started);
    };
    Save(job->Update([&](JobRecord& r) { r.training_pairs = report.kept; }));
    auto on_epoch = [&](const EpochProgress& p) {
      JobProgress msg;
      msg.stage = JobProgress::Stage::kEpoch;
      msg.epoch = p.epoch;
      msg.total_epochs = p.total_epochs;
      msg.loss = p.loss;
      msg.tokens_per_second = p.tokens_per_second;
      msg.dev_bleu = p.dev_bleu;
      msg.elapsed_seconds = p.elapsed_seconds;
      msg.eta_seconds = p.eta_seconds;
      job->Push(msg);
      const JobRecord record = job->Update([&](JobRecord& r) {
        r.epoch = p.epoch;
        r.total_epochs = p.total_epochs;
        r.loss = p.loss;
        r.best_dev_bleu = std::max(r.best_dev_bleu, p.dev_bleu);
      });
      if (std::chrono::steady_clock::now() - last_write >= kRecordInterval) {
        Save(record);
        last_write = std::chrono::steady_clock::now();
      }
      Report(spec.model, p);
    };
    auto result = TrainModel(spec.config, corpus, dev, spec.options, report, on_epoch, &job->stop_, on_prepared);
    ThrowIfStopped(&job->stop_);  // cancelled after the last epoch: still nothing is published
    auto bundle = store_->Publish(spec.model, std::move(result.parts));
    JobProgress done;
    done.stage = JobProgress::Stage::kDone;
    done.version = bundle->version();
    done.total_epochs = spec.options.epochs;
    done.epoch = static_cast<int>(bundle->metrics().at("epochs"));
    done.loss = bundle->metrics().at("train_loss");
    done.tokens_per_second = bundle->metrics().at("tokens_per_second");
    auto bleu = bundle->metrics().find("dev_bleu");
    done.dev_bleu = bleu == bundle->metrics().end() ? -1 : bleu->second;
    done.training_pairs = result.report.kept;
    done.skipped_pairs = result.report.skipped();
    done.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    done.message = "published " + spec.model + " version " + bundle->version() + " (" + result.stop_reason + "; " +
                   result.report.Summary() + ")";
    job->Push(done);
    job->Update([&](JobRecord& r) {
      r.version = bundle->version();
      r.epoch = done.epoch;
    });
  } catch (...) {
    status = ErrorStatusOf(std::current_exception());
  }
  lease.Reset();
  bool interrupted = false;
  {
    std::lock_guard lock(job->mutex_);
    interrupted = job->interrupted_;
  }
  JobState state = JobState::kSucceeded;
  if (!status.ok()) {
    if (status.code == ErrorCode::kCancelled && interrupted) {
      state = JobState::kInterrupted;
      status = {ErrorCode::kAborted, "the server shut down"};
    } else if (status.code == ErrorCode::kCancelled && job->stop_.StopRequested()) {
      state = JobState::kCancelled;
    } else {
      state = JobState::kFailed;
    }
    std::cerr << "training job " << job->id() << " ended " << JobStateName(state) << ": " << status.message
              << std::endl;
  }
  // A job that ended for good needs neither its checkpoints nor its request any more; an interrupted
  // one keeps both to resume from.
  if (state != JobState::kInterrupted) {
    if (!spec.options.checkpoint_dir.empty()) RemoveTrainingCheckpoints(spec.options.checkpoint_dir);
    ::unlink(records_.RequestPathOf(spec.model, job->id()).c_str());
  }
  // The record first, then the state others wait on: whoever sees the job finished finds its record.
  JobRecord final_record = job->record();
  final_record.state = state;
  final_record.end_time = Clock::now();
  final_record.error = status;
  Save(final_record);
  records_.Prune(spec.model, keep_finished_);
  {
    std::lock_guard lock(mutex_);
    running_.erase(job->model());
    ForgetOldJobsLocked(spec.model, *job);
    if (metrics_) {
      metrics_->GetGauge("wordbridge_training_jobs_running", "Training jobs running").Set(running_.size());
      metrics_->GetCounter("wordbridge_training_jobs_total", "Training jobs ended, by final status",
                           {{"code", ErrorCodeName(final_record.FinalStatus().code)}})
          .Increment();
    }
  }
  job->claim_.reset();  // after the record: another server may resume it now
  // Last: Start joins the threads of finished jobs while holding mutex_.
  job->Update([&](JobRecord& r) { r = final_record; });
}

}  // namespace wordbridge
