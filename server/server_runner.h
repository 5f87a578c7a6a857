// ServerRunner: assembles the gRPC server (WordBridge service, health, reflection), the model store,
// the translation engine, the training jobs and the HTTP side door; runs the periodic model-directory
// rescan; drains on shutdown.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "model/serve/metrics.h"
#include "model/serve/translation_engine.h"
#include "model/store/model_store.h"
#include "server/http_endpoint.h"
#include "server/security.h"
#include "model/jobs/training_jobs.h"
#include "server/wordbridge_service.h"

namespace wordbridge {

struct ServerOptions {
  // Address to listen on (the gRPC port and the HTTP side door). Loopback by default, so a server
  // started by hand is not reachable from the network by accident; the container image sets 0.0.0.0
  // (deploy/docker-entrypoint.sh).
  std::string host = "127.0.0.1";
  // 0 picks a free port (see ServerRunner::port()).
  int port = 50051;
  // Where model versions live; created if missing.
  std::string model_dir = "models";
  // Train may read corpora below this directory; empty = inline corpora only.
  std::string data_dir;
  // Compute threads in all (translation workers and training jobs together); 0 = the number of cores.
  int threads = 0;
  // The translation engine: workers x threads_per_worker should not exceed `threads` (0 workers =
  // threads / threads_per_worker), its queue and its batching limits. See model/serve.
  EngineOptions engine{/*workers=*/0};
  // Port of the HTTP side door (/metrics, /healthz, /readyz); 0 = off, -1 = any free port (tests).
  int metrics_port = 0;
  // On shutdown: report NOT_SERVING this long before closing, so load balancers move away.
  int drain_seconds = 10;
  // Rescan the model directory for versions published by other replicas this often; 0 = never.
  int reload_seconds = 30;
  // After each publish, delete versions older than the newest N (never the pinned or serving one); 0 keeps all.
  int keep_versions = 0;
  // Training jobs that may run at once, and the compute threads of each. One thread leaves the
  // other cores to translation; on a machine that only trains, give it all cores.
  int max_training_jobs = 1;
  int training_threads = 1;
  // At start-up, continue every INTERRUPTED training job from its last checkpoint (ResumeJob does it
  // on demand otherwise).
  bool resume_jobs = true;
  // The largest gRPC message received or sent (proto/grpc_settings.h).
  int max_message_bytes = 256 * 1024 * 1024;
  // Per-request limits of the service (sentences, neighbours, inline pairs, model memory).
  ServiceLimits limits;
  // TLS, client certificates and the bearer token (server/security.h).
  SecurityOptions security;
  // Train the seed's toy model as `toy` before serving if the store has none.
  bool bootstrap_toy = false;
};

class ServerRunner {
 public:
  explicit ServerRunner(ServerOptions options);
  ~ServerRunner();

  // Loads models (and the toy model when asked), then starts listening. Throws on failure.
  void Start();
  // Blocks until Shutdown completes.
  void Wait();
  // Drains (NOT_SERVING for drain_seconds unless `immediate`), cancels training and stops. Thread-safe.
  void Shutdown(bool immediate = false);

  int port() const { return port_; }
  // The bound HTTP side-door port; 0 when off.
  int metrics_port() const { return http_ ? http_->port() : 0; }
  ModelStore& store() { return *store_; }
  MetricsRegistry& metrics() { return metrics_; }
  TranslationEngine& engine() { return *engine_; }

 private:
  void ReloadLoop();
  // Scrape-time gauges: process memory, and each model's serving version and load time.
  void CollectGauges();

  ServerOptions options_;
  MetricsRegistry metrics_;
  std::unique_ptr<ComputeSlots> slots_;
  std::unique_ptr<ModelStore> store_;
  std::unique_ptr<TranslationEngine> engine_;
  std::unique_ptr<TrainingJobs> jobs_;
  std::unique_ptr<HttpEndpoint> http_;
  std::unique_ptr<WordBridgeService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread reload_thread_;
  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
  std::atomic<bool> serving_{false};  // mirrors the gRPC health status for /readyz
};

// The toy model's training setup: the seed's five pairs, architecture and schedule.
void TrainToyModel(ModelStore* store);

}  // namespace wordbridge
