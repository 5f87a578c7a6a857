#include "server/training_jobs.h"

#include <algorithm>
#include <chrono>
#include <iostream>

#include "model/common/errors.h"
#include "server/status_mapping.h"

namespace wordbridge {

namespace {
// Training runs below translation workers (nice 5) and RPC threads (0): requests come first, and a
// training job takes the cycles they leave.
constexpr int kTrainingNice = 10;
}  // namespace

bool TrainingJob::NextProgress(v1::TrainProgress* out, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, timeout, [&] { return !queue_.empty() || done_; });
  if (queue_.empty()) return false;
  *out = std::move(queue_.front());
  queue_.pop_front();
  return true;
}

bool TrainingJob::done() const {
  std::lock_guard lock(mutex_);
  return done_ && queue_.empty();
}

bool TrainingJob::finished() const {
  std::lock_guard lock(mutex_);
  return done_;
}

grpc::Status TrainingJob::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void TrainingJob::Push(v1::TrainProgress progress) {
  progress.set_job_id(id_);
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(progress));
  }
  changed_.notify_all();
}

void TrainingJob::Finish(grpc::Status status) {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
    status_ = std::move(status);
  }
  changed_.notify_all();
}

TrainingJobs::TrainingJobs(ModelStore* store, int max_concurrent, ComputeSlots* slots, int inference_reserve,
                           MetricsRegistry* metrics, int threads_per_job)
    : store_(store),
      max_concurrent_(max_concurrent),
      slots_(slots),
      inference_reserve_(inference_reserve),
      metrics_(metrics),
      threads_per_job_(std::max(1, threads_per_job)) {
  if (metrics_) metrics_->GetGauge("wordbridge_training_jobs_running", "Training jobs running");
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

TrainingJobs::~TrainingJobs() {
  CancelAll();
  for (auto& [job, thread] : threads_) {
    if (thread.joinable()) thread.join();
  }
}

void TrainingJobs::CancelAll() {
  std::lock_guard lock(mutex_);
  for (auto& [name, job] : running_) job->Cancel();
}

bool TrainingJobs::IsTraining(const std::string& model) const {
  std::lock_guard lock(mutex_);
  return running_.count(model) > 0;
}

std::shared_ptr<TrainingJob> TrainingJobs::Start(JobSpec spec) {
  std::lock_guard lock(mutex_);
  if (running_.count(spec.model)) {
    throw FailedPreconditionError("model '" + spec.model + "' is already being trained by job " +
                                  running_[spec.model]->id());
  }
  if (static_cast<int>(running_.size()) >= max_concurrent_) {
    throw ResourceExhaustedError("the server already runs " + std::to_string(running_.size()) +
                                 " training job(s), its limit; try again when one finishes");
  }
  // Reap the threads of jobs that have ended (each exits right after publishing its status).
  for (auto it = threads_.begin(); it != threads_.end();) {
    if (it->first->finished()) {
      it->second.join();
      it = threads_.erase(it);
    } else {
      ++it;
    }
  }
  auto job = std::make_shared<TrainingJob>("job-" + std::to_string(next_id_++), spec.model);
  running_[spec.model] = job;
  if (metrics_) {
    metrics_->GetGauge("wordbridge_training_jobs_running", "Training jobs running").Set(running_.size());
  }
  threads_.emplace_back(job, std::thread(&TrainingJobs::Run, this, job, std::move(spec)));
  return job;
}

void TrainingJobs::Run(std::shared_ptr<TrainingJob> job, JobSpec spec) {
  const auto start = std::chrono::steady_clock::now();
  // Its compute threads, with slots of the shared budget when they are free beyond the translation
  // workers' reserve (see the constructor).
  SetThreadNice(kTrainingNice);
  SetThreadComputeThreads(threads_per_job_);
  SlotLease lease;
  if (slots_ && slots_->TryAcquire(threads_per_job_, inference_reserve_)) lease = SlotLease(slots_, threads_per_job_);
  grpc::Status status = Guarded([&] {
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
    v1::TrainProgress started;
    started.set_stage(v1::TrainProgress::STARTED);
    started.set_total_epochs(spec.options.epochs);
    started.set_training_pairs(report.kept);
    started.set_skipped_pairs(report.skipped());
    started.set_message("corpus: " + report.Summary() + "; dev pairs: " + std::to_string(dev.size()));
    job->Push(started);
    auto on_epoch = [&](const EpochProgress& p) {
      v1::TrainProgress msg;
      msg.set_stage(v1::TrainProgress::EPOCH);
      msg.set_epoch(p.epoch);
      msg.set_total_epochs(p.total_epochs);
      msg.set_loss(p.loss);
      msg.set_tokens_per_second(p.tokens_per_second);
      msg.set_dev_bleu(p.dev_bleu);
      msg.set_elapsed_seconds(p.elapsed_seconds);
      msg.set_eta_seconds(p.eta_seconds);
      job->Push(msg);
      Report(spec.model, p);
    };
    auto result = TrainModel(spec.config, corpus, dev, spec.options, report, on_epoch, &job->stop_);
    auto bundle = store_->Publish(spec.model, std::move(result.parts));
    v1::TrainProgress done;
    done.set_stage(v1::TrainProgress::DONE);
    done.set_version(bundle->version());
    done.set_total_epochs(spec.options.epochs);
    done.set_epoch(static_cast<int32_t>(bundle->metrics().at("epochs")));
    done.set_loss(bundle->metrics().at("train_loss"));
    done.set_tokens_per_second(bundle->metrics().at("tokens_per_second"));
    auto bleu = bundle->metrics().find("dev_bleu");
    done.set_dev_bleu(bleu == bundle->metrics().end() ? -1 : bleu->second);
    done.set_training_pairs(result.report.kept);
    done.set_skipped_pairs(result.report.skipped());
    done.set_elapsed_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    done.set_message("published " + spec.model + " version " + bundle->version() + " (" + result.stop_reason +
                     "; " + result.report.Summary() + ")");
    job->Push(done);
    return grpc::Status::OK;
  });
  if (!status.ok()) std::cerr << "training job " << job->id() << " failed: " << status.error_message() << std::endl;
  lease.Reset();
  {
    std::lock_guard lock(mutex_);
    running_.erase(job->model());
    if (metrics_) {
      metrics_->GetGauge("wordbridge_training_jobs_running", "Training jobs running").Set(running_.size());
      metrics_->GetCounter("wordbridge_training_jobs_total", "Training jobs ended, by final status",
                           {{"code", StatusCodeName(status.error_code())}})
          .Increment();
    }
  }
  job->Finish(status);
}

}  // namespace wordbridge
