// The load generator against a fake WordBridge server on a loopback port: call counts, status histogram,
// percentiles, real concurrency, the rate limiter and option validation. No torch and no model needed.
#include "client/load_generator.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "wordbridge/v1/wordbridge.grpc.pb.h"

namespace wordbridge {
namespace {

// Echoes sentences uppercased after a configurable pause, refuses any sentence containing "FULL" with
// RESOURCE_EXHAUSTED (as the real server refuses over-limit batches), and records what it was sent.
class FakeWordBridge final : public v1::WordBridge::Service {
 public:
  void set_delay(std::chrono::milliseconds delay) { delay_ms_ = delay.count(); }

  grpc::Status Translate(grpc::ServerContext*, const v1::TranslateRequest* request,
                         v1::TranslateResponse* response) override {
    InFlight in_flight(this);
    Record(std::vector<std::string>(request->sentences().begin(), request->sentences().end()), 0);
    Pause();
    for (const auto& sentence : request->sentences()) {
      if (sentence.find("FULL") != std::string::npos) {
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full");
      }
      std::string upper = sentence;
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      response->add_translations()->add_hypotheses()->set_text(upper);
    }
    response->set_model(request->model());
    return grpc::Status::OK;
  }

  grpc::Status NearestWords(grpc::ServerContext*, const v1::NearestWordsRequest* request,
                            v1::NearestWordsResponse* response) override {
    InFlight in_flight(this);
    Record(request->words().empty() ? std::vector<std::string>{request->word()}
                                    : std::vector<std::string>(request->words().begin(), request->words().end()),
           request->k());
    Pause();
    if (request->word().find("FULL") != std::string::npos) {
      return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "queue full");
    }
    for (int i = 0; i < request->k(); ++i) {
      auto* neighbor = response->add_neighbors();
      neighbor->set_word(request->word() + std::to_string(i));
      neighbor->set_score(1.0f - 0.01f * i);
    }
    return grpc::Status::OK;
  }

  int max_in_flight() const { return max_in_flight_; }
  int64_t calls() {
    std::lock_guard<std::mutex> lock(mutex_);
    return calls_;
  }
  // How often each sentence (or word) arrived.
  std::map<std::string, int> received() {
    std::lock_guard<std::mutex> lock(mutex_);
    return received_;
  }
  // The first item of each call, in arrival order.
  std::vector<std::string> first_items() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_items_;
  }
  std::set<int> ks() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ks_;
  }

 private:
  struct InFlight {
    explicit InFlight(FakeWordBridge* fake) : fake_(fake) {
      const int now = ++fake_->in_flight_;
      int seen = fake_->max_in_flight_;
      while (now > seen && !fake_->max_in_flight_.compare_exchange_weak(seen, now)) {
      }
    }
    ~InFlight() { --fake_->in_flight_; }
    FakeWordBridge* fake_;
  };

  void Record(const std::vector<std::string>& items, int k) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++calls_;
    for (const auto& item : items) ++received_[item];
    if (!items.empty()) first_items_.push_back(items.front());
    if (k > 0) ks_.insert(k);
  }

  void Pause() const {
    const int64_t ms = delay_ms_;
    if (ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }

  std::atomic<int64_t> delay_ms_{2};
  std::atomic<int> in_flight_{0};
  std::atomic<int> max_in_flight_{0};
  std::mutex mutex_;
  int64_t calls_ = 0;
  std::map<std::string, int> received_;
  std::vector<std::string> first_items_;
  std::set<int> ks_;
};

class LoadGeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_ != nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  }

  void TearDown() override {
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }

  static LoadOptions Options(std::vector<std::string> sentences) {
    LoadOptions options;
    options.sentences = std::move(sentences);
    options.model = "fake";
    return options;
  }

  static int64_t Count(const LoadReport& report, const std::string& code) {
    auto it = report.status_counts.find(code);
    return it == report.status_counts.end() ? 0 : it->second;
  }

  FakeWordBridge fake_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(LoadGeneratorTest, TotalCallsAreExactAndSentencesAreCallsTimesSentencesPerCall) {
  auto options = Options({"one", "two", "three", "four", "five"});
  options.concurrency = 4;
  options.total_calls = 37;
  options.sentences_per_call = 3;
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_EQ(report.calls, 37);
  EXPECT_EQ(report.sentences, 37 * 3);
  EXPECT_EQ(Count(report, "OK"), 37);
  EXPECT_EQ(report.status_counts.size(), 1u);
  EXPECT_EQ(fake_.calls(), 37);
  int received = 0;
  for (const auto& [sentence, count] : fake_.received()) received += count;
  EXPECT_EQ(received, 37 * 3);
  EXPECT_GT(report.elapsed_seconds, 0);
  EXPECT_NEAR(report.requests_per_second, report.calls / report.elapsed_seconds, 1e-9);
  EXPECT_NEAR(report.sentences_per_second, report.sentences / report.elapsed_seconds, 1e-9);
}

