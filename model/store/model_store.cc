#include "model/store/model_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <mutex>

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

// An exclusive flock on a model's lock file, held for the object's life. flock belongs to the open
// file description, so two threads of one process exclude each other just as two processes do, and
// the kernel drops it when its holder dies: a crash never leaves a model locked. Across machines it
// needs a file system whose locks reach the server (NFS with lockd or v4, CephFS); docs/design.md.
class ModelLock {
 public:
  // Waits for the lock when `wait`, else returns at once (held() says whether it was free).
  ModelLock(const std::string& path, bool wait) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      if (!wait) return;
      ThrowFileError("cannot open the lock file " + path, errno);
    }
    int rc;
    do {
      rc = ::flock(fd_, LOCK_EX | (wait ? 0 : LOCK_NB));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
      held_ = true;
    } else if (wait) {
      const int error = errno;
      ::close(fd_);
      fd_ = -1;
      ThrowFileError("cannot lock " + path, error);
    }
  }
  ~ModelLock() {
    if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
  }
  ModelLock(const ModelLock&) = delete;
  ModelLock& operator=(const ModelLock&) = delete;
  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

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

}  // namespace

ModelStore::ModelStore(std::string root, int64_t max_model_bytes)
    : root_(std::move(root)), max_model_bytes_(max_model_bytes) {
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

void ModelStore::RemoveAbandonedStaging(const std::string& model_dir) const {
  std::vector<std::string> staging;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    if (IsStagingName(entry.path().filename().string())) staging.push_back(entry.path().string());
  }
  if (staging.empty()) return;
  // A publish in progress holds the lock (publishers keep it until their folder is renamed or
  // removed): leave everything to the next rescan rather than wait behind it. The owner check below is
  // what protects a live publish where flock does not reach other machines.
  ModelLock lock((fs::path(model_dir) / kLockFileName).string(), /*wait=*/false);
  if (!lock.held()) return;
  for (const auto& path : staging) {
    if (IsAbandonedStaging(path, self_)) fs::remove_all(path, ec);
  }
}

void ModelStore::ServeIfNewer(std::shared_ptr<const ModelBundle> bundle) {
  std::unique_lock lock(mutex_);
  auto& slot = serving_[bundle->name()];
  if (!slot || std::stoll(slot->version()) < std::stoll(bundle->version())) slot = std::move(bundle);
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
    RemoveAbandonedStaging(entry.path().string());
    const auto versions = VersionsOnDisk(name);
    int64_t serving = 0;
    {
      std::shared_lock lock(mutex_);
      auto it = serving_.find(name);
      if (it != serving_.end()) serving = std::stoll(it->second->version());
    }
    // Newest first, down to the one serving: the first that loads and passes its checks replaces it.
    for (auto it = versions.rbegin(); it != versions.rend() && std::stoll(*it) > serving; ++it) {
      const std::string key = name + "/" + *it;
      const FolderStamp stamp = StampOf((entry.path() / *it).string());
      auto refused = refused_.find(key);
      if (refused != refused_.end() && refused->second == stamp) continue;  // reported when refused
      try {
        bool without_manifest = false;
        auto bundle = LoadVersion(name, *it, &without_manifest);
        if (without_manifest) {
          problems.push_back("model " + name + " version " + *it +
                             " has no manifest.json (published before manifests): loaded without checking "
                             "its files' digests");
        }
        ServeIfNewer(std::move(bundle));
        refused_.erase(key);
        break;
      } catch (const std::exception& e) {
        refused_[key] = stamp;
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
  ModelLock lock((model_dir / kLockFileName).string(), /*wait=*/true);
  const auto versions = VersionsOnDisk(name);
  const std::string version = std::to_string(versions.empty() ? 1 : std::stoll(versions.back()) + 1);
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
  ServeIfNewer(bundle);
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
