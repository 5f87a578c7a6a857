#include "model/store/model_store.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <mutex>

#include "model/common/errors.h"
#include "model/common/file_util.h"

namespace wordbridge {

namespace fs = std::filesystem;

namespace {
bool IsVersionName(const std::string& s) {
  return !s.empty() && s.size() < 12 && std::all_of(s.begin(), s.end(), ::isdigit) && s[0] != '0';
}
}  // namespace

ModelStore::ModelStore(std::string root) : root_(std::move(root)) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (!fs::is_directory(root_)) throw FailedPreconditionError("model directory " + root_ + " cannot be created");
}

void ModelStore::ValidateName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' &&
            std::all_of(name.begin(), name.end(), [](char c) {
              return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
            });
  if (!ok) {
    throw InvalidArgumentError("model name '" + name +
                               "' must be 1-64 characters of letters, digits, '.', '_' or '-', "
                               "not starting with '.'");
  }
}

std::vector<std::string> ModelStore::VersionsOnDisk(const std::string& name) const {
  std::vector<std::string> versions;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(root_) / name, ec)) {
    auto v = entry.path().filename().string();
    if (entry.is_directory() && IsVersionName(v)) versions.push_back(v);
  }
  std::sort(versions.begin(), versions.end(),
            [](const std::string& a, const std::string& b) { return std::stoll(a) < std::stoll(b); });
  return versions;
}

std::vector<std::string> ModelStore::LoadAll() {
  std::vector<std::string> problems;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    try {
      ValidateName(name);
    } catch (const Error&) {
      continue;  // not a model folder
    }
    // Staging folders are what a crash left mid-publish: never complete, safe to remove.
    for (const auto& inner : fs::directory_iterator(entry.path(), ec)) {
      if (inner.path().filename().string().rfind(".staging-", 0) == 0) fs::remove_all(inner.path(), ec);
    }
    auto versions = VersionsOnDisk(name);
    {
      std::shared_lock lock(mutex_);
      auto serving = serving_.find(name);
      // Already serving the newest version (or a newer one than this scan saw): nothing to do.
      if (serving != serving_.end() &&
          (versions.empty() || std::stoll(serving->second->version()) >= std::stoll(versions.back()))) {
        continue;
      }
    }
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      try {
        auto bundle = ModelBundle::Load(name, *it, (entry.path() / *it).string());
        std::unique_lock lock(mutex_);
        auto& slot = serving_[name];
        if (!slot || std::stoll(slot->version()) < std::stoll(bundle->version())) slot = bundle;
        break;
      } catch (const std::exception& e) {
        problems.push_back("model " + name + " version " + *it + " not loaded: " + e.what());
      }
    }
  }
  return problems;
}

std::shared_ptr<const ModelBundle> ModelStore::Get(const std::string& name, const std::string& version) const {
  std::shared_ptr<const ModelBundle> serving;
  {
    std::shared_lock lock(mutex_);
    auto it = serving_.find(name);
    if (it != serving_.end()) serving = it->second;
  }
  if (!serving) throw NotFoundError("no model named '" + name + "'; ListModels shows the loaded models");
  if (version.empty() || version == serving->version()) return serving;
  auto versions = VersionsOnDisk(name);
  if (!IsVersionName(version) || std::find(versions.begin(), versions.end(), version) == versions.end()) {
    throw NotFoundError("model '" + name + "' has no version '" + version + "'");
  }
  // Older versions are loaded on demand; they are rarely asked for.
  return ModelBundle::Load(name, version, (fs::path(root_) / name / version).string());
}

bool ModelStore::Has(const std::string& name) const {
  std::shared_lock lock(mutex_);
  return serving_.count(name) > 0;
}

std::shared_ptr<const ModelBundle> ModelStore::Publish(const std::string& name, ModelParts parts) {
  ValidateName(name);
  std::lock_guard publish_lock(publish_mutex_);
  const fs::path model_dir = fs::path(root_) / name;
  fs::create_directories(model_dir);
  auto versions = VersionsOnDisk(name);
  const std::string version = std::to_string(versions.empty() ? 1 : std::stoll(versions.back()) + 1);
  const fs::path staging = model_dir / (".staging-" + version + "-" + std::to_string(::getpid()));
  fs::remove_all(staging);
  fs::create_directories(staging);
  auto bundle = std::make_shared<const ModelBundle>(name, version, std::move(parts));
  try {
    bundle->Save(staging.string());
    SyncDirectory(staging.string());
    fs::rename(staging, model_dir / version);
    SyncDirectory(model_dir.string());
    SyncDirectory(root_);
  } catch (...) {
    std::error_code ec;
    fs::remove_all(staging, ec);
    throw;
  }
  std::unique_lock lock(mutex_);
  serving_[name] = bundle;
  return bundle;
}

std::vector<ModelSummary> ModelStore::List() const {
  std::vector<ModelSummary> summaries;
  std::shared_lock lock(mutex_);
  for (const auto& [name, bundle] : serving_) {
    summaries.push_back({name, bundle->version(), VersionsOnDisk(name), bundle});
  }
  return summaries;
}

}  // namespace wordbridge
