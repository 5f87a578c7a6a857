#include "model/jobs/job_record.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "model/common/file_util.h"
#include "model/store/model_store.h"

namespace wordbridge {
namespace fs = std::filesystem;

namespace {

constexpr int kRecordFormat = 1;
constexpr char kJobsFolder[] = ".jobs";
constexpr char kSuffix[] = ".json";

constexpr std::array<std::pair<JobState, const char*>, 6> kStateNames = {{
    {JobState::kQueued, "QUEUED"},
    {JobState::kRunning, "RUNNING"},
    {JobState::kSucceeded, "SUCCEEDED"},
    {JobState::kFailed, "FAILED"},
    {JobState::kCancelled, "CANCELLED"},
    {JobState::kInterrupted, "INTERRUPTED"},
}};

using Clock = std::chrono::system_clock;

Clock::time_point FromSeconds(double seconds) {
  if (!(seconds > 0)) return {};
  return Clock::time_point(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)));
}

}  // namespace

std::string JobStateName(JobState state) {
  for (const auto& [value, name] : kStateNames) {
    if (value == state) return name;
  }
  return "UNKNOWN";
}

std::optional<JobState> JobStateFromName(const std::string& name) {
  for (const auto& [value, known] : kStateNames) {
    if (name == known) return value;
  }
  return std::nullopt;
}

double UnixSeconds(Clock::time_point t) {
  return t == Clock::time_point{} ? 0.0 : std::chrono::duration<double>(t.time_since_epoch()).count();
}

double JobRecord::ElapsedSeconds(Clock::time_point now) const {
  if (start_time == Clock::time_point{}) return 0;
  const auto end = end_time == Clock::time_point{} ? now : end_time;
  return std::max(0.0, std::chrono::duration<double>(end - start_time).count());
}

ErrorStatus JobRecord::FinalStatus() const {
  switch (state) {
    case JobState::kFailed:
      return error;
    case JobState::kCancelled:
      return {ErrorCode::kCancelled, "job " + id + " was cancelled"};
    case JobState::kInterrupted:
      return {ErrorCode::kAborted, "job " + id + " was interrupted: its server stopped before it finished" +
                                       (error.message.empty() ? "" : " (" + error.message + ")")};
    default:
      return {};
  }
}

std::string NewJobId(Clock::time_point now) {
  const std::time_t seconds = Clock::to_time_t(now);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
  // random_device reads the kernel's generator (getrandom): no seed shared between processes.
  std::random_device random;
  const uint64_t bits = (static_cast<uint64_t>(random()) << 32 | random()) & 0xffffffffffffULL;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%012llx", static_cast<unsigned long long>(bits));
  return std::string("job-") + stamp + "-" + suffix;
}

