// The metrics registry and the HTTP side door, checked through what a scraper sees: the rendered text is
// parsed by a small, independent reader of the Prometheus text format 0.0.4.
#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "model/serve/metrics.h"
#include "server/http_endpoint.h"
#include "tests/server/prometheus_text.h"

namespace wordbridge {
namespace {

using namespace testing_prometheus;  // NOLINT: the reader's small vocabulary reads better unqualified

// ---- the reader itself rejects what it should, so its passes mean something ----

TEST(ExpositionReaderTest, RejectsMalformedText) {
  Exposition e;
  EXPECT_NE(ParseExposition("x 1\n", &e), "");  // no TYPE
  e = {};
  EXPECT_NE(ParseExposition("# TYPE x gauge\nx{a=\"b} 1\n", &e), "");
  e = {};
  EXPECT_NE(ParseExposition("# TYPE x gauge\nx{a=\"\\q\"} 1\n", &e), "");
  e = {};
  EXPECT_NE(ParseExposition("# TYPE x gauge\nx one\n", &e), "");
  e = {};
  EXPECT_NE(ParseExposition("# TYPE 1x gauge\n", &e), "");
  e = {};
  EXPECT_NE(ParseExposition("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                            "h_sum 1\nh_count 1\n",
                            &e),
            "");
  e = {};
  EXPECT_NE(ParseExposition("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", &e), "");
  e = {};
  EXPECT_EQ(ParseExposition("# HELP x a gauge\n# TYPE x gauge\nx{a=\"q\\\"\\\\\\n\"} -1.5e3\n", &e), "");
  EXPECT_EQ(Value(e, "x", {{"a", "q\"\\\n"}}), -1500);
}

// ---- the registry ----

TEST(MetricsRegistryTest, RendersValidTextWithEveryKind) {
  MetricsRegistry registry;
  registry.GetCounter("wordbridge_requests_total", "Requests handled.", {{"method", "Translate"}, {"code", "OK"}})
      .Increment(3);
  registry
      .GetCounter("wordbridge_requests_total", "Requests handled.", {{"method", "Translate"}, {"code", "NOT_FOUND"}})
      .Increment();
  registry.GetCounter("wordbridge_restarts_total", "No labels.").Increment(0);
  registry.GetGauge("wordbridge_queue_depth", "Queued batches.", {{"model", "es-en"}}).Set(-2.5);
  const std::string tricky = "a \"quoted\" back\\slash\nand a newline";
  registry.GetGauge("wordbridge_queue_depth", "Queued batches.", {{"model", tricky}}).Set(7);
  const auto bounds = std::vector<double>{0.01, 0.1, 1};
  auto& fast = registry.GetHistogram("wordbridge_latency_seconds", "Latency.\nSecond line.", bounds,
                                     {{"model", "es-en"}});
  auto& slow = registry.GetHistogram("wordbridge_latency_seconds", "Latency.", bounds, {{"model", "fr-en"}});
  for (double v : {0.005, 0.01, 0.05, 0.5, 2.0}) fast.Observe(v);
  slow.Observe(100);

  const Exposition e = ParseOrFail(registry.RenderText());
  EXPECT_EQ(e.family_order, (std::vector<std::string>{"wordbridge_latency_seconds", "wordbridge_queue_depth",
                                                       "wordbridge_requests_total", "wordbridge_restarts_total"}));
  EXPECT_EQ(e.types.at("wordbridge_requests_total"), "counter");
  EXPECT_EQ(e.types.at("wordbridge_queue_depth"), "gauge");
  EXPECT_EQ(e.types.at("wordbridge_latency_seconds"), "histogram");
  EXPECT_EQ(e.help.at("wordbridge_latency_seconds"), "Latency.\\nSecond line.");
  EXPECT_EQ(Value(e, "wordbridge_requests_total", {{"method", "Translate"}, {"code", "OK"}}), 3);
  EXPECT_EQ(Value(e, "wordbridge_requests_total", {{"method", "Translate"}, {"code", "NOT_FOUND"}}), 1);
  EXPECT_EQ(Value(e, "wordbridge_restarts_total"), 0);
  EXPECT_EQ(Value(e, "wordbridge_queue_depth", {{"model", "es-en"}}), -2.5);
  EXPECT_EQ(Value(e, "wordbridge_queue_depth", {{"model", tricky}}), 7);
  // Bounds are inclusive: 0.01 falls in le="0.01".
  EXPECT_EQ(Value(e, "wordbridge_latency_seconds_bucket", {{"model", "es-en"}, {"le", "0.01"}}), 2);
  EXPECT_EQ(Value(e, "wordbridge_latency_seconds_bucket", {{"model", "es-en"}, {"le", "0.1"}}), 3);
  EXPECT_EQ(Value(e, "wordbridge_latency_seconds_bucket", {{"model", "es-en"}, {"le", "1"}}), 4);
  EXPECT_EQ(Value(e, "wordbridge_latency_seconds_bucket", {{"model", "es-en"}, {"le", "+Inf"}}), 5);
  EXPECT_EQ(Value(e, "wordbridge_latency_seconds_count", {{"model", "es-en"}}), 5);
  EXPECT_NEAR(*Value(e, "wordbridge_latency_seconds_sum", {{"model", "es-en"}}), 2.565, 1e-12);
  EXPECT_EQ(Value(e, "wordbridge_latency_seconds_bucket", {{"model", "fr-en"}, {"le", "1"}}), 0);
  EXPECT_EQ(Value(e, "wordbridge_latency_seconds_count", {{"model", "fr-en"}}), 1);
}

TEST(MetricsRegistryTest, SameNameAndLabelsGiveTheSameMetric) {
  MetricsRegistry registry;
  Counter& a = registry.GetCounter("c_total", "h", {{"x", "1"}, {"y", "2"}});
  EXPECT_EQ(&a, &registry.GetCounter("c_total", "h", {{"x", "1"}, {"y", "2"}}));
  // Label order at the call site does not matter.
  EXPECT_EQ(&a, &registry.GetCounter("c_total", "h", {{"y", "2"}, {"x", "1"}}));
  EXPECT_NE(&a, &registry.GetCounter("c_total", "h", {{"x", "1"}, {"y", "3"}}));
  a.Increment(2);
  a.Increment(0.5);
  EXPECT_EQ(a.value(), 2.5);
  a.Increment(-1);  // counters never go down
  EXPECT_EQ(a.value(), 2.5);
  EXPECT_EQ(Value(ParseOrFail(registry.RenderText()), "c_total", {{"x", "1"}, {"y", "2"}}), 2.5);

  Gauge& g = registry.GetGauge("g", "h");
  g.Set(4);
  g.Add(-1.5);
  EXPECT_EQ(g.value(), 2.5);
}

TEST(MetricsRegistryTest, RejectsConflictingAndInvalidRegistrations) {
  MetricsRegistry registry;
  registry.GetCounter("m", "h", {{"a", "1"}});
  EXPECT_THROW(registry.GetGauge("m", "h", {{"a", "1"}}), std::logic_error);
  EXPECT_THROW(registry.GetHistogram("m", "h", {1.0}, {{"a", "1"}}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("m", "h", {{"b", "1"}}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("m", "h"), std::logic_error);
  registry.GetHistogram("h", "h", {1, 2});
  EXPECT_THROW(registry.GetHistogram("h", "h", {1, 3}), std::logic_error);
  EXPECT_THROW(registry.GetCounter("bad-name", "h"), std::invalid_argument);
  EXPECT_THROW(registry.GetCounter("1bad", "h"), std::invalid_argument);
  EXPECT_THROW(registry.GetCounter("ok", "h", {{"bad-label", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.GetCounter("ok", "h", {{"__reserved", "v"}}), std::invalid_argument);
  EXPECT_THROW(registry.GetCounter("ok", "h", {{"a", "1"}, {"a", "2"}}), std::invalid_argument);
  EXPECT_THROW(registry.GetHistogram("hl", "h", {1}, {{"le", "1"}}), std::invalid_argument);
  EXPECT_THROW(registry.GetHistogram("hb", "h", {2, 1}), std::invalid_argument);
  // A failed registration leaves nothing behind.
  ParseOrFail(registry.RenderText());
}

TEST(MetricsRegistryTest, ConcurrentIncrementsAreAllCounted) {
  MetricsRegistry registry;
  constexpr int kThreads = 4;
  constexpr int kIncrements = 10000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      // Every thread looks the metrics up itself: Get* races with Get* too.
      Counter& counter = registry.GetCounter("hits_total", "h", {{"route", "/x"}});
      Gauge& gauge = registry.GetGauge("level", "h");
      Histogram& histogram = registry.GetHistogram("sizes", "h", ExponentialBuckets(1, 2, 8));
      for (int i = 0; i < kIncrements; ++i) {
        counter.Increment();
        gauge.Add(0.5);
        histogram.Observe(i % 300);
      }
    });
  }
  // Renders while the updates run stay valid text.
  for (int i = 0; i < 20; ++i) ParseOrFail(registry.RenderText());
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(registry.GetCounter("hits_total", "h", {{"route", "/x"}}).value(), kThreads * kIncrements);
  EXPECT_EQ(registry.GetGauge("level", "h").value(), kThreads * kIncrements * 0.5);
  const Exposition e = ParseOrFail(registry.RenderText());
  EXPECT_EQ(Value(e, "hits_total", {{"route", "/x"}}), 40000);
  EXPECT_EQ(Value(e, "sizes_count"), 40000);
}

TEST(MetricsRegistryTest, CollectorsRunOnEveryRender) {
  MetricsRegistry registry;
  int renders = 0;
  registry.AddCollector([&] { registry.GetGauge("renders", "Times rendered.").Set(++renders); });
  registry.AddCollector([&] { registry.GetGauge("rss_bytes", "RSS.").Set(ProcessResidentBytes()); });
  EXPECT_EQ(Value(ParseOrFail(registry.RenderText()), "renders"), 1);
  const Exposition e = ParseOrFail(registry.RenderText());
  EXPECT_EQ(Value(e, "renders"), 2);
  EXPECT_GT(Value(e, "rss_bytes").value_or(0), 0);
}

TEST(MetricsRegistryTest, EmptyRegistryRendersNothing) {
  MetricsRegistry registry;
  EXPECT_EQ(registry.RenderText(), "");
}

TEST(MetricsHelpersTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(0.001, 10, 4), (std::vector<double>{0.001, 0.01, 0.1, 1.0}));
  EXPECT_EQ(ExponentialBuckets(1, 2, 1), (std::vector<double>{1}));
  EXPECT_THROW(ExponentialBuckets(0, 2, 3), std::invalid_argument);
  EXPECT_THROW(ExponentialBuckets(1, 1, 3), std::invalid_argument);
  EXPECT_THROW(ExponentialBuckets(1, 2, 0), std::invalid_argument);
}

TEST(MetricsHelpersTest, ProcessResidentBytesIsPositive) {
  const double rss = ProcessResidentBytes();
  EXPECT_GT(rss, 1024 * 1024);  // a process with gtest loaded is well above a megabyte
  EXPECT_LT(rss, 1e12);
}

// ---- the HTTP side door ----

class HttpEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hits_ = &registry_.GetCounter("wordbridge_test_hits_total", "Hits.", {{"kind", "a\"b"}});
    registry_.GetHistogram("wordbridge_test_seconds", "Seconds.", ExponentialBuckets(0.001, 4, 5)).Observe(0.02);
    endpoint_ = std::make_unique<HttpEndpoint>(
        HttpEndpointOptions{"127.0.0.1", 0}, [this] { return registry_.RenderText(); },
        [this] { return ready_.load(); });
    endpoint_->Start();
    ASSERT_GT(endpoint_->port(), 0);
  }

