#include "model/store/model_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/nn/model_size.h"
#include "model/store/manifest.h"

namespace wordbridge {

namespace fs = std::filesystem;

namespace {

bool IsVersionName(const std::string& s) {
  return !s.empty() && s.size() < 12 && std::all_of(s.begin(), s.end(), ::isdigit) && s[0] != '0';
}

// Renames a finished staging folder to its version. RENAME_NOREPLACE where the file system has it;
// plain rename elsewhere (NFS), which still never replaces a version: rename(2) onto a non-empty
// folder fails. Either failure means another publisher took the number although we hold the lock.
void RenameToVersion(const fs::path& staging, const fs::path& version_dir) {
  int rc = ::renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, version_dir.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) rc = ::rename(staging.c_str(), version_dir.c_str());
  if (rc == 0) return;
  const int error = errno;
  if (error == EEXIST || error == ENOTEMPTY) {
    throw Error("version folder " + version_dir.string() +
                " appeared while its model's publish lock was held: the file system does not honour flock "
                "across processes (an NFS mount with nolock?)");
  }
  ThrowFileError("renaming " + staging.string() + " to " + version_dir.string(), error);
}

void MakeDirectory(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) ThrowFileError("cannot create " + dir.string(), errno);
}

bool Contains(const std::vector<std::string>& versions, const std::string& version) {
  return std::find(versions.begin(), versions.end(), version) != versions.end();
}

// The highest version number ever published in `model_dir` (0 when unknown: stores from before the file).
int64_t ReadLastVersion(const fs::path& model_dir) {
  try {
    const std::string text = ReadFile((model_dir / ModelStore::kLastVersionFileName).string());
    return IsVersionName(text.substr(0, text.find_first_of(" \n"))) ? std::stoll(text) : 0;
  } catch (const NotFoundError&) {
    return 0;
  }
}

int64_t UnixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Removes the pin file, if any, durably.
void RemovePinFile(const fs::path& model_dir) {
  const fs::path pin = model_dir / ModelStore::kPinFileName;
  if (::unlink(pin.c_str()) != 0) {
    if (errno == ENOENT) return;
    ThrowFileError("cannot remove " + pin.string(), errno);
  }
  SyncDirectory(model_dir.string());
}

}  // namespace

ModelStore::ModelStore(std::string root, int64_t max_model_bytes, int keep_versions)
    : root_(std::move(root)),
      max_model_bytes_(max_model_bytes),
      keep_versions_(std::max(keep_versions, 0)),
      log_([](const std::string& line) { std::cerr << line << std::endl; }) {
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

ModelStore::FolderStamp ModelStore::StampOf(const std::string& dir) {
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) return {};
  return {static_cast<uint64_t>(info.st_dev), static_cast<uint64_t>(info.st_ino),
          static_cast<int64_t>(info.st_mtim.tv_sec) * 1000000000 + info.st_mtim.tv_nsec};
}

std::shared_ptr<const ModelBundle> ModelStore::LoadVersion(const std::string& name, const std::string& version,
                                                           bool* without_manifest) const {
  const std::string dir = (fs::path(root_) / name / version).string();
  if (max_model_bytes_ > 0) {
    // Before hashing or reading anything: files larger than the budget cannot be a model it can serve.
    int64_t bytes = 0;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file()) bytes += static_cast<int64_t>(entry.file_size());
    }
    if (bytes > max_model_bytes_) {
      throw ResourceExhaustedError("its files hold " + FormatBytes(bytes) + ", above the server's " +
                                   FormatBytes(max_model_bytes_) + " budget (--max-model-bytes)");
    }
  }
  const bool verified = VerifyManifest(dir) == ManifestCheck::kVerified;
  if (without_manifest) *without_manifest = !verified;
  auto bundle = ModelBundle::Load(name, version, dir, max_model_bytes_);
  bundle->SelfCheck();
  return bundle;
}

