#include "server/server_runner.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <torch/torch.h>

#include <iostream>
#include <thread>

#include "model/common/errors.h"
#include "model/train/seed_corpus.h"
#include "model/train/trainer.h"

namespace wordbridge {

void TrainToyModel(ModelStore* store) {
  CorpusReport report;
  auto pairs = CleanPairs(SeedToyPairs(), CorpusLimits{}, &report);
  auto result = TrainModel(ModelConfig::ForArchitecture("seed"), pairs, {}, TrainingOptions{}, report,
                           nullptr, nullptr);
  store->Publish("toy", std::move(result.parts));
}

ServerRunner::ServerRunner(ServerOptions options) : options_(std::move(options)) {}

ServerRunner::~ServerRunner() {
  Shutdown(/*immediate=*/true);
  if (reload_thread_.joinable()) reload_thread_.join();
}

void ServerRunner::Start() {
  const int threads = options_.threads > 0 ? options_.threads : static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(std::max(1, threads));
  store_ = std::make_unique<ModelStore>(options_.model_dir);
  for (const auto& problem : store_->LoadAll()) std::cerr << "warning: " << problem << std::endl;
  if (options_.bootstrap_toy && !store_->Has("toy")) {
    std::cerr << "training the seed's toy model 'toy' (a few seconds)..." << std::endl;
    TrainToyModel(store_.get());
  }
  jobs_ = std::make_unique<TrainingJobs>(store_.get(), options_.max_training_jobs);
  ServiceLimits limits;
  limits.decode_workers = options_.decode_workers;
  service_ = std::make_unique<WordBridgeService>(store_.get(), jobs_.get(), options_.data_dir, limits);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.host + ":" + std::to_string(options_.port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_.get());
  // Training corpora may be sent inline: allow large requests.
  builder.SetMaxReceiveMessageSize(256 * 1024 * 1024);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    throw FailedPreconditionError("cannot listen on " + options_.host + ":" + std::to_string(options_.port));
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  if (options_.reload_seconds > 0) reload_thread_ = std::thread(&ServerRunner::ReloadLoop, this);
  std::cerr << "wordbridge-server listening on " << options_.host << ":" << port_ << " with "
            << store_->List().size() << " model(s), " << threads << " thread(s)" << std::endl;
}

void ServerRunner::ReloadLoop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    if (stop_signal_.wait_for(lock, std::chrono::seconds(options_.reload_seconds), [&] { return stopping_; })) break;
    lock.unlock();
    for (const auto& problem : store_->LoadAll()) std::cerr << "warning: " << problem << std::endl;
    lock.lock();
  }
}

void ServerRunner::Wait() {
  if (server_) server_->Wait();
}

void ServerRunner::Shutdown(bool immediate) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_signal_.notify_all();
  if (!server_) return;
  server_->GetHealthCheckService()->SetServingStatus(false);
  if (!immediate && options_.drain_seconds > 0) {
    std::cerr << "draining for " << options_.drain_seconds << " s" << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(options_.drain_seconds));
  }
  jobs_->CancelAll();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace wordbridge
