// Training jobs as first-class objects, in plain C++ (the gRPC service only relays). Each job runs on
// its own thread, keyed by a job id, and outlives whoever started it: it ends by publishing a new
// model version, failing, being cancelled by id, or being interrupted when its server stops. Every
// job keeps its whole progress history in memory (any number of watchers read it from the start),
// and its record on disk next to the model (model/jobs/job_record.h), so finished jobs stay listed
// after a restart and a job whose process died shows as INTERRUPTED.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/common/cancellation.h"
#include "model/common/file_util.h"
#include "model/jobs/job_record.h"
#include "model/serve/compute_slots.h"
#include "model/serve/metrics.h"
#include "model/store/model_store.h"
#include "model/train/trainer.h"

namespace wordbridge {

// What a job trains on, resolved from the request.
struct JobSpec {
  std::string model;
  ModelConfig config;
  TrainingOptions options;
  // Reads the corpus (and dev set) on the job's thread: files can be large.
  std::function<std::vector<SentencePair>(CorpusReport*)> read_corpus;
  std::function<std::vector<SentencePair>()> read_dev;
  // Without read_dev, options.dev_holdout_fraction of the corpus becomes the dev set.
  uint64_t split_seed = 1;
  // How to build this spec again (opaque to the job manager: the service's serialised request). Kept
  // next to the job's record while the job may resume; empty = the job cannot resume.
  std::string request;
};

// One progress message of a job.
struct JobProgress {
  enum class Stage {
    kStarted,  // first the job's acceptance, then once more with the corpus statistics
    kEpoch,    // one per finished epoch
    kDone,     // the version is published and serving
  };
  Stage stage = Stage::kStarted;
  int epoch = 0;
  int total_epochs = 0;
  double loss = 0;
  double tokens_per_second = 0;
  double dev_bleu = -1;  // -1: no dev set
  double elapsed_seconds = 0;
  double eta_seconds = 0;
  std::string version;  // kDone
  std::string message;
  int64_t training_pairs = 0;
  int64_t skipped_pairs = 0;
};

// The DONE message a finished job's record stands for (for a job whose history is gone with the
// process that ran it); nullopt unless the job succeeded.
std::optional<JobProgress> DoneProgressOf(const JobRecord& record);

class TrainingJob {
 public:
  explicit TrainingJob(JobRecord record) : record_(std::move(record)) {}
  const std::string& id() const { return record_.id; }
  const std::string& model() const { return record_.model; }

  enum class Next { kMessage, kTimeout, kEnd };
  // The `index`-th progress message (0 = the first), waiting up to `timeout` for it: kMessage with
  // *out set; kEnd when the job has finished and sent fewer messages; kTimeout otherwise. Any number
  // of readers, each with its own index.
  Next WaitForProgress(size_t index, JobProgress* out, std::chrono::milliseconds timeout) const;
  // Waits up to `timeout` for the job to finish; returns whether it has.
  bool WaitUntilFinished(std::chrono::milliseconds timeout) const;
  bool finished() const;
  // A copy of the job's record (what GetJob shows).
  JobRecord record() const;
  // Asks the job to stop: it ends CANCELLED at its next check (between batches), publishing nothing.
  void Cancel() { stop_.RequestStop(); }

 private:
  friend class TrainingJobs;
  // Stops the job because the server stops: it ends INTERRUPTED.
  void Interrupt();
  void Push(JobProgress progress);
  // Updates the record under the job's lock; returns the updated copy.
  JobRecord Update(const std::function<void(JobRecord&)>& change);

  StopToken stop_;
  // A lock on the job's stored request, held while this process runs the job, so two servers
  // sharing the store never resume the same job; null when the job kept no request.
  std::unique_ptr<FileLock> claim_;
  mutable std::mutex mutex_;
  mutable std::condition_variable changed_;
  JobRecord record_;
  std::vector<JobProgress> history_;
  bool interrupted_ = false;
};

class TrainingJobs {
 public:
  // Finished jobs kept per model, on disk and in memory, by default.
  static constexpr size_t kKeepFinished = 50;

  // Each job trains on `threads_per_job` compute threads. It takes that many slots of `slots` when
  // they are free beyond `inference_reserve` (the slots a translation worker needs), so training
  // never starves translation; without them it still runs, sharing cores. `slots` and `metrics` may
  // be null. Records of jobs whose process died are marked INTERRUPTED on disk here.
  TrainingJobs(ModelStore* store, int max_concurrent, ComputeSlots* slots = nullptr, int inference_reserve = 1,
               MetricsRegistry* metrics = nullptr, int threads_per_job = 1, size_t keep_finished = kKeepFinished);
  ~TrainingJobs();  // interrupts and joins every job

