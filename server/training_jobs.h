// Training jobs: each Train request becomes a job on its own thread, so the RPC thread only relays
// progress. A job ends by publishing a new model version to the store, or with an error status.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "model/common/cancellation.h"
#include "model/serve/compute_slots.h"
#include "model/serve/metrics.h"
#include "model/store/model_store.h"
#include "model/train/trainer.h"
#include "wordbridge/v1/wordbridge.pb.h"

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
};

class TrainingJob {
 public:
  explicit TrainingJob(std::string id, std::string model) : id_(std::move(id)), model_(std::move(model)) {}
  const std::string& id() const { return id_; }
  const std::string& model() const { return model_; }

  // Waits up to `timeout` for the next progress message. Returns false on timeout or when the job has
  // finished and every message was taken (then done() is true).
  bool NextProgress(v1::TrainProgress* out, std::chrono::milliseconds timeout);
  bool done() const;
  // True once the job's thread has published its final status (messages may still be queued).
  bool finished() const;
  grpc::Status status() const;  // final status once done()
  void Cancel() { stop_.RequestStop(); }

 private:
  friend class TrainingJobs;
  void Push(v1::TrainProgress progress);
  void Finish(grpc::Status status);

  std::string id_;
  std::string model_;
  StopToken stop_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<v1::TrainProgress> queue_;
  bool done_ = false;
  grpc::Status status_;
};

class TrainingJobs {
 public:
  // Each job trains on `threads_per_job` compute threads. It takes that many slots of `slots` when
  // they are free beyond `inference_reserve` (the slots a translation worker needs), so training
  // never starves translation; without them it still runs, sharing cores. `slots` and `metrics` may
  // be null.
  TrainingJobs(ModelStore* store, int max_concurrent, ComputeSlots* slots = nullptr, int inference_reserve = 1,
               MetricsRegistry* metrics = nullptr, int threads_per_job = 1);
  ~TrainingJobs();  // cancels and joins every job

  // Starts a job. RESOURCE_EXHAUSTED when max_concurrent jobs run; FAILED_PRECONDITION when the model
  // is already being trained.
  std::shared_ptr<TrainingJob> Start(JobSpec spec);
  // True while a job trains `model`.
  bool IsTraining(const std::string& model) const;
  void CancelAll();

 private:
  void Run(std::shared_ptr<TrainingJob> job, JobSpec spec);

  // Training progress as gauges per model.
  void Report(const std::string& model, const EpochProgress& progress);

  ModelStore* store_;
  int max_concurrent_;
  ComputeSlots* slots_;
  int inference_reserve_;
  MetricsRegistry* metrics_;
  int threads_per_job_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<TrainingJob>> running_;  // by model name
  // Every job's thread with its job; finished ones are joined when the next job starts.
  std::vector<std::pair<std::shared_ptr<TrainingJob>, std::thread>> threads_;
  uint64_t next_id_ = 1;
};

}  // namespace wordbridge
