// Training checkpoints (model/train/training_checkpoint.h): a run stopped between two batches and
// resumed from its checkpoint ends with exactly the model of a run that was never stopped.
#include "model/train/training_checkpoint.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;

class TrainingCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = (fs::temp_directory_path() / ("wb_checkpoint_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name()))
               .string();
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<SentencePair> Pairs() {
    CorpusReport report;
    return CleanPairs(SeedToyPairs(), CorpusLimits{}, &report);
  }
  // Trains to the end; `stop` (may be null) can stop it, which throws CancelledError.
  static TrainingResult Train(const ModelConfig& config, TrainingOptions options, const StopToken* stop = nullptr,
                              const std::vector<SentencePair>& dev = {}) {
    return TrainModel(config, Pairs(), dev, options, CorpusReport{}, nullptr, stop);
  }
  static void ExpectSameWeights(const ModelParts& a, const ModelParts& b) {
    const auto pa = a.network->named_parameters(), pb = b.network->named_parameters();
    ASSERT_EQ(pa.size(), pb.size());
    for (const auto& item : pa) {
      EXPECT_TRUE(torch::equal(item.value(), pb[item.key()])) << item.key();
    }
  }

  std::string dir_;
};

// A stop token that reports a stop from its `calls`-th question on (the trainer asks before every
// batch, and a few times while preparing), so a run stops at the same batch every time.
struct StopAfter {
  explicit StopAfter(int calls) {
    token.SetExternalCheck([this, calls] { return ++asked >= calls; });
  }
  StopToken token;
  int asked = 0;
};

TEST_F(TrainingCheckpointTest, TheSeedResumedAtAnEpochBoundaryEndsAsAnUninterruptedRun) {
  const auto config = ModelConfig::ForArchitecture("seed");
  TrainingOptions options;  // the seed's own settings: 2 sentences a batch, shuffled
  options.epochs = 4;
  const auto straight = Train(config, options);

  options.checkpoint_dir = dir_;
  StopToken stop;
  bool stopped = false;
  try {
    TrainModel(config, Pairs(), {}, options, CorpusReport{}, [&](const EpochProgress& p) {
      if (p.epoch == 2) stop.RequestStop();
    }, &stop);
  } catch (const CancelledError&) {
    stopped = true;
  }
  ASSERT_TRUE(stopped);
  const auto saved = LoadTrainingCheckpoint(dir_);
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(saved->state.epoch, 3);
  EXPECT_EQ(saved->state.epochs_done, 2);

  options.resume = true;
  const auto resumed = Train(config, options);
  ExpectSameWeights(straight.parts, resumed.parts);
  EXPECT_EQ(resumed.parts.metrics.at("steps"), straight.parts.metrics.at("steps"));
  EXPECT_EQ(resumed.parts.metrics.at("epochs"), 4);
  EXPECT_DOUBLE_EQ(resumed.parts.metrics.at("train_loss"), straight.parts.metrics.at("train_loss"));
}

TEST_F(TrainingCheckpointTest, AnAttentionRunStoppedMidEpochResumesExactlyWithDropoutAndDevSelection) {
  // Dropout draws from the generator at every step, the dev set picks the best epoch and decays the
  // learning rate: all of it must continue exactly.
  const auto config = SmallAttentionConfig(0.3);
  TrainingOptions options = SmallAttentionSchedule(6);
  options.batch_size = 2;
  options.mixed_precision = false;
  options.lr_decay = 0.5;
  const auto dev = Pairs();
  const auto straight = Train(config, options, nullptr, dev);

  options.checkpoint_dir = dir_;
  options.checkpoint_minutes = 1e-9;  // a checkpoint after every batch
  StopAfter stop(14);
  EXPECT_THROW(Train(config, options, &stop.token, dev), CancelledError);
  const auto saved = LoadTrainingCheckpoint(dir_);
  ASSERT_TRUE(saved.has_value());
  EXPECT_GT(saved->state.next_batch, 0) << "the stop must fall inside an epoch for this test";
  EXPECT_GT(saved->state.epochs_done, 0);
  // Only the newest checkpoint is kept.
  int checkpoints = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) checkpoints += entry.is_directory();
  EXPECT_EQ(checkpoints, 1);

  options.resume = true;
  const auto resumed = Train(config, options, nullptr, dev);
  ExpectSameWeights(straight.parts, resumed.parts);
  EXPECT_EQ(resumed.parts.metrics.at("steps"), straight.parts.metrics.at("steps"));
  EXPECT_DOUBLE_EQ(resumed.parts.metrics.at("dev_bleu"), straight.parts.metrics.at("dev_bleu"));
}

TEST_F(TrainingCheckpointTest, AnotherConfigOrADamagedCheckpointIsRefusedAndANewRunClearsThem) {
  const auto config = ModelConfig::ForArchitecture("seed");
  TrainingOptions options;
  options.epochs = 1;
  options.checkpoint_dir = dir_;
  Train(config, options);
  ASSERT_TRUE(LoadTrainingCheckpoint(dir_).has_value());  // the last epoch's

  auto other = config;
  other.hidden_dim = 64;
  options.resume = true;
  EXPECT_THROW(Train(other, options), FailedPreconditionError);

  // A damaged checkpoint is refused, not half-used.
  std::string latest = ReadFile(dir_ + "/LATEST");
  latest.pop_back();  // the newline
  const fs::path weights = fs::path(dir_) / latest / "weights.pt";
  const auto size = fs::file_size(weights);
  fs::resize_file(weights, size / 2);
  EXPECT_THROW(LoadTrainingCheckpoint(dir_), FailedPreconditionError);
  EXPECT_THROW(Train(config, options), FailedPreconditionError);

  // A run that does not resume removes them before it starts.
  options.resume = false;
  StopAfter stop(1);  // stops while preparing, before any checkpoint of its own
  EXPECT_THROW(Train(config, options, &stop.token), CancelledError);
  EXPECT_FALSE(LoadTrainingCheckpoint(dir_).has_value());
  EXPECT_FALSE(fs::exists(fs::path(dir_) / latest));
}

}  // namespace
}  // namespace wordbridge