void ModelStore::RemoveLeftovers(const std::string& model_dir) const {
  std::vector<std::string> staging, trash;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (IsStagingName(name)) staging.push_back(entry.path().string());
    if (IsTrashName(name)) trash.push_back(entry.path().string());
  }
  if (staging.empty() && trash.empty()) return;
  // A publish or delete in progress holds the lock (publishers keep it until their folder is renamed or
  // removed, deleters until the trash is gone): leave everything to the next rescan rather than wait
  // behind it. The owner check below is what protects a live publish where flock does not reach other
  // machines.
  FileLock lock((fs::path(model_dir) / kLockFileName).string(), FileLock::Mode::kTry);
  if (!lock.held()) return;
  for (const auto& path : staging) {
    if (IsAbandonedStaging(path, self_)) fs::remove_all(path, ec);
  }
  for (const auto& path : trash) fs::remove_all(path, ec);  // its deleter died before removing it
}

void ModelStore::ServeIfNewer(std::shared_ptr<const ModelBundle> bundle) {
  std::unique_lock lock(mutex_);
  auto& slot = serving_[bundle->name()];
  if (!slot || std::stoll(slot->version()) < std::stoll(bundle->version())) slot = std::move(bundle);
}

std::shared_ptr<const ModelBundle> ModelStore::Serving(const std::string& name) const {
  std::shared_lock lock(mutex_);
  auto it = serving_.find(name);
  return it == serving_.end() ? nullptr : it->second;
}

void ModelStore::SwapServing(const std::string& name, const std::shared_ptr<const ModelBundle>& expected,
                             std::shared_ptr<const ModelBundle> next) {
  std::unique_lock lock(mutex_);
  auto it = serving_.find(name);
  const std::shared_ptr<const ModelBundle> now = it == serving_.end() ? nullptr : it->second;
  if (now != expected) return;  // changed meanwhile (a publish, pin or delete in this process)
  if (next) {
    serving_[name] = std::move(next);
  } else if (it != serving_.end()) {
    serving_.erase(it);
  }
}

std::optional<std::string> ModelStore::ReadPin(const std::string& name) const {
  const std::string path = (fs::path(root_) / name / kPinFileName).string();
  std::string text;
  try {
    text = ReadFile(path);
  } catch (const NotFoundError&) {
    return std::nullopt;
  }
  try {
    const auto json = nlohmann::json::parse(text);
    const std::string version = json.at("version").get<std::string>();
    if (version.empty()) return std::nullopt;
    if (IsVersionName(version)) return version;
  } catch (const std::exception&) {
  }
  throw FailedPreconditionError(path + " is not a pin ({\"version\": \"N\"})");
}

std::shared_ptr<const ModelBundle> ModelStore::TryLoad(const std::string& name, const std::string& version,
                                                       std::vector<std::string>* problems) {
  const std::string key = name + "/" + version;
  const std::string dir = (fs::path(root_) / name / version).string();
  const FolderStamp stamp = StampOf(dir);
  {
    std::shared_lock lock(mutex_);
    auto refused = refused_.find(key);
    if (refused != refused_.end() && refused->second.stamp == stamp) return nullptr;  // reported when refused
  }
  try {
    bool without_manifest = false;
    auto bundle = LoadVersion(name, version, &without_manifest);
    if (without_manifest) {
      problems->push_back("model " + name + " version " + version +
                          " has no manifest.json (published before manifests): loaded without checking "
                          "its files' digests");
    }
    std::unique_lock lock(mutex_);
    refused_.erase(key);
    return bundle;
  } catch (const std::exception& e) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) return nullptr;  // deleted while it loaded: nothing to report
    std::unique_lock lock(mutex_);
    refused_[key] = {stamp, e.what()};
    problems->push_back("model " + name + " version " + version + " not loaded: " + e.what());
    return nullptr;
  }
}

