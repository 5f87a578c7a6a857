// TranslationEngine: results per call and in order, batching across calls, admission control,
// cancellation, deadlines and shutdown. A worker is held busy with RunOnWorker where a test needs
// calls to queue up.
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "model/common/errors.h"
#include "model/serve/metrics.h"
#include "model/serve/translation_engine.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

const std::vector<std::string> kSentences = {"我 爱 自然 语言 处理", "今天 天气 很 好", "我 爱 学习",
                                             "自然 语言 处理 很 有趣", "我 今天 很 好", "学习 语言"};

std::vector<std::string> Texts(const std::vector<Translation>& translations) {
  std::vector<std::string> texts;
  for (const auto& t : translations) {
    std::string joined;
    for (const auto& h : t.hypotheses) joined += h.text + " | ";
    texts.push_back(joined);
  }
  return texts;
}

// Holds a worker until Release (or destruction).
class BusyWorker {
 public:
  explicit BusyWorker(TranslationEngine* engine) {
    std::promise<void> started;
    auto started_future = started.get_future();
    thread_ = std::thread([this, engine, &started] {
      engine->RunOnWorker([&] {
        started.set_value();
        std::unique_lock lock(mutex_);
        released_cv_.wait(lock, [&] { return released_; });
      });
    });
    started_future.wait();
  }
  ~BusyWorker() { Release(); }
  void Release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    released_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable released_cv_;
  bool released_ = false;
};

EngineOptions OneWorker() {
  EngineOptions options;
  options.workers = 1;
  options.batch_timeout_micros = 0;
  return options;
}

class EngineTest : public ::testing::TestWithParam<const char*> {
 protected:
  std::shared_ptr<const ModelBundle> Model() const {
    return std::string(GetParam()) == "seed" ? SeedToy() : AttentionToy();
  }
};

TEST_P(EngineTest, ConcurrentCallsGetTheirOwnResultsInOrder) {
  auto model = Model();
  MetricsRegistry metrics;
  EngineOptions options;
  options.workers = 2;
  options.max_batch_sentences = 4;
  TranslationEngine engine(options, nullptr, &metrics);
  // Each caller sends its own rotation of the sentences, greedy or beam 3.
  constexpr int kCallers = 8;
  std::vector<std::future<void>> callers;
  for (int c = 0; c < kCallers; ++c) {
    callers.push_back(std::async(std::launch::async, [&, c] {
      std::vector<std::string> mine;
      for (size_t i = 0; i < kSentences.size(); ++i) mine.push_back(kSentences[(i + c) % kSentences.size()]);
      mine.insert(mine.begin() + c % 3, "");  // an empty sentence keeps its place too
      TranslationOptions translation;
      translation.beam_size = c % 2 == 0 ? 1 : 3;
      translation.n_best = c % 2 == 0 ? 1 : 2;
      for (int round = 0; round < 3; ++round) {
        auto served = engine.Translate(model, mine, translation, nullptr);
        EXPECT_EQ(Texts(served), Texts(model->Translate(mine, translation, nullptr))) << "caller " << c;
      }
    }));
  }
  for (auto& caller : callers) caller.get();
  auto& sentences = metrics.GetCounter("wordbridge_translate_sentences_total", "");
  EXPECT_EQ(sentences.value(), kCallers * 3 * static_cast<double>(kSentences.size()));
}

TEST_P(EngineTest, QueuedCallsAreMergedIntoOneBatch) {
  auto model = Model();
  MetricsRegistry metrics;
  TranslationEngine engine(OneWorker(), nullptr, &metrics);
  std::vector<std::shared_ptr<TranslationCall>> calls;
  {
    BusyWorker busy(&engine);
    for (const auto& sentence : kSentences) calls.push_back(engine.Submit(model, {sentence}, TranslationOptions{}));
    EXPECT_EQ(engine.queued_sentences(), static_cast<int>(kSentences.size()));
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(Texts(calls[i]->future().get()), Texts(model->Translate({kSentences[i]}, {}, nullptr)));
  }
  auto batches = metrics.GetHistogram("wordbridge_translate_batch_sentences", "", ExponentialBuckets(1, 2, 9)).Read();
  EXPECT_EQ(batches.count, 1u) << "six one-sentence calls queued together decode as one batch";
  EXPECT_EQ(batches.sum, static_cast<double>(kSentences.size()));
}

