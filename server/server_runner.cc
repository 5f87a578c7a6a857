#include "server/server_runner.h"

#include "proto/grpc_settings.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <torch/torch.h>

#include <iostream>
#include <thread>

#include "model/common/errors.h"
#include "model/train/seed_corpus.h"
#include "model/train/trainer.h"

namespace wordbridge {

namespace {
// Idle RPC threads kept for reuse (see Start).
constexpr int kMaxIdleRpcThreads = 1024;
}  // namespace

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
  // Credentials first: a bad certificate or token file fails start-up before models load.
  const ServerSecurity security = MakeServerSecurity(options_.security, &metrics_);
  if (security.policy->enabled() && !security.tls && options_.host != "127.0.0.1" && options_.host != "localhost" &&
      options_.host != "::1") {
    std::cerr << "warning: --auth-token-file without TLS: the token crosses the network in the clear; "
                 "add --tls-cert and --tls-key" << std::endl;
  }
  const int threads = options_.threads > 0 ? options_.threads : static_cast<int>(std::thread::hardware_concurrency());
  torch::set_num_threads(std::max(1, threads));
  EngineOptions engine_options = options_.engine;
  if (engine_options.workers == 0) engine_options.workers = std::max(1, threads / engine_options.threads_per_worker);
  engine_options.Validate();
  if (engine_options.workers * engine_options.threads_per_worker > threads) {
    std::cerr << "warning: " << engine_options.workers << " workers x " << engine_options.threads_per_worker
              << " threads exceed --threads " << threads << "; workers will wait for each other" << std::endl;
  }
  // One budget for every compute thread: translation workers take threads_per_worker slots per batch,
  // training jobs one slot each while one is free beyond a worker's share.
  slots_ = std::make_unique<ComputeSlots>(std::max(threads, engine_options.threads_per_worker));
  // The training budget also bounds what a stored version may need: a version this server cannot
  // serve is refused before its network is made.
  store_ = std::make_unique<ModelStore>(options_.model_dir, options_.limits.max_model_bytes, options_.keep_versions);
  for (const auto& problem : store_->LoadAll()) std::cerr << "warning: " << problem << std::endl;
  if (options_.bootstrap_toy && !store_->Has("toy")) {
    std::cerr << "training the seed's toy model 'toy' (a few seconds)..." << std::endl;
    TrainToyModel(store_.get());
  }
  engine_ = std::make_unique<TranslationEngine>(engine_options, slots_.get(), &metrics_);
  jobs_ = std::make_unique<TrainingJobs>(store_.get(), options_.max_training_jobs, slots_.get(),
                                         engine_options.threads_per_worker, &metrics_, options_.training_threads);
  // Without TLS the credentials cannot enforce the token, so the service checks it in its handlers.
  service_ = std::make_unique<WordBridgeService>(store_.get(), jobs_.get(), engine_.get(), options_.data_dir,
                                                 options_.limits, &metrics_,
                                                 security.policy_in_transport ? nullptr : security.policy);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.host + ":" + std::to_string(options_.port), security.credentials, &port_);
  builder.RegisterService(service_.get());
  // Explicit message limits (inline corpora can be large; beyond the limit is RESOURCE_EXHAUSTED)
  // and keepalive that notices vanished clients (proto/grpc_settings.h).
  ApplyServerTransportSettings(&builder, options_.max_message_bytes);
  // Keep RPC threads once made. gRPC's default (at most 2 idle pollers) ends and recreates threads as
  // load varies; each new thread that tokenizes sets up per-thread state in the SentencePiece shim's
  // own C library (dlmopen), which is never given back, so RSS grew with thread churn (about 0.6 MB/s
  // at 16 clients). Threads are still made only on demand.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, kMaxIdleRpcThreads);
  server_ = builder.BuildAndStart();
  if (!server_ || port_ == 0) {
    throw FailedPreconditionError("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                  (security.tls ? " (or the TLS key does not match the certificate)" : ""));
  }
  server_->GetHealthCheckService()->SetServingStatus(true);
  serving_ = true;
  if (options_.metrics_port != 0) {
    metrics_.AddCollector([this] { CollectGauges(); });
    HttpEndpointOptions http_options;
    http_options.host = options_.host;
    http_options.port = std::max(0, options_.metrics_port);
    http_ = std::make_unique<HttpEndpoint>(
        http_options, [this] { return metrics_.RenderText(); }, [this] { return serving_.load(); });
    http_->Start();
  }
  if (options_.reload_seconds > 0) reload_thread_ = std::thread(&ServerRunner::ReloadLoop, this);
  // Jobs that were running when this server (or another one sharing the store) stopped or died.
  if (options_.resume_jobs && options_.max_training_jobs > 0) service_->ResumeInterruptedJobs();
  std::cerr << "wordbridge-server listening on " << options_.host << ":" << port_ << " with "
            << store_->List().size() << " model(s); " << engine_options.workers << " translation worker(s) x "
            << engine_options.threads_per_worker << " thread(s) of " << threads << " compute thread(s), "
            << ComputeTypeName(engine_options.compute_type) << " decoding; " << security.Describe()
            << (http_ ? "; metrics on port " + std::to_string(http_->port()) : std::string()) << std::endl;
}

void ServerRunner::CollectGauges() {
  metrics_.GetGauge("process_resident_memory_bytes", "Resident set size of the server process")
      .Set(ProcessResidentBytes());
  metrics_.GetGauge("wordbridge_compute_slots_in_use", "Compute threads taken by translation batches and training")
      .Set(slots_->in_use());
  for (const auto& summary : store_->List()) {
    const Labels labels = {{"model", summary.name}};
    double version = 0;
    try {
      version = std::stod(summary.serving_version);
    } catch (const std::exception&) {
      version = -1;  // not numeric: shown as unknown
    }
    metrics_.GetGauge("wordbridge_model_serving_version", "Version of the model that serves requests", labels)
        .Set(version);
    metrics_.GetGauge("wordbridge_model_ready_timestamp_seconds",
                      "Unix time at which the serving version finished loading", labels)
        .Set(std::chrono::duration<double>(summary.serving->ready_time().time_since_epoch()).count());
  }
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
  serving_ = false;
  server_->GetHealthCheckService()->SetServingStatus(false);
  if (!immediate && options_.drain_seconds > 0) {
    std::cerr << "draining for " << options_.drain_seconds << " s" << std::endl;
    std::this_thread::sleep_for(std::chrono::seconds(options_.drain_seconds));
  }
  jobs_->InterruptAll();
  // In-flight calls finish (the engine still runs while gRPC waits for their handlers); after the
  // gRPC deadline, the engine fails whatever is still queued, and its workers end.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  engine_->Shutdown(std::chrono::seconds(1));
  if (http_) http_->Stop();
}

}  // namespace wordbridge