  // Starts a job; its first progress message (kStarted, "accepted") is there on return.
  // RESOURCE_EXHAUSTED when max_concurrent jobs run (or the record cannot be written: disk full);
  // FAILED_PRECONDITION when the model is already being trained, or when max_concurrent is 0 (a
  // server that only serves, e.g. a Kubernetes translation replica).
  std::shared_ptr<TrainingJob> Start(JobSpec spec);
  // Continues INTERRUPTED job `id` under the same id from its last training checkpoint, with `spec`
  // built again from StoredRequest(id) (options.resume is set here). NotFoundError for an unknown job
  // or one without a stored request; FailedPreconditionError when the job is not INTERRUPTED or
  // another server process is resuming it; otherwise as Start.
  std::shared_ptr<TrainingJob> Resume(const std::string& id, JobSpec spec);
  // The request job `id` was started with (JobSpec::request); NotFoundError when none is kept (the
  // job finished, or was started without one).
  std::string StoredRequest(const std::string& id) const;
  // INTERRUPTED jobs of every model that kept their request, oldest first: what a restarted server
  // resumes.
  std::vector<JobRecord> Resumable() const;
  // A job this manager runs or ran (and still holds in memory); null otherwise.
  std::shared_ptr<TrainingJob> Find(const std::string& id) const;
  // The record of job `id`: from memory, else from disk (another process's, or an earlier run's).
  // NotFoundError when there is none.
  JobRecord Get(const std::string& id) const;
  // The records of `model`'s jobs ("" = every model's), running and recent, newest first.
  std::vector<JobRecord> List(const std::string& model = "") const;
  // Cancels job `id` and waits up to `wait` for it to stop; returns its record (CANCELLED, or still
  // RUNNING if it did not stop in time). Cancelling a cancelled job again is OK (idempotent).
  // NotFoundError for an unknown id; FailedPreconditionError when the job had already ended otherwise
  // (succeeded, failed, interrupted) or runs in another server process.
  JobRecord Cancel(const std::string& id, std::chrono::milliseconds wait = std::chrono::seconds(10));
  // True while a job trains `model`.
  bool IsTraining(const std::string& model) const;
  // Stops every running job because the server stops (they end INTERRUPTED).
  void InterruptAll();

 private:
  void Run(std::shared_ptr<TrainingJob> job, JobSpec spec);
  // Throws unless a job for `model` may start now (see Start). Needs mutex_.
  void CheckCapacityLocked(const std::string& model) const;
  // Registers `record`'s job, pushes its first message and starts its thread. Needs mutex_.
  std::shared_ptr<TrainingJob> LaunchLocked(const JobRecord& record, JobSpec spec, std::unique_ptr<FileLock> claim,
                                            const std::string& message);
  // Training progress as gauges per model.
  void Report(const std::string& model, const EpochProgress& progress);
  // Writes a job's record; failures are logged (a job does not fail because its record could not be written).
  void Save(const JobRecord& record) const;
  // A record read from disk whose job is not running, though it says so (its process or manager is
  // gone), becomes kInterrupted. Returns whether it changed.
  bool ResolveOrphan(JobRecord* record) const;
  // Drops the oldest finished jobs of `model` from memory beyond keep_finished_, counting `ending`
  // (about to finish) as finished. Needs mutex_.
  void ForgetOldJobsLocked(const std::string& model, const TrainingJob& ending);

  ModelStore* store_;
  JobRecordStore records_;
  int max_concurrent_;
  ComputeSlots* slots_;
  int inference_reserve_;
  MetricsRegistry* metrics_;
  int threads_per_job_;
  size_t keep_finished_;
  StagingOwner owner_;
  std::string manager_id_;  // tells this manager's records from another one's in the same process
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<TrainingJob>> running_;  // by model name
  std::map<std::string, std::shared_ptr<TrainingJob>> jobs_;     // by id, running and recent
  // Every job's thread with its job; finished ones are joined when the next job starts.
  std::vector<std::pair<std::shared_ptr<TrainingJob>, std::thread>> threads_;
};

}  // namespace wordbridge