  httplib::Client Client() {
    httplib::Client client("127.0.0.1", endpoint_->port());
    client.set_connection_timeout(2);
    client.set_read_timeout(5);
    return client;
  }

  MetricsRegistry registry_;
  Counter* hits_ = nullptr;
  std::atomic<bool> ready_{true};
  std::unique_ptr<HttpEndpoint> endpoint_;
};

TEST_F(HttpEndpointTest, ServesMetricsThatFollowTheRegistry) {
  auto client = Client();
  auto first = client.Get("/metrics");
  ASSERT_TRUE(first) << httplib::to_string(first.error());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(Value(ParseOrFail(first->body), "wordbridge_test_hits_total", {{"kind", "a\"b"}}), 0);

  hits_->Increment(5);
  auto second = client.Get("/metrics");
  ASSERT_TRUE(second);
  EXPECT_NE(second->body, first->body);
  const Exposition e = ParseOrFail(second->body);
  EXPECT_EQ(Value(e, "wordbridge_test_hits_total", {{"kind", "a\"b"}}), 5);
  EXPECT_EQ(Value(e, "wordbridge_test_seconds_count"), 1);
}

TEST_F(HttpEndpointTest, HealthzIsAlwaysOk) {
  ready_ = false;
  auto client = Client();
  auto response = client.Get("/healthz");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "ok");
}