void ModelStore::RescanModel(const std::string& name, std::vector<std::string>* problems) {
  RemoveLeftovers((fs::path(root_) / name).string());
  const auto versions = VersionsOnDisk(name);
  std::optional<std::string> pin;
  std::string pin_problem;
  try {
    pin = ReadPin(name);
  } catch (const Error& e) {
    pin_problem = "model " + name + ": " + e.what() + "; the newest version serves";
  }
  if (pin && !Contains(versions, *pin)) {
    pin_problem = "model " + name + " is pinned to version " + *pin + ", which is not in the store; the newest "
                  "version serves";
    pin.reset();
  }
  auto& reported = pin_problems_[name];
  if (!pin_problem.empty() && pin_problem != reported) problems->push_back(pin_problem);
  reported = pin_problem;

  const auto current = Serving(name);
  // A bundle serving from memory whose folder is gone (deleted here or by another process) must go.
  const bool current_on_disk = current && Contains(versions, current->version());
  std::shared_ptr<const ModelBundle> next;
  if (pin) {
    if (current_on_disk && current->version() == *pin) return;
    next = TryLoad(name, *pin, problems);
    if (!next && current_on_disk) return;  // the pin does not load here: what serves keeps serving
  }
  if (!next) {
    // Newest first, down to the one serving: the first that loads and passes its checks replaces it.
    for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
      if (current_on_disk && *it == current->version()) return;  // nothing newer loads
      if ((next = TryLoad(name, *it, problems))) break;
    }
  }
  SwapServing(name, current, std::move(next));
}

std::vector<std::string> ModelStore::LoadAll() {
  std::lock_guard scan(scan_mutex_);
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
    RescanModel(name, &problems);
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
  // Older versions are loaded on demand (they are rarely asked for), with the same checks.
  return LoadVersion(name, version, nullptr);
}

bool ModelStore::Has(const std::string& name) const {
  std::shared_lock lock(mutex_);
  return serving_.count(name) > 0;
}

std::shared_ptr<const ModelBundle> ModelStore::Publish(const std::string& name, ModelParts parts) {
  ValidateName(name);
  const fs::path model_dir = fs::path(root_) / name;
  MakeDirectory(model_dir);
  // Held from choosing the number until the version is renamed into place (or the staging folder is
  // removed), so no other publisher takes the number and no rescan removes the folder meanwhile.
  FileLock lock((model_dir / kLockFileName).string(), FileLock::Mode::kWait);
  const auto versions = VersionsOnDisk(name);
  // Never a deleted version's number: a replica may still serve that version from memory.
  const int64_t last = std::max<int64_t>(versions.empty() ? 0 : std::stoll(versions.back()), ReadLastVersion(model_dir));
  const std::string version = std::to_string(last + 1);
  auto bundle = std::make_shared<const ModelBundle>(name, version, std::move(parts));
  bundle->SelfCheck();  // never publish what a replica's rescan would refuse
  const fs::path staging = model_dir / self_.FolderName(++staging_sequence_);
  try {
    MakeDirectory(staging);
    bundle->Save(staging.string());
    WriteManifest(staging.string());  // last: it lists what the folder holds
    SyncDirectory(staging.string());
    RenameToVersion(staging, model_dir / version);
    SyncDirectory(model_dir.string());
    SyncDirectory(root_);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(staging, ec);  // a no-op once renamed
    if (dynamic_cast<const ResourceExhaustedError*>(&e)) {
      throw ResourceExhaustedError("cannot publish model " + name + " version " + version + " (nothing kept; " +
                                   "the serving version is unchanged): " + e.what());
    }
    throw;
  }
  // A pin holds: the new version is stored and listed, and serves once the pin is removed. A pin file
  // that cannot be read counts as none, as in a rescan.
  std::optional<std::string> pin;
  try {
    pin = ReadPin(name);
  } catch (const Error&) {
  }
  if (!pin || !fs::is_directory(model_dir / *pin)) ServeIfNewer(bundle);
  if (keep_versions_ > 0) {
    std::vector<std::string> keep = {version};
    if (pin) keep.push_back(*pin);
    if (auto serving = Serving(name)) keep.push_back(serving->version());
    PruneLocked(name, keep);
  }
  return bundle;
}

