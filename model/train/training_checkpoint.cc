#include "model/train/training_checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <sstream>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/store/staging.h"

namespace wordbridge {
namespace fs = std::filesystem;

namespace {

constexpr char kLatest[] = "LATEST";
constexpr char kPrefix[] = "checkpoint-";

std::string Serialized(torch::serialize::OutputArchive& archive) {
  std::ostringstream out;
  archive.save_to(out);
  return out.str();
}

// The number of a "checkpoint-<n>" folder name; -1 for other names.
int64_t CheckpointNumber(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return -1;
  const std::string digits = name.substr(sizeof(kPrefix) - 1);
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
  return std::stoll(digits);
}

nlohmann::json StateJson(const TrainingState& s) {
  return {{"epoch", s.epoch},
          {"next_batch", s.next_batch},
          {"epoch_loss_sum", s.epoch_loss_sum},
          {"epoch_batches", s.epoch_batches},
          {"epoch_tokens", s.epoch_tokens},
          {"epoch_seconds", s.epoch_seconds},
          {"epochs_done", s.epochs_done},
          {"steps", s.steps},
          {"total_tokens", s.total_tokens},
          {"last_loss", s.last_loss},
          {"best_bleu", s.best_bleu},
          {"epochs_without_gain", s.epochs_without_gain},
          {"learning_rate", s.learning_rate},
          {"elapsed_seconds", s.elapsed_seconds},
          {"loop_seconds", s.loop_seconds},
          {"best_tensors", s.best.size()}};
}

TrainingState StateFromJson(const nlohmann::json& j) {
  TrainingState s;
  s.epoch = j.at("epoch").get<int>();
  s.next_batch = j.at("next_batch").get<int64_t>();
  s.epoch_loss_sum = j.at("epoch_loss_sum").get<double>();
  s.epoch_batches = j.at("epoch_batches").get<int64_t>();
  s.epoch_tokens = j.at("epoch_tokens").get<int64_t>();
  s.epoch_seconds = j.at("epoch_seconds").get<double>();
  s.epochs_done = j.at("epochs_done").get<int>();
  s.steps = j.at("steps").get<int64_t>();
  s.total_tokens = j.at("total_tokens").get<int64_t>();
  s.last_loss = j.at("last_loss").get<double>();
  s.best_bleu = j.at("best_bleu").get<double>();
  s.epochs_without_gain = j.at("epochs_without_gain").get<int>();
  s.learning_rate = j.at("learning_rate").get<double>();
  s.elapsed_seconds = j.at("elapsed_seconds").get<double>();
  s.loop_seconds = j.at("loop_seconds").get<double>();
  if (s.epoch < 1 || s.next_batch < 0) throw std::runtime_error("epoch or batch out of range");
  return s;
}

// Removes every entry of `dir` but `keep` that is a checkpoint or an abandoned staging folder.
void RemoveOthers(const std::string& dir, const std::string& keep) {
  const StagingOwner self = StagingOwner::Current();
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name == keep) continue;
    if (CheckpointNumber(name) >= 0 || IsAbandonedStaging(entry.path().string(), self)) {
      fs::remove_all(entry.path(), error);
    }
  }
}

}  // namespace

torch::Tensor GeneratorState() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get_state();
}

void SetGeneratorState(const torch::Tensor& state) {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_state(state);
}

void SaveTrainingCheckpoint(const std::string& dir, const ModelParts& parts, const torch::optim::Optimizer& optimizer,
                            const TrainingState& state) {
  static std::atomic<uint64_t> sequence{0};
  std::error_code error;
  fs::create_directories(dir, error);
  if (error) ThrowFileError("cannot create " + dir, error.value());
  const std::string staging = dir + "/" + StagingOwner::Current().FolderName(sequence++);
  fs::create_directory(staging, error);
  if (error) ThrowFileError("cannot create " + staging, error.value());
  try {
    // The word tables are made after training: a checkpoint has none.
    ModelParts files{parts.config, parts.source_tokenizer, parts.target_tokenizer, parts.source_vocab,
                     parts.target_vocab, parts.network, {}, {}, parts.shortlist, {}, {}};
    SaveModelParts(files, staging);
    torch::serialize::OutputArchive optimizer_archive;
    optimizer.save(optimizer_archive);
    WriteFileAtomically(staging + "/optimizer.pt", Serialized(optimizer_archive));
    torch::serialize::OutputArchive tensors;
    tensors.write("epoch_rng", state.epoch_rng.defined() ? state.epoch_rng : torch::empty({0}, torch::kUInt8));
    tensors.write("rng", state.rng.defined() ? state.rng : torch::empty({0}, torch::kUInt8));
    for (size_t i = 0; i < state.best.size(); ++i) tensors.write("best." + std::to_string(i), state.best[i]);
    WriteFileAtomically(staging + "/state.pt", Serialized(tensors));
    WriteFileAtomically(staging + "/state.json", StateJson(state).dump(2) + "\n");
    SyncDirectory(staging);
  } catch (...) {
    fs::remove_all(staging, error);
    throw;
  }
  int64_t number = 0;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    number = std::max(number, CheckpointNumber(entry.path().filename().string()) + 1);
  }
  const std::string name = kPrefix + std::to_string(number);
  if (::rename(staging.c_str(), (dir + "/" + name).c_str()) != 0) {
    const int rename_error = errno;
    fs::remove_all(staging, error);
    ThrowFileError("cannot rename " + staging, rename_error);
  }
  SyncDirectory(dir);
  WriteFileAtomically(dir + "/" + kLatest, name + "\n");
  RemoveOthers(dir, name);
}

std::optional<TrainingCheckpoint> LoadTrainingCheckpoint(const std::string& dir) {
  std::string name;
  try {
    name = ReadFile(dir + "/" + kLatest);
  } catch (const NotFoundError&) {
    return std::nullopt;
  }
  while (!name.empty() && (name.back() == '\n' || name.back() == '\r')) name.pop_back();
  if (CheckpointNumber(name) < 0) throw FailedPreconditionError("checkpoint " + dir + ": LATEST names '" + name + "'");
  const std::string path = dir + "/" + name;
  TrainingCheckpoint checkpoint;
  checkpoint.parts = LoadModelParts(path);
  checkpoint.parts.network->train();
  try {
    const nlohmann::json state = nlohmann::json::parse(ReadFile(path + "/state.json"));
    checkpoint.state = StateFromJson(state);
    const size_t best = state.at("best_tensors").get<size_t>();
    torch::serialize::InputArchive tensors;
    tensors.load_from(path + "/state.pt");
    tensors.read("epoch_rng", checkpoint.state.epoch_rng);
    tensors.read("rng", checkpoint.state.rng);
    for (size_t i = 0; i < best; ++i) {
      torch::Tensor t;
      tensors.read("best." + std::to_string(i), t);
      checkpoint.state.best.push_back(t);
    }
  } catch (const c10::Error& e) {
    throw FailedPreconditionError("checkpoint " + path + ": " + e.msg());
  } catch (const std::exception& e) {
    throw FailedPreconditionError("checkpoint " + path + ": " + e.what());
  }
  if (checkpoint.state.epoch_rng.numel() == 0) checkpoint.state.epoch_rng = torch::Tensor();
  if (checkpoint.state.rng.numel() == 0) checkpoint.state.rng = torch::Tensor();
  checkpoint.optimizer_file = path + "/optimizer.pt";
  return checkpoint;
}

void RemoveTrainingCheckpoints(const std::string& dir) {
  std::error_code error;
  fs::remove(dir + "/" + kLatest, error);
  RemoveOthers(dir, "");
}

}  // namespace wordbridge