TEST_P(EngineTest, CallsOfDifferentComputeTypesNeverShareABatch) {
  auto model = Model();
  MetricsRegistry metrics;
  EngineOptions options = OneWorker();
  options.compute_type = ComputeType::kInt8;  // for calls that name none
  TranslationEngine engine(options, nullptr, &metrics);
  const std::optional<ComputeType> types[] = {ComputeType::kFloat32, ComputeType::kInt8, std::nullopt};
  std::vector<std::shared_ptr<TranslationCall>> calls;
  {
    BusyWorker busy(&engine);
    for (size_t i = 0; i < kSentences.size(); ++i) {
      TranslationOptions translation;
      translation.compute_type = types[i % 3];
      calls.push_back(engine.Submit(model, {kSentences[i]}, translation));
    }
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    TranslationOptions alone;
    alone.compute_type = types[i % 3].value_or(ComputeType::kInt8);
    EXPECT_EQ(Texts(calls[i]->future().get()), Texts(model->Translate({kSentences[i]}, alone, nullptr)));
  }
  auto batches = metrics.GetHistogram("wordbridge_translate_batch_sentences", "", ExponentialBuckets(1, 2, 9)).Read();
  EXPECT_EQ(batches.count, 2u) << "one float32 batch, and one int8 batch with the calls that named no type";
  EXPECT_EQ(batches.sum, static_cast<double>(kSentences.size()));
}

TEST_P(EngineTest, CallsWithAndWithoutTheShortlistNeverShareABatch) {
  auto model = Model();
  ASSERT_NE(model->shortlist(), nullptr);
  MetricsRegistry metrics;
  TranslationEngine engine(OneWorker(), nullptr, &metrics);
  std::vector<std::shared_ptr<TranslationCall>> calls;
  {
    BusyWorker busy(&engine);
    for (size_t i = 0; i < kSentences.size(); ++i) {
      TranslationOptions translation;
      translation.use_shortlist = i % 2 == 0;
      calls.push_back(engine.Submit(model, {kSentences[i]}, translation));
    }
  }
  for (size_t i = 0; i < calls.size(); ++i) {
    TranslationOptions alone;
    alone.use_shortlist = i % 2 == 0;
    EXPECT_EQ(Texts(calls[i]->future().get()), Texts(model->Translate({kSentences[i]}, alone, nullptr)));
  }
  auto batches = metrics.GetHistogram("wordbridge_translate_batch_sentences", "", ExponentialBuckets(1, 2, 9)).Read();
  EXPECT_EQ(batches.count, 2u) << "one batch with the shortlist, one without";
  EXPECT_EQ(batches.sum, static_cast<double>(kSentences.size()));
}

TEST_P(EngineTest, ALargeCallIsSplitAndDoesNotStarveASmallOne) {
  auto model = Model();
  EngineOptions options = OneWorker();
  options.max_batch_sentences = 4;
  TranslationEngine engine(options);
  std::vector<std::string> large;
  for (int i = 0; i < 1000; ++i) large.push_back(kSentences[i % kSentences.size()]);
  std::shared_ptr<TranslationCall> big, small;
  std::vector<int> finish_order;
  {
    BusyWorker busy(&engine);
    big = engine.Submit(model, large, TranslationOptions{});
    small = engine.Submit(model, {kSentences[0]}, TranslationOptions{});
  }
  // The small call shares the first batch with the large one's first sentences.
  small->future().wait();
  EXPECT_NE(big->future().wait_for(std::chrono::seconds(0)), std::future_status::ready)
      << "the one-sentence call finished within the first of the large call's 250 batches";
  EXPECT_EQ(Texts(big->future().get()), Texts(model->Translate(large, {}, nullptr)));
}

TEST_P(EngineTest, AFullQueueRefusesAtOnce) {
  auto model = Model();
  EngineOptions options = OneWorker();
  options.queue_capacity = 3;
  TranslationEngine engine(options);
  BusyWorker busy(&engine);
  auto queued = engine.Submit(model, {kSentences[0], kSentences[1], kSentences[2]}, {});
  try {
    engine.Submit(model, {kSentences[3]}, {});
    FAIL() << "a fourth sentence fit a queue of three";
  } catch (const ResourceExhaustedError& e) {
    EXPECT_NE(std::string(e.what()).find("queue is full"), std::string::npos) << e.what();
  }
  busy.Release();
  EXPECT_EQ(queued->future().get().size(), 3u);
  EXPECT_NO_THROW(engine.Submit(model, {kSentences[3]}, {})->future().get()) << "room again once it drained";
}

TEST_P(EngineTest, AnEmptyQueueTakesACallLargerThanItsCapacity) {
  auto model = Model();
  EngineOptions options = OneWorker();
  options.queue_capacity = 2;
  TranslationEngine engine(options);
  std::vector<std::string> five(kSentences.begin(), kSentences.begin() + 5);
  EXPECT_EQ(Texts(engine.Translate(model, five, {}, nullptr)), Texts(model->Translate(five, {}, nullptr)));
}

