// ServerRunner: assembles the gRPC server (WordBridge service, health, reflection), the model store
// and the training jobs; runs the periodic model-directory rescan; drains on shutdown.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <string>
#include <thread>

#include "model/store/model_store.h"
#include "server/training_jobs.h"
#include "server/wordbridge_service.h"

namespace wordbridge {

struct ServerOptions {
  // Address to listen on.
  std::string host = "0.0.0.0";
  // 0 picks a free port (see ServerRunner::port()).
  int port = 50051;
  // Where model versions live; created if missing.
  std::string model_dir = "models";
  // Train may read corpora below this directory; empty = inline corpora only.
  std::string data_dir;
  // Intra-op threads for LibTorch (and OpenBLAS); 0 = the number of cores.
  int threads = 0;
  // On shutdown: report NOT_SERVING this long before closing, so load balancers move away.
  int drain_seconds = 10;
  // Rescan the model directory for versions published by other replicas this often; 0 = never.
  int reload_seconds = 30;
  // Translate decodes this many batches of a request at once, one thread each; 1 = one batch at a
  // time on all --threads.
  int decode_workers = 1;
  // Training jobs that may run at once.
  int max_training_jobs = 1;
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
  ModelStore& store() { return *store_; }

 private:
  void ReloadLoop();

  ServerOptions options_;
  std::unique_ptr<ModelStore> store_;
  std::unique_ptr<TrainingJobs> jobs_;
  std::unique_ptr<WordBridgeService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::thread reload_thread_;
  std::mutex mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;
};

// The toy model's training setup: the seed's five pairs, architecture and schedule.
void TrainToyModel(ModelStore* store);

}  // namespace wordbridge
