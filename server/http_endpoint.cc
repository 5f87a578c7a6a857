// HttpEndpoint on cpp-httplib: three GET routes, a two-thread pool, short keep-alive so Stop is prompt.
#include "server/http_endpoint.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace wordbridge {
namespace {

constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kTextContentType[] = "text/plain; charset=utf-8";

// The service runs on two cores; scrapes and probes are tiny and rare.
constexpr size_t kWorkerThreads = 2;

}  // namespace

HttpEndpoint::HttpEndpoint(HttpEndpointOptions options, std::function<std::string()> metrics,
                           std::function<bool()> ready)
    : options_(std::move(options)),
      metrics_(std::move(metrics)),
      ready_(std::move(ready)),
      server_(std::make_unique<httplib::Server>()) {
  server_->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  // cpp-httplib's default sets SO_REUSEPORT, which would let a second server bind the same port and
  // silently take half the scrapes. SO_REUSEADDR alone still allows a quick restart.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // A worker waits on an idle keep-alive connection until this timeout, and Stop waits for the workers:
  // keep it short (scrapes are seconds apart, reconnecting costs nothing).
  server_->set_keep_alive_timeout(1);
  server_->set_read_timeout(2);

  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& response) {
    try {
      response.set_content(metrics_(), kMetricsContentType);
    } catch (const std::exception& e) {
      response.status = 500;
      response.set_content(std::string("cannot render metrics: ") + e.what() + "\n", kTextContentType);
    }
  });
  // Liveness: answering at all is the signal.
  server_->Get("/healthz", [](const httplib::Request&, httplib::Response& response) {
    response.set_content("ok", kTextContentType);
  });
  server_->Get("/readyz", [this](const httplib::Request&, httplib::Response& response) {
    bool ready = false;
    try {
      ready = ready_();
    } catch (const std::exception&) {
      ready = false;
    }
    if (ready) {
      response.set_content("ready", kTextContentType);
    } else {
      response.status = 503;
      response.set_content("not serving", kTextContentType);
    }
  });
  // cpp-httplib answers unknown routes with 404 and no body; say so for people using curl. The 503 of
  // /readyz also passes here, hence the empty-body check.
  server_->set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (response.status == 404 && response.body.empty()) response.set_content("not found", kTextContentType);
  });
}

HttpEndpoint::~HttpEndpoint() { Stop(); }

void HttpEndpoint::Start() {
  std::lock_guard lock(mutex_);
  if (started_) throw std::logic_error("HttpEndpoint::Start called twice");
  started_ = true;
  const std::string address = options_.host + ":" + std::to_string(options_.port);
  if (stopped_) throw std::logic_error("HttpEndpoint on " + address + " was stopped before it started");

  errno = 0;
  int port = -1;
  if (options_.port == 0) {
    port = server_->bind_to_any_port(options_.host);
  } else if (options_.port > 0 && options_.port < 65536 && server_->bind_to_port(options_.host, options_.port)) {
    port = options_.port;
  }
  if (port <= 0) {
    const int error = errno;
    throw std::runtime_error("cannot listen for HTTP (metrics, health) on " + address +
                             (error != 0 ? std::string(": ") + std::strerror(error) : std::string()));
  }
  port_ = port;

  auto listener_done = std::make_shared<std::atomic<bool>>(false);
  listener_ = std::thread([this, listener_done] {
    server_->listen_after_bind();
    listener_done->store(true);
  });
  // httplib's stop() does nothing until the listener has marked itself running; wait for that so a
  // Stop right after Start is not lost (it takes microseconds).
  while (!server_->is_running() && !listener_done->load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void HttpEndpoint::Stop() {
  std::lock_guard lock(mutex_);
  if (stopped_) return;
  stopped_ = true;
  if (listener_.joinable()) {
    server_->stop();
    listener_.join();
  }
}

}  // namespace wordbridge