bool IsValidJobId(const std::string& id) {
  return !id.empty() && id.size() <= 64 && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

std::string JobRecordStore::PathOf(const std::string& model, const std::string& id) const {
  return (fs::path(root_) / model / kJobsFolder / (id + kSuffix)).string();
}

std::string JobRecordStore::RequestPathOf(const std::string& model, const std::string& id) const {
  return (fs::path(root_) / model / kJobsFolder / (id + ".request")).string();
}

std::string JobRecordStore::ToJson(const JobRecord& r) {
  const nlohmann::json owner = {{"host", r.owner.host},
                                {"boot_id", r.owner.boot_id},
                                {"pid_namespace", r.owner.pid_namespace},
                                {"pid", r.owner.pid},
                                {"start_time", r.owner.start_time},
                                {"manager", r.manager}};
  const nlohmann::json json = {{"format", kRecordFormat},
                               {"id", r.id},
                               {"model", r.model},
                               {"state", JobStateName(r.state)},
                               {"epoch", r.epoch},
                               {"total_epochs", r.total_epochs},
                               {"loss", r.loss},
                               {"best_dev_bleu", r.best_dev_bleu},
                               {"training_pairs", r.training_pairs},
                               {"start_time", UnixSeconds(r.start_time)},
                               {"end_time", UnixSeconds(r.end_time)},
                               {"updated", UnixSeconds(r.updated)},
                               {"version", r.version},
                               {"error_code", ErrorCodeName(r.error.code)},
                               {"error_message", r.error.message},
                               {"message", r.message},
                               {"owner", owner}};
  return json.dump(2) + "\n";
}

JobRecord JobRecordStore::FromJson(const std::string& text) {
  try {
    const auto json = nlohmann::json::parse(text);
    if (json.at("format").get<int>() != kRecordFormat) throw InvalidArgumentError("unknown job record format");
    JobRecord r;
    r.id = json.at("id").get<std::string>();
    r.model = json.at("model").get<std::string>();
    const auto state = JobStateFromName(json.at("state").get<std::string>());
    if (!state) throw InvalidArgumentError("unknown job state " + json.at("state").dump());
    r.state = *state;
    r.epoch = json.value("epoch", 0);
    r.total_epochs = json.value("total_epochs", 0);
    r.loss = json.value("loss", 0.0);
    r.best_dev_bleu = json.value("best_dev_bleu", -1.0);
    r.training_pairs = json.value("training_pairs", int64_t{0});
    r.start_time = FromSeconds(json.value("start_time", 0.0));
    r.end_time = FromSeconds(json.value("end_time", 0.0));
    r.updated = FromSeconds(json.value("updated", 0.0));
    r.version = json.value("version", "");
    r.error.code = ErrorCodeFromName(json.value("error_code", "OK"));
    r.error.message = json.value("error_message", "");
    r.message = json.value("message", "");
    if (json.contains("owner")) {
      const auto& o = json.at("owner");
      r.owner.host = o.value("host", "");
      r.owner.boot_id = o.value("boot_id", "");
      r.owner.pid_namespace = o.value("pid_namespace", uint64_t{0});
      r.owner.pid = o.value("pid", int64_t{0});
      r.owner.start_time = o.value("start_time", uint64_t{0});
      r.manager = o.value("manager", "");
    }
    if (!IsValidJobId(r.id)) throw InvalidArgumentError("bad job id in record");
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw InvalidArgumentError(std::string("malformed job record: ") + e.what());
  }
}

void JobRecordStore::Write(JobRecord record) const {
  record.updated = Clock::now();
  const fs::path path = PathOf(record.model, record.id);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) ThrowFileError("cannot make " + path.parent_path().string(), ec.value());
  WriteFileAtomically(path.string(), ToJson(record));
  SyncDirectory(path.parent_path().string());
}

std::vector<JobRecord> JobRecordStore::ReadFolder(const std::string& model) const {
  std::vector<JobRecord> records;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(root_) / model / kJobsFolder, ec)) {
    if (entry.path().extension() != kSuffix || !IsValidJobId(entry.path().stem().string())) continue;
    try {
      records.push_back(FromJson(ReadFile(entry.path().string())));
    } catch (const Error& e) {
      // A record another version wrote, or a file someone edited: the job list goes on without it.
      std::cerr << "skipping job record " << entry.path().string() << ": " << e.what() << std::endl;
    }
  }
  return records;
}

std::vector<JobRecord> JobRecordStore::List(const std::string& model) const {
  if (!model.empty()) return ReadFolder(model);
  std::vector<JobRecord> records;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    try {
      ModelStore::ValidateName(name);
    } catch (const Error&) {
      continue;  // not a model folder (.checkpoints and the like)
    }
    auto some = ReadFolder(name);
    records.insert(records.end(), std::make_move_iterator(some.begin()), std::make_move_iterator(some.end()));
  }
  return records;
}

std::optional<JobRecord> JobRecordStore::Find(const std::string& id) const {
  if (!IsValidJobId(id)) return std::nullopt;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const fs::path path = entry.path() / kJobsFolder / (id + kSuffix);
    if (!fs::is_regular_file(path, ec)) continue;
    try {
      return FromJson(ReadFile(path.string()));
    } catch (const Error& e) {
      std::cerr << "unreadable job record " << path.string() << ": " << e.what() << std::endl;
    }
  }
  return std::nullopt;
}

void JobRecordStore::Prune(const std::string& model, size_t keep) const {
  auto records = ReadFolder(model);
  records.erase(std::remove_if(records.begin(), records.end(), [](const JobRecord& r) { return !IsFinished(r.state); }),
                records.end());
  if (records.size() <= keep) return;
  std::sort(records.begin(), records.end(), [](const JobRecord& a, const JobRecord& b) {
    return a.start_time != b.start_time ? a.start_time > b.start_time : a.id > b.id;
  });
  for (size_t i = keep; i < records.size(); ++i) {
    std::error_code ec;
    fs::remove(PathOf(model, records[i].id), ec);
    fs::remove(RequestPathOf(model, records[i].id), ec);
  }
}

}  // namespace wordbridge
