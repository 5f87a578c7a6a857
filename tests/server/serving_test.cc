// The serving engine behind the real server (ServerRunner): admission control and deadlines as gRPC
// statuses, concurrent clients, and /metrics as a scraper sees it.
#include <gtest/gtest.h>
#include <httplib.h>

#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "client/wordbridge_client.h"
#include "server/server_runner.h"
#include "tests/server/prometheus_text.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;
using namespace testing_prometheus;  // NOLINT

class ServingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("wb_serving_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    ServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.model_dir = (root_ / "models").string();
    // One compute thread: ctest runs two test processes at once on two cores, and OpenMP teams of
    // two in each would spin against each other (the toy model trains at start-up).
    options.threads = 1;
    options.drain_seconds = 0;
    options.reload_seconds = 0;
    options.bootstrap_toy = true;
    options.metrics_port = -1;  // any free port
    options.engine.workers = 1;
    options.engine.queue_capacity = 2;
    options.max_message_bytes = kMaxMessageBytes;
    runner_ = std::make_unique<ServerRunner>(options);
    runner_->Start();
  }
  void TearDown() override {
    if (release_) release_();  // a failed assertion must not leave the worker held
    runner_->Shutdown(/*immediate=*/true);
    runner_.reset();
    fs::remove_all(root_);
  }

  static constexpr int kMaxMessageBytes = 1 << 20;
  WordBridgeClient Client() { return WordBridgeClient("127.0.0.1:" + std::to_string(runner_->port())); }

  static v1::TranslateRequest Request(std::vector<std::string> sentences) {
    v1::TranslateRequest request;
    request.set_model("toy");
    for (auto& s : sentences) request.add_sentences(s);
    return request;
  }

  Exposition Scrape() {
    httplib::Client http("127.0.0.1", runner_->metrics_port());
    auto response = http.Get("/metrics");
    EXPECT_TRUE(response);
    if (!response) return {};
    EXPECT_EQ(response->status, 200);
    return ParseOrFail(response->body);
  }

  // Keeps the only translation worker busy until the returned function is called.
  std::function<void()> HoldTheWorker() {
    auto gate = std::make_shared<std::promise<void>>();
    auto started = std::make_shared<std::promise<void>>();
    auto held = std::make_shared<std::thread>([this, gate, started] {
      auto open = gate->get_future();
      runner_->engine().RunOnWorker([&] {
        started->set_value();
        open.wait();
      });
    });
    started->get_future().wait();
    release_ = [gate, held] {
      if (!held->joinable()) return;
      gate->set_value();
      held->join();
    };
    return release_;
  }

  std::function<void()> release_;

  fs::path root_;
  std::unique_ptr<ServerRunner> runner_;
};