TEST_F(LoadGeneratorTest, StatusHistogramCountsRefusedCallsAndLatencyOnlyOkCalls) {
  // One caller cycles a, b, FULL c, d: two refusals in eight calls.
  auto options = Options({"a", "b", "FULL c", "d"});
  options.total_calls = 8;
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_EQ(report.calls, 8);
  EXPECT_EQ(Count(report, "OK"), 6);
  EXPECT_EQ(Count(report, "RESOURCE_EXHAUSTED"), 2);
  EXPECT_EQ(report.first_errors.at("RESOURCE_EXHAUSTED"), "queue full");
  EXPECT_EQ(report.first_errors.count("OK"), 0u);
  EXPECT_GT(report.latency_p50_ms, 0);

  const std::string text = FormatLoadReport(report);
  EXPECT_NE(text.find("RESOURCE_EXHAUSTED"), std::string::npos) << text;
  EXPECT_NE(text.find("p99.9"), std::string::npos) << text;
  EXPECT_NE(text.find("queue full"), std::string::npos) << text;
}

TEST_F(LoadGeneratorTest, PercentilesAreOrdered) {
  auto options = Options({"a", "b", "c"});
  options.concurrency = 4;
  options.total_calls = 200;
  fake_.set_delay(std::chrono::milliseconds(1));
  const LoadReport report = RunLoad(channel_, options);
  ASSERT_EQ(Count(report, "OK"), 200);
  EXPECT_GT(report.latency_p50_ms, 0);
  EXPECT_LE(report.latency_p50_ms, report.latency_p90_ms);
  EXPECT_LE(report.latency_p90_ms, report.latency_p99_ms);
  EXPECT_LE(report.latency_p99_ms, report.latency_p999_ms);
  EXPECT_LE(report.latency_p999_ms, report.latency_max_ms);
  EXPECT_LE(report.latency_mean_ms, report.latency_max_ms);
  EXPECT_GT(report.latency_mean_ms, 0);
}

TEST(NearestRankPercentileTest, PicksTheNearestRank) {
  std::vector<double> values;
  for (int i = 1; i <= 100; ++i) values.push_back(i);
  EXPECT_EQ(NearestRankPercentile(values, 50), 50);
  EXPECT_EQ(NearestRankPercentile(values, 90), 90);
  EXPECT_EQ(NearestRankPercentile(values, 99), 99);
  EXPECT_EQ(NearestRankPercentile(values, 99.9), 100);
  EXPECT_EQ(NearestRankPercentile(values, 100), 100);
  EXPECT_EQ(NearestRankPercentile({7}, 50), 7);
  EXPECT_EQ(NearestRankPercentile({7}, 99.9), 7);
  EXPECT_EQ(NearestRankPercentile({1, 2, 3, 4}, 50), 2);
  EXPECT_EQ(NearestRankPercentile({}, 50), 0);
}

TEST_F(LoadGeneratorTest, CallersReallyOverlap) {
  auto options = Options({"a", "b", "c"});
  options.concurrency = 8;
  options.total_calls = 48;
  fake_.set_delay(std::chrono::milliseconds(40));
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_EQ(report.calls, 48);
  EXPECT_EQ(fake_.max_in_flight(), 8);
  // 48 calls of 40 ms one after another would take 1.9 s; eight at a time take about 0.25 s.
  EXPECT_LT(report.elapsed_seconds, 48 * 0.040 / 2);
}

TEST_F(LoadGeneratorTest, RateLimiterPacesADurationBoundRun) {
  auto options = Options({"a", "b", "c"});
  options.concurrency = 4;
  options.rate = 50;
  options.duration_seconds = 1;
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_GE(report.calls, 30);
  EXPECT_LE(report.calls, 70);
  EXPECT_GT(report.elapsed_seconds, 0.5);
  EXPECT_LT(report.elapsed_seconds, 5);
}

TEST_F(LoadGeneratorTest, DurationBoundRunStopsByItself) {
  auto options = Options({"a", "b", "c"});
  options.concurrency = 2;
  options.duration_seconds = 0.3;
  fake_.set_delay(std::chrono::milliseconds(5));
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_GT(report.calls, 0);
  EXPECT_LT(report.elapsed_seconds, 3);
}