TEST_F(HttpEndpointTest, ReadyzFollowsTheReadyCallback) {
  auto client = Client();
  auto ready = client.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ready");

  ready_ = false;
  auto draining = client.Get("/readyz");
  ASSERT_TRUE(draining);
  EXPECT_EQ(draining->status, 503);
  EXPECT_EQ(draining->body, "not serving");
}

TEST_F(HttpEndpointTest, UnknownPathsAre404) {
  auto client = Client();
  for (const char* path : {"/", "/metrics/extra", "/health", "/readyz2"}) {
    auto response = client.Get(path);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 404) << path;
  }
  auto post = client.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
}

TEST_F(HttpEndpointTest, ASecondEndpointOnTheSamePortFailsClearly) {
  HttpEndpoint second(HttpEndpointOptions{"127.0.0.1", endpoint_->port()}, [] { return std::string(); },
                      [] { return true; });
  try {
    second.Start();
    FAIL() << "bound a port that is in use";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(std::to_string(endpoint_->port())), std::string::npos) << e.what();
  }
}

TEST_F(HttpEndpointTest, StopClosesThePortAndIsIdempotent) {
  const int port = endpoint_->port();
  ASSERT_TRUE(Client().Get("/healthz"));
  endpoint_->Stop();
  endpoint_->Stop();
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  EXPECT_FALSE(client.Get("/healthz"));
}

TEST_F(HttpEndpointTest, StopDoesNotWaitLongForAnIdleKeepAliveScraper) {
  auto client = Client();
  client.set_keep_alive(true);  // as Prometheus scrapes
  ASSERT_TRUE(client.Get("/metrics"));
  const auto start = std::chrono::steady_clock::now();
  endpoint_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST(HttpEndpointLifecycleTest, StopsPromptlyRightAfterStartAndWithoutStart) {
  for (int i = 0; i < 20; ++i) {
    HttpEndpoint endpoint(HttpEndpointOptions{"127.0.0.1", 0}, [] { return std::string(); }, [] { return true; });
    endpoint.Start();
  }
  HttpEndpoint never_started(HttpEndpointOptions{"127.0.0.1", 0}, [] { return std::string(); }, [] { return true; });
}

}  // namespace
}  // namespace wordbridge
