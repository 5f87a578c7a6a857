// The training job manager without gRPC: records on disk, restarts, ids, pruning.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <thread>

#include "model/common/file_util.h"
#include "model/jobs/training_jobs.h"
#include "model/train/seed_corpus.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;

class JobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("wb_jobs_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    store_ = std::make_unique<ModelStore>((root_ / "models").string());
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(root_);
  }

  static JobSpec ToySpec(const std::string& model, int epochs) {
    JobSpec spec;
    spec.model = model;
    spec.config = ModelConfig::ForArchitecture("seed");
    spec.options = TrainingOptions::ForArchitecture("seed");
    spec.options.epochs = epochs;
    spec.read_corpus = [](CorpusReport* report) { return CleanPairs(SeedToyPairs(), CorpusLimits{}, report); };
    return spec;
  }

  // Waits until job `id`'s record on disk says RUNNING; returns its text.
  std::string WaitForRunningRecord(const std::string& model, const std::string& id) {
    const std::string path = JobRecordStore(store_->root()).PathOf(model, id);
    for (int i = 0; i < 200; ++i) {
      if (fs::exists(path)) {
        std::string text = ReadFile(path);
        if (JobRecordStore::FromJson(text).state == JobState::kRunning) return text;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    ADD_FAILURE() << "the record of " << id << " never said RUNNING";
    return "";
  }

  fs::path root_;
  std::unique_ptr<ModelStore> store_;
};

TEST(JobRecordTest, IdsAreUniqueSortableAndSafeFileNames) {
  std::set<std::string> ids;
  for (int i = 0; i < 1000; ++i) ids.insert(NewJobId());
  EXPECT_EQ(ids.size(), 1000u);
  for (const auto& id : ids) EXPECT_TRUE(IsValidJobId(id)) << id;
  const auto t = std::chrono::system_clock::from_time_t(1795944038);  // 2026-11-29 09:20:38 UTC
  const std::string id = NewJobId(t);
  EXPECT_EQ(id.rfind("job-20261129T092038Z-", 0), 0u) << id;
  EXPECT_EQ(id.size(), std::string("job-20261129T092038Z-").size() + 12);
  EXPECT_LT(NewJobId(t), NewJobId(t + std::chrono::seconds(1)));
  for (const char* bad : {"", "../x", "a/b", "a.json", "job id"}) EXPECT_FALSE(IsValidJobId(bad)) << bad;
}

TEST(JobRecordTest, JsonRoundTrip) {
  JobRecord r;
  r.id = NewJobId();
  r.model = "m";
  r.state = JobState::kFailed;
  r.epoch = 3;
  r.total_epochs = 7;
  r.loss = 1.25;
  r.best_dev_bleu = 12.5;
  r.training_pairs = 42;
  r.start_time = std::chrono::system_clock::now();
  r.end_time = r.start_time + std::chrono::seconds(90);
  r.version = "";
  r.error = {ErrorCode::kInvalidArgument, "bad corpus"};
  r.message = "corpus: ...";
  r.owner = StagingOwner::Current();
  r.manager = "123";
  const JobRecord back = JobRecordStore::FromJson(JobRecordStore::ToJson(r));
  EXPECT_EQ(back.id, r.id);
  EXPECT_EQ(back.state, JobState::kFailed);
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.total_epochs, 7);
  EXPECT_DOUBLE_EQ(back.best_dev_bleu, 12.5);
  EXPECT_EQ(back.training_pairs, 42);
  EXPECT_NEAR(back.ElapsedSeconds(), 90, 1e-3);
  EXPECT_EQ(back.error.code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(back.error.message, "bad corpus");
  EXPECT_EQ(back.owner.pid, r.owner.pid);
  EXPECT_EQ(back.owner.start_time, r.owner.start_time);
  EXPECT_EQ(back.manager, "123");
  EXPECT_THROW(JobRecordStore::FromJson("{}"), InvalidArgumentError);
  EXPECT_THROW(JobRecordStore::FromJson("not json"), InvalidArgumentError);
}

TEST_F(JobsTest, AManagerWithoutJobSlotsRefusesToTrainAndWritesNoRecord) {
  TrainingJobs jobs(store_.get(), 0);
  try {
    jobs.Start(ToySpec("toy", 1));
    FAIL() << "a server with --max-training-jobs 0 started a job";
  } catch (const FailedPreconditionError& e) {
    EXPECT_NE(std::string(e.what()).find("does not train"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(jobs.List("").empty());
}

TEST_F(JobsTest, AnInterruptedJobResumesUnderItsIdFromItsCheckpointAndFinishes) {
  // A spec as the service makes it: a stored request to rebuild it from, and a checkpoint folder.
  const auto spec_for = [&](int epochs) {
    JobSpec spec = ToySpec("toy", epochs);
    spec.options.checkpoint_dir = store_->root() + "/.checkpoints/toy";
    spec.request = "the request, as the service would store it";
    return spec;
  };
  std::string id;
  {
    TrainingJobs jobs(store_.get(), 1);
    auto job = jobs.Start(spec_for(100000));
    id = job->id();
    // Wait for a finished epoch (so there is a checkpoint), then stop the server's job manager.
    JobProgress progress;
    for (size_t i = 0;; ++i) {
      ASSERT_EQ(job->WaitForProgress(i, &progress, std::chrono::minutes(1)), TrainingJob::Next::kMessage);
      if (progress.stage == JobProgress::Stage::kEpoch && progress.epoch >= 2) break;
    }
  }
  TrainingJobs jobs(store_.get(), 1);
  ASSERT_EQ(jobs.Get(id).state, JobState::kInterrupted);
  const int epochs_before = jobs.Get(id).epoch;
  EXPECT_GE(epochs_before, 2);
  const auto resumable = jobs.Resumable();
  ASSERT_EQ(resumable.size(), 1u);
  EXPECT_EQ(resumable[0].id, id);
  EXPECT_EQ(jobs.StoredRequest(id), "the request, as the service would store it");
  EXPECT_THROW(jobs.Resume("job-20260101T000000Z-000000000000", spec_for(5)), NotFoundError);

  // Resumed with a finite number of epochs (as if that had been the request): it continues from its
  // checkpoint, not from epoch 1, under the same id, and publishes.
  const int total = epochs_before + 2;
  auto resumed = jobs.Resume(id, spec_for(total));
  EXPECT_EQ(resumed->id(), id);
  ASSERT_TRUE(resumed->WaitUntilFinished(std::chrono::minutes(2)));
  const JobRecord done = jobs.Get(id);
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.error.message;
  EXPECT_EQ(done.epoch, total);
  EXPECT_EQ(done.version, "1");
  JobProgress first;
  ASSERT_EQ(resumed->WaitForProgress(0, &first, std::chrono::milliseconds(0)), TrainingJob::Next::kMessage);
  EXPECT_NE(first.message.find("resumed"), std::string::npos) << first.message;
  JobProgress progress;
  for (size_t i = 0; resumed->WaitForProgress(i, &progress, std::chrono::milliseconds(0)) == TrainingJob::Next::kMessage;
       ++i) {
    if (progress.stage == JobProgress::Stage::kEpoch) {
      EXPECT_GT(progress.epoch, epochs_before) << "a resumed job trained an epoch again";
    }
  }
  // Done for good: no checkpoint and no stored request are left, and it does not resume again.
  EXPECT_FALSE(fs::exists(store_->root() + "/.checkpoints/toy/LATEST"));
  EXPECT_THROW(jobs.StoredRequest(id), NotFoundError);
  EXPECT_TRUE(jobs.Resumable().empty());
  EXPECT_THROW(jobs.Resume(id, spec_for(total)), NotFoundError);
}

TEST_F(JobsTest, TwoManagersCannotResumeTheSameJob) {
  std::string id;
  {
    TrainingJobs jobs(store_.get(), 1);
    JobSpec spec = ToySpec("toy", 100000);
    spec.options.checkpoint_dir = store_->root() + "/.checkpoints/toy";
    spec.request = "r";
    id = jobs.Start(std::move(spec))->id();
    WaitForRunningRecord("toy", id);
  }
  TrainingJobs first(store_.get(), 1), second(store_.get(), 1);
  auto spec = [&] {
    JobSpec s = ToySpec("toy", 100000);
    s.options.checkpoint_dir = store_->root() + "/.checkpoints/toy";
    s.request = "r";
    return s;
  };
  auto job = first.Resume(id, spec());
  // The running job holds the claim on its request: the other manager (another server process on
  // the same store, as far as the claim is concerned) is refused.
  EXPECT_THROW(second.Resume(id, spec()), FailedPreconditionError);
  EXPECT_EQ(first.Cancel(id).state, JobState::kCancelled);
  // Cancelled: it is over, and cannot resume.
  EXPECT_THROW(second.Resume(id, spec()), NotFoundError);
}

TEST_F(JobsTest, RecordsSurviveARestartAndARunningJobBecomesInterrupted) {
  std::string finished_id, running_id, running_text;
  {
    TrainingJobs jobs(store_.get(), 1);
    auto finished = jobs.Start(ToySpec("toy", 2));
    finished_id = finished->id();
    ASSERT_TRUE(finished->WaitUntilFinished(std::chrono::minutes(2)));
    EXPECT_EQ(finished->record().state, JobState::kSucceeded);
    auto running = jobs.Start(ToySpec("toy", 100000));
    running_id = running->id();
    running_text = WaitForRunningRecord("toy", running_id);
    // A stop of the server interrupts the job: that is on disk when the manager is gone.
  }
  {
    TrainingJobs jobs(store_.get(), 1);
    EXPECT_EQ(jobs.Get(running_id).state, JobState::kInterrupted);
    EXPECT_EQ(jobs.Get(running_id).FinalStatus().code, ErrorCode::kAborted);
  }
  // A crash leaves the record as it was while the job ran.
  WriteFileAtomically(JobRecordStore(store_->root()).PathOf("toy", running_id), running_text);
  TrainingJobs jobs(store_.get(), 1);
  const JobRecord interrupted = jobs.Get(running_id);
  EXPECT_EQ(interrupted.state, JobState::kInterrupted);
  EXPECT_GT(interrupted.end_time.time_since_epoch().count(), 0);
  // ...and the new manager wrote that down for every other reader.
  EXPECT_EQ(JobRecordStore(store_->root()).Find(running_id)->state, JobState::kInterrupted);
  const JobRecord succeeded = jobs.Get(finished_id);
  EXPECT_EQ(succeeded.state, JobState::kSucceeded);
  EXPECT_EQ(succeeded.version, "1");
  EXPECT_EQ(succeeded.epoch, 2);
  // The new manager never ran it: the record stands for the history.
  EXPECT_EQ(jobs.Find(finished_id), nullptr);
  const auto done = DoneProgressOf(succeeded);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->stage, JobProgress::Stage::kDone);
  EXPECT_EQ(done->version, "1");
  EXPECT_FALSE(DoneProgressOf(interrupted).has_value());
  const auto list = jobs.List("toy");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, running_id);  // newest first
  EXPECT_EQ(list[1].id, finished_id);
  // Finished or interrupted, none of them can be cancelled; unknown ids are not found.
  EXPECT_THROW(jobs.Cancel(running_id), FailedPreconditionError);
  EXPECT_THROW(jobs.Cancel(finished_id), FailedPreconditionError);
  EXPECT_THROW(jobs.Get("job-nope"), NotFoundError);
  EXPECT_THROW(jobs.Cancel("job-nope"), NotFoundError);
}

TEST_F(JobsTest, CancelStopsTheJobAndPublishesNothing) {
  TrainingJobs jobs(store_.get(), 1);
  auto job = jobs.Start(ToySpec("cancelled", 100000));
  WaitForRunningRecord("cancelled", job->id());
  const JobRecord record = jobs.Cancel(job->id());
  EXPECT_EQ(record.state, JobState::kCancelled);
  EXPECT_EQ(record.FinalStatus().code, ErrorCode::kCancelled);
  EXPECT_FALSE(store_->Has("cancelled"));
  EXPECT_EQ(jobs.Cancel(job->id()).state, JobState::kCancelled);  // idempotent
  // The history ends without DONE.
  JobProgress progress;
  size_t n = 0;
  while (job->WaitForProgress(n, &progress, std::chrono::milliseconds(0)) == TrainingJob::Next::kMessage) ++n;
  EXPECT_NE(progress.stage, JobProgress::Stage::kDone);
  EXPECT_EQ(job->WaitForProgress(n, &progress, std::chrono::milliseconds(0)), TrainingJob::Next::kEnd);
}

TEST_F(JobsTest, OnlyTheNewestFinishedRecordsAreKept) {
  TrainingJobs jobs(store_.get(), 1, nullptr, 1, nullptr, 1, /*keep_finished=*/2);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    auto job = jobs.Start(ToySpec("pruned", 1));
    ids.push_back(job->id());
    ASSERT_TRUE(job->WaitUntilFinished(std::chrono::minutes(1)));
  }
  const auto list = jobs.List("pruned");
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, ids[3]);
  EXPECT_EQ(list[1].id, ids[2]);
  EXPECT_FALSE(fs::exists(JobRecordStore(store_->root()).PathOf("pruned", ids[0])));
  EXPECT_THROW(jobs.Get(ids[0]), NotFoundError);
}

}  // namespace
}  // namespace wordbridge