void ModelStore::RemoveVersionLocked(const std::string& name, const std::string& version) {
  const fs::path model_dir = fs::path(root_) / name;
  // Remember the highest number before it can disappear, so Publish never gives it out again.
  const auto versions = VersionsOnDisk(name);
  const int64_t highest = versions.empty() ? 0 : std::stoll(versions.back());
  if (ReadLastVersion(model_dir) < highest) {
    WriteFileAtomically((model_dir / kLastVersionFileName).string(), std::to_string(highest) + "\n");
  }
  const fs::path trash = model_dir / TrashFolderName(version, self_, ++staging_sequence_);
  // First out of the loaders' sight in one step (a loader never sees a half-removed version), then
  // gone; a crash in between leaves a trash folder that the next rescan removes.
  if (::rename((model_dir / version).c_str(), trash.c_str()) != 0) {
    ThrowFileError("renaming " + (model_dir / version).string() + " to " + trash.string(), errno);
  }
  SyncDirectory(model_dir.string());
  std::error_code ec;
  fs::remove_all(trash, ec);
  if (ec) log_("model " + name + " version " + version + ": " + trash.string() + " not removed (" + ec.message() +
               "); a rescan will remove it");
  // Data made for the version after it was published (its translation memories) goes with it.
  fs::remove_all(model_dir / ".sentences" / version, ec);
}

void ModelStore::PruneLocked(const std::string& name, const std::vector<std::string>& keep) {
  const auto versions = VersionsOnDisk(name);
  if (static_cast<int64_t>(versions.size()) <= keep_versions_) return;
  const size_t older = versions.size() - static_cast<size_t>(keep_versions_);
  for (size_t i = 0; i < older; ++i) {
    if (Contains(keep, versions[i])) continue;
    try {
      RemoveVersionLocked(name, versions[i]);
      log_("model " + name + ": deleted version " + versions[i] + " (--keep-versions " +
           std::to_string(keep_versions_) + ")");
    } catch (const std::exception& e) {
      log_("model " + name + ": version " + versions[i] + " not deleted: " + e.what());
    }
  }
}

std::shared_ptr<const ModelBundle> ModelStore::SetServingVersion(const std::string& name, const std::string& version) {
  ValidateName(name);
  const fs::path model_dir = fs::path(root_) / name;
  if (!fs::is_directory(model_dir)) throw NotFoundError("no model named '" + name + "'");
  if (!version.empty() && !IsVersionName(version)) {
    throw NotFoundError("model '" + name + "' has no version '" + version + "'");
  }
  // The same lock as publishes and deletes: a pin never names a version a concurrent delete removes.
  FileLock lock((model_dir / kLockFileName).string(), FileLock::Mode::kWait);
  if (version.empty()) {
    RemovePinFile(model_dir);
    std::vector<std::string> problems;
    {
      std::lock_guard scan(scan_mutex_);
      RescanModel(name, &problems);
    }
    for (const auto& problem : problems) log_("warning: " + problem);
    auto serving = Serving(name);
    if (!serving) throw FailedPreconditionError("model '" + name + "' has no version that loads");
    return serving;
  }
  if (!Contains(VersionsOnDisk(name), version)) {
    throw NotFoundError("model '" + name + "' has no version '" + version + "'");
  }
  auto current = Serving(name);
  std::shared_ptr<const ModelBundle> bundle = current && current->version() == version ? current : nullptr;
  if (!bundle) {
    const std::string what = "version " + version + " of model '" + name +
                             "' cannot serve (nothing changed): ";
    try {
      bundle = LoadVersion(name, version, nullptr);
    } catch (const ResourceExhaustedError& e) {
      throw ResourceExhaustedError(what + e.what());
    } catch (const std::exception& e) {
      throw FailedPreconditionError(what + e.what());
    }
  }
  nlohmann::json pin = {{"version", version}, {"pinned_at", UnixSeconds(std::chrono::system_clock::now())}};
  WriteFileAtomically((model_dir / kPinFileName).string(), pin.dump() + "\n");
  {
    std::unique_lock serving_lock(mutex_);
    serving_[name] = bundle;
  }
  return bundle;
}