TEST_F(LoadGeneratorTest, SlowCallsEndWithDeadlineExceeded) {
  auto options = Options({"a"});
  options.total_calls = 2;
  options.deadline_seconds = 0.05;
  fake_.set_delay(std::chrono::milliseconds(300));
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_EQ(Count(report, "DEADLINE_EXCEEDED"), 2);
  EXPECT_EQ(Count(report, "OK"), 0);
  EXPECT_EQ(report.latency_p50_ms, 0);  // no OK calls, no latency
  EXPECT_EQ(report.latency_max_ms, 0);
}

TEST_F(LoadGeneratorTest, OneCallerCyclesThroughTheSentences) {
  auto options = Options({"s0", "s1", "s2"});
  options.sentences_per_call = 2;
  options.total_calls = 3;
  RunLoad(channel_, options);
  // [s0 s1] [s2 s0] [s1 s2]
  const std::map<std::string, int> expected = {{"s0", 2}, {"s1", 2}, {"s2", 2}};
  EXPECT_EQ(fake_.received(), expected);
  EXPECT_EQ(fake_.first_items(), (std::vector<std::string>{"s0", "s2", "s1"}));
}

TEST_F(LoadGeneratorTest, CallersStartAtDifferentOffsets) {
  auto options = Options({"s0", "s1", "s2", "s3"});
  options.concurrency = 2;
  options.total_calls = 2;
  // Slow calls: each caller takes one ticket before either call returns.
  fake_.set_delay(std::chrono::milliseconds(100));
  RunLoad(channel_, options);
  auto first = fake_.first_items();
  std::sort(first.begin(), first.end());
  EXPECT_EQ(first, (std::vector<std::string>{"s0", "s2"}));
}

TEST_F(LoadGeneratorTest, NearestSendsEachWordWithKTen) {
  auto options = Options({"a b", "  c  "});
  options.rpc = "nearest";
  options.total_calls = 6;
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_EQ(report.calls, 6);
  EXPECT_EQ(report.sentences, 6);
  EXPECT_EQ(Count(report, "OK"), 6);
  const std::map<std::string, int> expected = {{"a", 2}, {"b", 2}, {"c", 2}};
  EXPECT_EQ(fake_.received(), expected);
  EXPECT_EQ(fake_.ks(), (std::set<int>{10}));
}

TEST_F(LoadGeneratorTest, NearestSendsSeveralWordsPerCallAsOneBatchedQuery) {
  auto options = Options({"a b", "  c  "});
  options.rpc = "nearest";
  options.sentences_per_call = 2;
  options.total_calls = 3;
  const LoadReport report = RunLoad(channel_, options);
  EXPECT_EQ(report.calls, 3);
  EXPECT_EQ(report.sentences, 6);  // words sent
  EXPECT_EQ(Count(report, "OK"), 3);
  const std::map<std::string, int> expected = {{"a", 2}, {"b", 2}, {"c", 2}};
  EXPECT_EQ(fake_.received(), expected);
}

TEST(LoadOptionsTest, InvalidOptionsThrow) {
  LoadOptions good;
  good.sentences = {"a b"};
  good.model = "fake";
  good.total_calls = 1;
  EXPECT_NO_THROW(ValidateLoadOptions(good));

  auto expect_invalid = [&](auto change) {
    LoadOptions options = good;
    change(options);
    EXPECT_THROW(ValidateLoadOptions(options), std::invalid_argument);
    // RunLoad validates before it touches the channel.
    auto channel = grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
    EXPECT_THROW(RunLoad(channel, options), std::invalid_argument);
  };
  expect_invalid([](LoadOptions& o) { o.total_calls = 0; });  // no bound
  expect_invalid([](LoadOptions& o) { o.concurrency = 0; });
  expect_invalid([](LoadOptions& o) { o.sentences.clear(); });
  expect_invalid([](LoadOptions& o) { o.model.clear(); });
  expect_invalid([](LoadOptions& o) { o.sentences_per_call = 0; });
  expect_invalid([](LoadOptions& o) { o.rate = -1; });
  expect_invalid([](LoadOptions& o) { o.total_calls = -5; });
  expect_invalid([](LoadOptions& o) { o.duration_seconds = -1; });
  expect_invalid([](LoadOptions& o) { o.deadline_seconds = 0; });
  expect_invalid([](LoadOptions& o) { o.rpc = "embed"; });
  expect_invalid([](LoadOptions& o) {
    o.rpc = "nearest";
    o.sentences = {"  ", ""};
  });
}

TEST(LoadReportTest, FormatsAnEmptyReport) {
  const std::string text = FormatLoadReport(LoadReport{});
  EXPECT_NE(text.find("calls"), std::string::npos);
  EXPECT_NE(text.find("no calls"), std::string::npos);
}

}  // namespace
}  // namespace wordbridge
