// A training job's record: what ListJobs and GetJob show, kept on disk next to the model it trains
// (<models>/<model>/.jobs/<job id>.json, written crash-safely), so it outlives the process that ran it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/common/errors.h"
#include "model/store/staging.h"

namespace wordbridge {

enum class JobState {
  kQueued,       // accepted; its thread has not started yet
  kRunning,      // reading the corpus, training or publishing
  kSucceeded,    // published `version`
  kFailed,       // ended with `error`
  kCancelled,    // stopped by CancelJob; nothing was published
  kInterrupted,  // its server stopped (shut down or died) while it ran; nothing was published
};

// "QUEUED", "RUNNING", ...; JobStateFromName returns nullopt for any other text.
std::string JobStateName(JobState state);
std::optional<JobState> JobStateFromName(const std::string& name);
inline bool IsFinished(JobState state) { return state != JobState::kQueued && state != JobState::kRunning; }

struct JobRecord {
  std::string id;
  std::string model;
  JobState state = JobState::kQueued;
  int epoch = 0;  // epochs finished
  int total_epochs = 0;
  double loss = 0;               // of the last finished epoch
  double best_dev_bleu = -1;     // -1: no dev set (or no epoch yet)
  int64_t training_pairs = 0;
  std::chrono::system_clock::time_point start_time{};
  std::chrono::system_clock::time_point end_time{};  // epoch 0 while the job runs
  std::chrono::system_clock::time_point updated{};   // when the record was last written
  std::string version;           // the published version (kSucceeded)
  ErrorStatus error;             // kFailed: why (kCancelled / kInterrupted: what stopped it)
  std::string message;           // the last progress message
  // The process running the job, and which of its job managers: tells a live job from one whose
  // process died (model/store/staging.h has the rules).
  StagingOwner owner;
  std::string manager;

  // How the job ended, as a status: kOk for kSucceeded (and while it runs), `error` for kFailed,
  // kCancelled and kAborted (kInterrupted) with a message naming the job.
  ErrorStatus FinalStatus() const;
  // Seconds from start to end (to now while the job runs).
  double ElapsedSeconds(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
};

// Seconds since the Unix epoch; 0 for the zero time point ("not yet").
double UnixSeconds(std::chrono::system_clock::time_point t);

// A new job id: "job-" + UTC start time to the second + 48 random bits in hex, e.g.
// "job-20261129T092038Z-5f0c9a1b2d3e". Sorts by start time, and is unique across restarts and across
// processes sharing a store without any coordination between them.
std::string NewJobId(std::chrono::system_clock::time_point now = std::chrono::system_clock::now());
// Ids are [A-Za-z0-9_-]{1,64}: safe as a file name. Anything else names no job.
bool IsValidJobId(const std::string& id);

// The records of one store root.
class JobRecordStore {
 public:
  explicit JobRecordStore(std::string models_root) : root_(std::move(models_root)) {}

  // <root>/<model>/.jobs/<id>.json
  std::string PathOf(const std::string& model, const std::string& id) const;
  // <root>/<model>/.jobs/<id>.request: what the job was started with (opaque bytes: the service's
  // request), kept while the job may still resume.
  std::string RequestPathOf(const std::string& model, const std::string& id) const;
  // Writes the record crash-safely (temp file, fsync, rename), making its folder when missing.
  void Write(JobRecord record) const;
  // The record of job `id` of any model; nullopt when there is none (or it cannot be parsed).
  std::optional<JobRecord> Find(const std::string& id) const;
  // Every readable record of `model` ("" = every model), unordered. Unreadable files are skipped.
  std::vector<JobRecord> List(const std::string& model = "") const;
  // Removes the finished records of `model` beyond the `keep` most recent (by start time, then id).
  void Prune(const std::string& model, size_t keep) const;

  static std::string ToJson(const JobRecord& record);
  // Throws InvalidArgumentError for text that is not a record.
  static JobRecord FromJson(const std::string& text);

 private:
  std::vector<JobRecord> ReadFolder(const std::string& model) const;

  std::string root_;
};

}  // namespace wordbridge
