// The load generator: a fixed pool of synchronous callers sharing one channel, an open-loop rate limiter
// (a global ticket counter) and nearest-rank latency percentiles.
#include "client/load_generator.h"

#include "proto/status_code_name.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "model/text/split.h"
#include "wordbridge/v1/wordbridge.grpc.pb.h"

namespace wordbridge {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kNearestK = 10;

Clock::duration Seconds(double seconds) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

// What one caller saw; merged after the pool is joined, so the callers share nothing but the ticket counter.
struct CallerTally {
  int64_t calls = 0;
  int64_t items = 0;
  std::vector<double> ok_latencies_ms;
  std::map<grpc::StatusCode, int64_t> codes;
  std::map<grpc::StatusCode, std::string> first_errors;
};

struct RunPlan {
  const LoadOptions* options;
  const std::vector<std::string>* items;  // sentences, or words for NearestWords
  v1::WordBridge::Stub* stub;
  Clock::time_point start;
  bool has_end;
  Clock::time_point end;
  std::atomic<int64_t>* next_ticket;
  std::atomic<bool>* abort;  // set when the pool could not be started in full
};

grpc::Status CallOnce(const RunPlan& plan, size_t* cursor, int64_t* items_sent) {
  const LoadOptions& o = *plan.options;
  const auto& items = *plan.items;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           std::chrono::duration<double>(o.deadline_seconds)));
  if (o.rpc == "nearest") {
    v1::NearestWordsRequest request;
    request.set_model(o.model);
    request.set_version(o.version);
    request.set_side(v1::SOURCE);
    request.set_k(kNearestK);
    if (o.sentences_per_call == 1) {
      request.set_word(items[*cursor]);
      *cursor = (*cursor + 1) % items.size();
    } else {  // several words: one batched search on the server
      for (int i = 0; i < o.sentences_per_call; ++i) {
        request.add_words(items[*cursor]);
        *cursor = (*cursor + 1) % items.size();
      }
    }
    *items_sent = o.sentences_per_call;
    v1::NearestWordsResponse response;
    return plan.stub->NearestWords(&context, request, &response);
  }
  v1::TranslateRequest request;
  request.set_model(o.model);
  request.set_version(o.version);
  request.mutable_options()->set_beam_size(o.beam_size);
  for (int i = 0; i < o.sentences_per_call; ++i) {
    request.add_sentences(items[*cursor]);
    *cursor = (*cursor + 1) % items.size();
  }
  *items_sent = o.sentences_per_call;
  v1::TranslateResponse response;
  return plan.stub->Translate(&context, request, &response);
}

void RunCaller(const RunPlan& plan, size_t offset, CallerTally* tally) {
  const LoadOptions& o = *plan.options;
  size_t cursor = offset;
  while (true) {
    // Taking a ticket first makes total_calls exact however the callers interleave.
    const int64_t ticket = plan.next_ticket->fetch_add(1);
    if (o.total_calls > 0 && ticket >= o.total_calls) break;
    if (plan.abort->load()) break;
    if (o.rate > 0) {
      // Open loop: ticket n starts at start + n / rate, whenever the previous calls finished.
      const auto scheduled = plan.start + Seconds(static_cast<double>(ticket) / o.rate);
      if (plan.has_end && scheduled >= plan.end) break;
      std::this_thread::sleep_until(scheduled);
    }
    if (plan.has_end && Clock::now() >= plan.end) break;

    int64_t items_sent = 0;
    const auto begin = Clock::now();
    const grpc::Status status = CallOnce(plan, &cursor, &items_sent);
    const double latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - begin).count();

    ++tally->calls;
    tally->items += items_sent;
    ++tally->codes[status.error_code()];
    if (status.ok()) {
      tally->ok_latencies_ms.push_back(latency_ms);
    } else {
      tally->first_errors.emplace(status.error_code(), status.error_message());
    }
  }
}

std::vector<std::string> LoadItems(const LoadOptions& options) {
  if (options.rpc != "nearest") return options.sentences;
  std::vector<std::string> words;
  for (const auto& sentence : options.sentences) {
    for (auto& word : SplitWhitespace(sentence)) words.push_back(std::move(word));
  }
  return words;
}

}  // namespace

double NearestRankPercentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  // The smallest value with at least p% of the values at or below it.
  const double rank = std::ceil(p / 100.0 * static_cast<double>(sorted.size()));
  const size_t index = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(sorted.size()))) - 1;
  return sorted[index];
}

void ValidateLoadOptions(const LoadOptions& o) {
  auto fail = [](const std::string& message) { throw std::invalid_argument(message); };
  if (o.sentences.empty()) fail("no sentences to send");
  if (o.model.empty()) fail("no model named");
  if (o.rpc != "translate" && o.rpc != "nearest") fail("rpc must be translate or nearest, not '" + o.rpc + "'");
  if (o.concurrency < 1) fail("concurrency must be at least 1");
  if (o.sentences_per_call < 1) fail("sentences per call must be at least 1");
  if (o.beam_size < 0) fail("beam size must not be negative");
  if (!(o.rate >= 0) || std::isinf(o.rate)) fail("rate must be a finite number >= 0");
  if (o.total_calls < 0) fail("total calls must not be negative");
  if (!(o.duration_seconds >= 0) || std::isinf(o.duration_seconds)) fail("duration must be a finite number >= 0");
  if (!(o.deadline_seconds > 0) || std::isinf(o.deadline_seconds)) fail("deadline must be a finite number > 0");
  // Without a bound the run would never stop by itself.
  if (o.total_calls == 0 && o.duration_seconds == 0) fail("give a total number of calls or a duration");
  if (o.rpc == "nearest" && LoadItems(o).empty()) fail("the sentences contain no words");
}