TEST_F(ServingTest, MetricsCountCallsByMethodAndStatus) {
  auto client = Client();
  v1::TranslateResponse response;
  ASSERT_TRUE(client.Translate(Request({"我 爱 自然 语言 处理"}), &response).ok());
  EXPECT_EQ(response.translations(0).hypotheses(0).text(), "I love natural language processing");
  auto first = Scrape();
  const std::map<std::string, std::string> ok = {{"method", "Translate"}, {"code", "OK"}};
  EXPECT_EQ(Value(first, "wordbridge_rpc_requests_total", ok), 1.0);
  EXPECT_EQ(Value(first, "wordbridge_rpc_latency_seconds_count", ok), 1.0);
  EXPECT_EQ(Value(first, "wordbridge_translate_sentences_total"), 1.0);
  EXPECT_EQ(Value(first, "wordbridge_model_serving_version", {{"model", "toy"}}), 1.0);
  EXPECT_GT(Value(first, "process_resident_memory_bytes").value_or(0), 0.0);
  EXPECT_EQ(Value(first, "wordbridge_translate_batch_sentences_count"), 1.0);

  ASSERT_TRUE(client.Translate(Request({"我 爱", "今天 天气 很 好"}), &response).ok());
  auto missing = Request({"x"});
  missing.set_model("nope");
  EXPECT_EQ(client.Translate(missing, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  v1::NearestWordsRequest nearest;
  nearest.set_model("toy");
  nearest.set_word("学习");
  v1::NearestWordsResponse neighbors;
  ASSERT_TRUE(client.NearestWords(nearest, &neighbors).ok());

  auto second = Scrape();
  EXPECT_EQ(Value(second, "wordbridge_rpc_requests_total", ok), 2.0);
  EXPECT_EQ(Value(second, "wordbridge_rpc_requests_total", {{"method", "Translate"}, {"code", "NOT_FOUND"}}), 1.0);
  EXPECT_EQ(Value(second, "wordbridge_rpc_requests_total", {{"method", "NearestWords"}, {"code", "OK"}}), 1.0);
  EXPECT_EQ(Value(second, "wordbridge_translate_sentences_total"), 3.0);
  EXPECT_GT(Value(second, "wordbridge_translate_output_tokens_total").value_or(0),
            Value(first, "wordbridge_translate_output_tokens_total").value_or(0));

  httplib::Client http("127.0.0.1", runner_->metrics_port());
  auto ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST_F(ServingTest, AShortDeadlineIsDeadlineExceededAndAFullQueueIsResourceExhausted) {
  auto release = HoldTheWorker();
  auto client = Client();
  v1::TranslateResponse response;
  client.set_timeout(std::chrono::milliseconds(200));
  auto late = client.Translate(Request({"我 爱"}), &response);
  EXPECT_EQ(late.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's deadline for the call is a little later than the client's: wait for it to give up.
  for (int i = 0; i < 2000 && runner_->engine().queued_sentences() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(runner_->engine().queued_sentences(), 0) << "the expired call left the queue";

  // Two sentences fill the queue (capacity 2); the next call is refused at once.
  client.set_timeout(std::chrono::seconds(30));
  auto waiting = std::async(std::launch::async, [&] {
    v1::TranslateResponse r;
    return Client().Translate(Request({"我 爱", "今天 天气 很 好"}), &r);
  });
  for (int i = 0; i < 2000 && runner_->engine().queued_sentences() < 2; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(runner_->engine().queued_sentences(), 2);
  auto full = client.Translate(Request({"好"}), &response);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(full.error_message().find("queue is full"), std::string::npos) << full.error_message();
  release();
  EXPECT_TRUE(waiting.get().ok());

  ASSERT_TRUE(client.Translate(Request({"我 爱 自然 语言 处理"}), &response).ok()) << "served once the worker is free";
  auto metrics = Scrape();
  EXPECT_EQ(Value(metrics, "wordbridge_translate_rejected_total"), 1.0);
  EXPECT_EQ(Value(metrics, "wordbridge_translate_sentences_total"), 3.0) << "the expired call was never decoded";
  EXPECT_EQ(Value(metrics, "wordbridge_rpc_requests_total", {{"method", "Translate"}, {"code", "RESOURCE_EXHAUSTED"}}),
            1.0);
  EXPECT_EQ(Value(metrics, "wordbridge_rpc_requests_total", {{"method", "Translate"}, {"code", "DEADLINE_EXCEEDED"}}),
            1.0);
}

TEST_F(ServingTest, ConcurrentClientsEachGetTheirOwnTranslations) {
  const std::vector<std::string> sentences = {"我 爱 自然 语言 处理", "今天 天气 很 好", "我 爱", "今天 好"};
  std::vector<std::string> alone;
  {
    auto client = Client();
    for (const auto& s : sentences) {
      v1::TranslateResponse response;
      ASSERT_TRUE(client.Translate(Request({s}), &response).ok());
      alone.push_back(response.translations(0).hypotheses(0).text());
    }
  }
  std::vector<std::future<void>> callers;
  for (int c = 0; c < 8; ++c) {
    callers.push_back(std::async(std::launch::async, [&, c] {
      auto client = Client();
      for (int round = 0; round < 5; ++round) {
        const size_t i = (c + round) % sentences.size();
        v1::TranslateResponse response;
        grpc::Status status = client.Translate(Request({sentences[i]}), &response);
        if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) continue;  // a queue of two
        ASSERT_TRUE(status.ok()) << status.error_message();
        EXPECT_EQ(response.translations(0).hypotheses(0).text(), alone[i]);
      }
    }));
  }
  for (auto& caller : callers) caller.get();
}

TEST_F(ServingTest, MessagesAboveTheServersLimitAreResourceExhausted) {
  // The server was started with --max-message-bytes 1 MiB; the client allows more, so the server's
  // limit is what refuses the request.
  v1::TranslateRequest request;
  request.set_model("toy");
  request.add_sentences(std::string(2 << 20, 'a'));
  v1::TranslateResponse response;
  auto status = Client().Translate(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  // A request under the limit is served by the same server.
  v1::TranslateRequest small;
  small.set_model("toy");
  small.add_sentences("我 爱 学习");
  EXPECT_TRUE(Client().Translate(small, &response).ok());
}

}  // namespace
}  // namespace wordbridge
