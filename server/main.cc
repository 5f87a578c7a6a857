// wordbridge-server: serves wordbridge.v1 over gRPC. SIGINT/SIGTERM drain and stop it.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <thread>

#include "server/server_runner.h"

int main(int argc, char** argv) {
  wordbridge::ServerOptions options;
  CLI::App app{"wordbridge-server: train, translate and search word embeddings over gRPC"};
  app.add_option("--host", options.host, "address to listen on")->capture_default_str();
  app.add_option("--port", options.port, "port to listen on (0 = any free port)")->capture_default_str();
  app.add_option("--model-dir", options.model_dir, "model store directory")->capture_default_str();
  app.add_option("--data-dir", options.data_dir, "directory Train may read corpora from");
  app.add_option("--threads", options.threads, "compute threads in all, translation and training (0 = all cores)")
      ->capture_default_str();
  auto& engine = options.engine;
  app.add_option("--workers", engine.workers, "translation workers (0 = threads / threads-per-worker)")
      ->capture_default_str();
  app.add_option("--threads-per-worker", engine.threads_per_worker, "compute threads of each translation worker")
      ->capture_default_str();
  app.add_option("--queue-capacity", engine.queue_capacity,
                 "sentences that may wait for translation; more are refused with RESOURCE_EXHAUSTED")
      ->capture_default_str();
  app.add_option("--max-batch-sentences", engine.max_batch_sentences, "sentences per translation batch")
      ->capture_default_str();
  app.add_option("--max-batch-tokens", engine.max_batch_tokens,
                 "source tokens per translation batch (sentences x longest)")
      ->capture_default_str();
  app.add_option("--batch-timeout-micros", engine.batch_timeout_micros,
                 "longest wait for a batch to fill before it starts (0 = start at once)")
      ->capture_default_str();
  std::string compute_type = "default";
  app.add_option("--compute-type", compute_type,
                 "arithmetic of decoding's matrix products when a request names none: float32, bfloat16, int8, "
                 "or default (the fastest within 0.3 BLEU of float32 on the benchmark)")
      ->capture_default_str()
      ->check(CLI::IsMember({"float32", "bfloat16", "int8", "default"}));
  app.add_option("--metrics-port", options.metrics_port, "HTTP port for /metrics, /healthz, /readyz (0 = off)")
      ->capture_default_str();
  app.add_option("--drain-seconds", options.drain_seconds, "NOT_SERVING period before shutdown")->capture_default_str();
  app.add_option("--reload-seconds", options.reload_seconds, "rescan the model dir for new versions (0 = never)")
      ->capture_default_str();
  app.add_option("--keep-versions", options.keep_versions,
                 "after each publish, delete versions older than the newest N (never the pinned or serving one; "
                 "0 = keep all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-training-jobs", options.max_training_jobs,
                 "concurrent training jobs (0 = this server does not train: Train gets FAILED_PRECONDITION)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--checkpoint-minutes", options.limits.checkpoint_minutes,
                 "training checkpoints within an epoch every this many minutes (always at each epoch's end; 0 = "
                 "only there)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--resume-jobs", options.resume_jobs,
                 "at start-up, continue INTERRUPTED training jobs from their last checkpoint (false: they wait "
                 "for ResumeJob)")
      ->capture_default_str();
  app.add_option("--training-threads", options.training_threads,
                 "compute threads of each training job (all cores on a machine that only trains)")
      ->capture_default_str();
  app.add_option("--max-message-bytes", options.max_message_bytes,
                 "largest gRPC request or response, in bytes (larger ones get RESOURCE_EXHAUSTED)")
      ->capture_default_str()
      ->check(CLI::Range(1024, 2047 * 1024 * 1024));
  app.add_option("--max-model-bytes", options.limits.max_model_bytes,
                 "refuse Train requests whose model needs more memory to train than this, and stored "
                 "versions whose weights or files exceed it (0 = no limit; default: half the machine's memory)")
      ->capture_default_str();
  app.add_option("--max-upload-bytes", options.limits.uploads.max_file_bytes,
                 "largest corpus one UploadCorpus call may store, in bytes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-upload-total-bytes", options.limits.uploads.max_total_bytes,
                 "all uploaded corpora together (the data directory's uploads/), in bytes")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--index-kind", options.limits.default_index_kind,
                 "FAISS index of new versions' word searches when a Train request names none: flat, hnsw, sq8 "
                 "or ivf-pq (default: flat up to 25,000 words of 256 dimensions, rows x dimension <= 6,400,000; hnsw above)")
      ->check(CLI::IsMember({"flat", "hnsw", "sq8", "ivf-pq"}));
  app.add_flag("--bootstrap-toy", options.bootstrap_toy, "train the seed's toy model 'toy' if missing");
  auto& security = options.security;
  app.add_option("--tls-cert", security.tls_cert_file, "serve TLS with this certificate chain (PEM; needs --tls-key)");
  app.add_option("--tls-key", security.tls_key_file, "private key of --tls-cert (PEM)");
  app.add_option("--tls-client-ca", security.tls_client_ca_file,
                 "require client certificates signed by these CAs (PEM; mTLS; needs --tls-cert)");
  app.add_option("--auth-token-file", security.auth_token_file,
                 "require 'authorization: Bearer <token>' with this file's token for admin RPCs (Train, CancelJob, ResumeJob, "
                 "SetServingVersion, DeleteVersion, IndexSentences, UploadCorpus, DeleteCorpus); read once");
  app.add_flag("--auth-all", security.auth_all, "require the token for every RPC except grpc.health.v1");
  CLI11_PARSE(app, argc, argv);
  engine.compute_type = wordbridge::ParseComputeType(compute_type);

  // Signals go to one waiting thread, not to whichever thread happens to run.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  wordbridge::ServerRunner runner(options);
  try {
    runner.Start();
  } catch (const std::exception& e) {
    std::cerr << "wordbridge-server: " << e.what() << std::endl;
    return 1;
  }
  std::thread signal_waiter([&] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    std::cerr << "signal " << signal_number << ": shutting down" << std::endl;
    // A second signal skips the drain.
    std::thread second([&] {
      int again = 0;
      sigwait(&signals, &again);
      std::_Exit(130);
    });
    second.detach();
    runner.Shutdown();
  });
  runner.Wait();
  signal_waiter.join();
  return 0;
}