LoadReport RunLoad(std::shared_ptr<grpc::Channel> channel, const LoadOptions& options) {
  ValidateLoadOptions(options);
  const std::vector<std::string> items = LoadItems(options);
  auto stub = v1::WordBridge::NewStub(channel);  // the sync stub is thread-safe; one serves every caller

  // Connect before the clock starts, so the first call's latency is not the TCP and HTTP/2 handshake.
  // An unreachable server is not an error here: its calls will report UNAVAILABLE.
  channel->WaitForConnected(std::chrono::system_clock::now() +
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                std::chrono::duration<double>(options.deadline_seconds)));

  std::atomic<int64_t> next_ticket{0};
  std::atomic<bool> abort{false};
  RunPlan plan;
  plan.options = &options;
  plan.items = &items;
  plan.stub = stub.get();
  plan.start = Clock::now();
  plan.has_end = options.duration_seconds > 0;
  plan.end = plan.start + Seconds(options.duration_seconds);
  plan.next_ticket = &next_ticket;
  plan.abort = &abort;

  std::vector<CallerTally> tallies(options.concurrency);
  std::vector<std::thread> callers;
  callers.reserve(options.concurrency);
  try {
    for (int i = 0; i < options.concurrency; ++i) {
      // Spread the starting offsets over the items, so callers do not send the same sentences in lockstep.
      const size_t offset = (static_cast<size_t>(i) * items.size() / options.concurrency) % items.size();
      callers.emplace_back(RunCaller, std::cref(plan), offset, &tallies[i]);
    }
  } catch (...) {
    // Out of threads: stop the callers already started (destroying them unjoined would abort the process).
    abort = true;
    for (auto& caller : callers) caller.join();
    throw;
  }
  for (auto& caller : callers) caller.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - plan.start).count();

  LoadReport report;
  std::vector<double> latencies;
  for (auto& tally : tallies) {
    report.calls += tally.calls;
    report.sentences += tally.items;
    latencies.insert(latencies.end(), tally.ok_latencies_ms.begin(), tally.ok_latencies_ms.end());
    for (const auto& [code, count] : tally.codes) report.status_counts[StatusCodeName(code)] += count;
    for (const auto& [code, message] : tally.first_errors) report.first_errors.emplace(StatusCodeName(code), message);
  }
  report.elapsed_seconds = elapsed;
  if (elapsed > 0) {
    report.requests_per_second = report.calls / elapsed;
    report.sentences_per_second = report.sentences / elapsed;
  }
  std::sort(latencies.begin(), latencies.end());
  report.latency_p50_ms = NearestRankPercentile(latencies, 50);
  report.latency_p90_ms = NearestRankPercentile(latencies, 90);
  report.latency_p99_ms = NearestRankPercentile(latencies, 99);
  report.latency_p999_ms = NearestRankPercentile(latencies, 99.9);
  if (!latencies.empty()) {
    double sum = 0;
    for (double l : latencies) sum += l;
    report.latency_mean_ms = sum / latencies.size();
    report.latency_max_ms = latencies.back();
  }
  return report;
}

std::string FormatLoadReport(const LoadReport& r) {
  std::ostringstream out;
  out << std::fixed;
  out << "Summary\n"
      << "  calls         " << r.calls << "\n"
      << "  sentences     " << r.sentences << "\n"
      << std::setprecision(3) << "  elapsed       " << r.elapsed_seconds << " s\n"
      << std::setprecision(1) << "  requests/s    " << r.requests_per_second << "\n"
      << "  sentences/s   " << r.sentences_per_second << "\n";

  const auto ok = r.status_counts.find("OK");
  const int64_t ok_calls = ok == r.status_counts.end() ? 0 : ok->second;
  out << "\nLatency of OK calls (ms, " << ok_calls << " calls)\n";
  const std::pair<const char*, double> columns[] = {{"p50", r.latency_p50_ms},  {"p90", r.latency_p90_ms},
                                                    {"p99", r.latency_p99_ms},  {"p99.9", r.latency_p999_ms},
                                                    {"mean", r.latency_mean_ms}, {"max", r.latency_max_ms}};
  out << " ";
  for (const auto& [name, value] : columns) out << std::setw(10) << name;
  out << "\n ";
  out << std::setprecision(2);
  for (const auto& [name, value] : columns) out << std::setw(10) << value;
  out << "\n";

  out << "\nStatus codes\n";
  size_t name_width = 0;
  int64_t largest = 0;
  for (const auto& [name, count] : r.status_counts) {
    name_width = std::max(name_width, name.size());
    largest = std::max(largest, count);
  }
  constexpr int kBarWidth = 40;
  for (const auto& [name, count] : r.status_counts) {
    const double share = r.calls > 0 ? 100.0 * count / r.calls : 0;
    // Round up so that a single failure still shows.
    const int bar = largest > 0 ? static_cast<int>((count * kBarWidth + largest - 1) / largest) : 0;
    out << "  " << std::left << std::setw(static_cast<int>(name_width)) << name << std::right << std::setw(9)
        << count << std::setw(7) << std::setprecision(1) << share << "%  " << std::string(bar, '#') << "\n";
    const auto error = r.first_errors.find(name);
    if (error != r.first_errors.end() && !error->second.empty()) {
      out << "    first error: " << error->second << "\n";
    }
  }
  if (r.status_counts.empty()) out << "  (no calls)\n";
  return out.str();
}

}  // namespace wordbridge
