// A load generator for wordbridge.v1 in the spirit of ghz: a fixed pool of callers sends Translate or
// NearestWords calls, optionally at a fixed rate, and the run is summarised as throughput, latency and status.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace wordbridge {

struct LoadOptions {
  // Sentences to send; each caller cycles through them, starting at its own offset.
  std::vector<std::string> sentences;
  std::string model;
  std::string version;  // empty: the serving version
  int sentences_per_call = 1;  // Translate: sentences per call; nearest: words per call
  int beam_size = 1;           // Translate only
  int concurrency = 1;         // callers, each on its own thread with one call in flight
  // Calls per second across all callers; 0 = as fast as the callers can go.
  double rate = 0;
  int64_t total_calls = 0;       // 0 = unlimited
  double duration_seconds = 0;   // 0 = unlimited; total_calls or duration_seconds must bound the run
  double deadline_seconds = 10;  // per call
  // "translate", or "nearest": NearestWords by word (k = 10) over the whitespace-split tokens of the
  // sentences, sentences_per_call words per call (more than one: the batched `words` query).
  std::string rpc = "translate";
};

struct LoadReport {
  int64_t calls = 0;      // calls made, whatever their outcome
  int64_t sentences = 0;  // sentences (nearest: words) sent in those calls
  double elapsed_seconds = 0;
  double requests_per_second = 0;
  double sentences_per_second = 0;
  // Latency of the OK calls only: a fast refusal would otherwise make an overloaded server look quick.
  double latency_p50_ms = 0;
  double latency_p90_ms = 0;
  double latency_p99_ms = 0;
  double latency_p999_ms = 0;
  double latency_mean_ms = 0;
  double latency_max_ms = 0;
  // gRPC status code name ("OK", "RESOURCE_EXHAUSTED", ...) -> calls that ended with it.
  std::map<std::string, int64_t> status_counts;
  // The first error message seen for each failing code, so a run of NOT_FOUND says which model.
  std::map<std::string, std::string> first_errors;
};

// Throws std::invalid_argument when the options cannot describe a bounded run.
void ValidateLoadOptions(const LoadOptions& options);

// Runs the load and returns once every call has finished. Throws std::invalid_argument for bad options.
LoadReport RunLoad(std::shared_ptr<grpc::Channel> channel, const LoadOptions& options);

// A readable summary: a table of counts, throughput and latency, then a histogram of status codes.
std::string FormatLoadReport(const LoadReport& report);

// Nearest-rank percentile (0 < p <= 100) of an ascending vector; 0 when it is empty.
double NearestRankPercentile(const std::vector<double>& sorted, double p);

}  // namespace wordbridge
