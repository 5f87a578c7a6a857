// HttpEndpoint: a small HTTP side door beside the gRPC server for Prometheus scrapes (/metrics) and
// Kubernetes-style probes (/healthz liveness, /readyz readiness), served by cpp-httplib on two threads.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace wordbridge {

struct HttpEndpointOptions {
  // Address to listen on.
  std::string host = "0.0.0.0";
  // 0 picks a free port (see HttpEndpoint::port()).
  int port = 0;
};

class HttpEndpoint {
 public:
  // `metrics` renders the /metrics body; `ready` says whether the server serves (mirrors gRPC health).
  // Both are called on the endpoint's worker threads, possibly at once.
  HttpEndpoint(HttpEndpointOptions options, std::function<std::string()> metrics, std::function<bool()> ready);
  // Stops and joins.
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Binds (std::runtime_error with the address if it cannot), then serves on its own thread. Once only.
  void Start();
  // Closes the listening socket and joins the serving threads. Idempotent; thread-safe.
  void Stop();
  // The bound port; 0 before Start.
  int port() const { return port_; }

 private:
  const HttpEndpointOptions options_;
  const std::function<std::string()> metrics_;
  const std::function<bool()> ready_;
  std::unique_ptr<httplib::Server> server_;
  std::thread listener_;
  std::mutex mutex_;
  bool started_ = false;
  bool stopped_ = false;
  int port_ = 0;
};

}  // namespace wordbridge