TEST_P(EngineTest, ADeadlineShorterThanTheQueueWaitFailsWithoutDecoding) {
  auto model = Model();
  MetricsRegistry metrics;
  TranslationEngine engine(OneWorker(), nullptr, &metrics);
  BusyWorker busy(&engine);
  const auto deadline = std::chrono::system_clock::now() + std::chrono::milliseconds(50);
  EXPECT_THROW(engine.Translate(model, {kSentences[0]}, {}, nullptr, deadline), DeadlineExceededError);
  busy.Release();
  // The next call is served, and the expired one was never decoded.
  EXPECT_EQ(engine.Translate(model, {kSentences[1]}, {}, nullptr).size(), 1u);
  EXPECT_EQ(metrics.GetCounter("wordbridge_translate_sentences_total", "").value(), 1.0);
  EXPECT_EQ(engine.queued_sentences(), 0);
}

TEST_P(EngineTest, ACancelledCallLeavesTheQueueAndFreesItsWorker) {
  auto model = Model();
  MetricsRegistry metrics;
  TranslationEngine engine(OneWorker(), nullptr, &metrics);
  BusyWorker busy(&engine);
  auto cancelled = engine.Submit(model, {kSentences[0], kSentences[1]}, {});
  StopToken stop;
  auto waiting = std::async(std::launch::async, [&] { return engine.Translate(model, {kSentences[2]}, {}, &stop); });
  stop.RequestStop();
  EXPECT_THROW(waiting.get(), CancelledError);
  cancelled->Cancel();
  busy.Release();
  EXPECT_THROW(cancelled->future().get(), CancelledError);
  EXPECT_EQ(engine.Translate(model, {kSentences[3]}, {}, nullptr).size(), 1u) << "the worker is free again";
  EXPECT_EQ(metrics.GetCounter("wordbridge_translate_sentences_total", "").value(), 1.0);
}

TEST_P(EngineTest, ShutdownFinishesOrFailsQueuedCallsAndNothingHangs) {
  auto model = Model();
  TranslationEngine engine(OneWorker());
  std::vector<std::shared_ptr<TranslationCall>> calls;
  auto busy = std::make_unique<BusyWorker>(&engine);
  for (int i = 0; i < 5; ++i) calls.push_back(engine.Submit(model, {kSentences[i]}, {}));
  // Shut down with no grace while the worker is still busy: the queued calls fail as UNAVAILABLE.
  auto shutdown = std::async(std::launch::async, [&] { engine.Shutdown(std::chrono::milliseconds(0)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  busy.reset();
  shutdown.get();
  for (auto& call : calls) {
    auto status = call->future().wait_for(std::chrono::seconds(10));
    ASSERT_EQ(status, std::future_status::ready);
    try {
      call->future().get();
    } catch (const UnavailableError&) {
    }
  }
  EXPECT_THROW(engine.Submit(model, {kSentences[0]}, {}), UnavailableError);
}

TEST_P(EngineTest, ShutdownWithGraceDrainsTheQueue) {
  auto model = Model();
  TranslationEngine engine(OneWorker());
  std::vector<std::shared_ptr<TranslationCall>> calls;
  {
    BusyWorker busy(&engine);
    for (int i = 0; i < 5; ++i) calls.push_back(engine.Submit(model, {kSentences[i]}, {}));
  }
  engine.Shutdown(std::chrono::seconds(30));
  for (size_t i = 0; i < calls.size(); ++i) {
    EXPECT_EQ(Texts(calls[i]->future().get()), Texts(model->Translate({kSentences[i]}, {}, nullptr)));
  }
}

TEST_P(EngineTest, BadInputFailsAtSubmit) {
  auto model = Model();
  TranslationEngine engine(OneWorker());
  TranslationOptions options;
  options.max_source_tokens = 2;
  EXPECT_THROW(engine.Submit(model, {"我 爱 自然 语言"}, options), InvalidArgumentError);
  options = {};
  options.beam_size = 0;
  EXPECT_THROW(engine.Submit(model, {"我"}, options), InvalidArgumentError);
  EXPECT_EQ(engine.queued_sentences(), 0);
}

INSTANTIATE_TEST_SUITE_P(Architectures, EngineTest, ::testing::Values("seed", "attention"));

TEST(EngineOptionsTest, RejectsNonsense) {
  EngineOptions options;
  options.workers = 0;
  EXPECT_THROW(options.Validate(), InvalidArgumentError);
  options = {};
  options.batch_timeout_micros = -1;
  EXPECT_THROW(options.Validate(), InvalidArgumentError);
  options = {};
  options.queue_capacity = 0;
  EXPECT_THROW(options.Validate(), InvalidArgumentError);
}

TEST(ComputeSlotsTest, TryAcquireKeepsTheReserve) {
  ComputeSlots slots(2);
  EXPECT_TRUE(slots.TryAcquire(1, /*keep_free=*/1));
  EXPECT_FALSE(slots.TryAcquire(1, /*keep_free=*/1)) << "the last slot stays for translation";
  slots.Acquire(1);
  EXPECT_EQ(slots.in_use(), 2);
  slots.Release(2);
  EXPECT_EQ(slots.in_use(), 0);
}

}  // namespace
}  // namespace wordbridge