DeleteResult ModelStore::DeleteVersion(const std::string& name, const std::string& version, bool force) {
  ValidateName(name);
  const fs::path model_dir = fs::path(root_) / name;
  if (!fs::is_directory(model_dir)) throw NotFoundError("no model named '" + name + "'");
  FileLock lock((model_dir / kLockFileName).string(), FileLock::Mode::kWait);
  if (!IsVersionName(version) || !Contains(VersionsOnDisk(name), version)) {
    throw NotFoundError("model '" + name + "' has no version '" + version + "'");
  }
  std::optional<std::string> pin;
  try {
    pin = ReadPin(name);
  } catch (const Error&) {
  }
  const auto current = Serving(name);
  const bool serving = current && current->version() == version, pinned = pin && *pin == version;
  if ((serving || pinned) && !force) {
    throw FailedPreconditionError("version " + version + " of model '" + name + "' " +
                                  (pinned ? "is pinned" : "serves") +
                                  "; pin another version (or unpin) first, or force the delete");
  }
  DeleteResult result;
  if (pinned) {  // first, so a crash never leaves a pin on a version that is gone
    RemovePinFile(model_dir);
    result.pin_cleared = true;
    log_("model " + name + ": pinned version " + version + " deleted; the pin is cleared and the newest version serves");
  }
  RemoveVersionLocked(name, version);
  // Serve the next version when this one served; also undoes a rescan that was loading this version
  // while it was removed (the rescan runs first: the lock waits for it).
  std::vector<std::string> problems;
  {
    std::lock_guard scan(scan_mutex_);
    RescanModel(name, &problems);
  }
  for (const auto& problem : problems) log_("warning: " + problem);
  if (auto now = Serving(name)) result.serving_version = now->version();
  return result;
}

std::vector<ModelSummary> ModelStore::List() const {
  std::vector<ModelSummary> summaries;
  std::map<std::string, Refusal> refused;
  {
    std::shared_lock lock(mutex_);
    for (const auto& [name, bundle] : serving_) summaries.push_back({name, bundle->version(), {}, bundle, "", {}});
    refused = refused_;
  }
  // The disk is read outside the lock: a slow file system never holds up requests.
  for (auto& summary : summaries) {
    summary.versions = VersionsOnDisk(summary.name);
    try {
      summary.pinned_version = ReadPin(summary.name).value_or("");
    } catch (const Error&) {
    }
    for (const auto& version : summary.versions) {
      VersionSummary details;
      details.version = version;
      const fs::path dir = fs::path(root_) / summary.name / version;
      std::error_code ec;
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (entry.is_regular_file(ec)) details.bytes += static_cast<int64_t>(entry.file_size(ec));
      }
      struct stat info {};
      if (::stat(dir.c_str(), &info) == 0) details.created = std::chrono::system_clock::from_time_t(info.st_mtime);
      details.serving = version == summary.serving_version;
      details.pinned = version == summary.pinned_version;
      if (details.serving) {
        details.metrics = summary.serving->metrics();
      } else {
        try {
          details.metrics = ParseNumbersJson(ReadFile((dir / "metrics.json").string()));
        } catch (const Error&) {
        }
      }
      auto it = refused.find(summary.name + "/" + version);
      if (it != refused.end() && it->second.stamp == StampOf(dir.string())) details.refused = it->second.reason;
      summary.details.push_back(std::move(details));
    }
  }
  return summaries;
}

}  // namespace wordbridge
