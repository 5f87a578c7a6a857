// ModelStore: the versioned model directory and the bundles that serve from it.
// Layout: ROOT/NAME/VERSION/{config.json, *.vocab, weights.pt, ..., manifest.json}; versions are 1, 2,
// 3...; the highest version that loads and passes its checks serves. Several processes (replicas on a
// shared volume) may publish into and rescan one root:
// - A new version is written to ROOT/NAME/.staging-* (model/store/staging.h), given a manifest of its
//   files' sizes and SHA-256 (model/store/manifest.h), synced and renamed into place - a crash never
//   leaves a half-written version where a loader would find it.
// - Version numbers are chosen under an flock on ROOT/NAME/.publish.lock, held from choosing the
//   number until the rename, so two publishers (threads or processes) never take the same number.
// - A rescan removes a staging folder only when its owner is provably gone, and never while a publish
//   of that model holds the lock.
// - A version is loaded and checked (manifest, memory budget, weight shapes, a probe decode) before it
//   replaces the serving one; one that fails is reported once and skipped, and the old one serves on.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "model/store/model_bundle.h"
#include "model/store/staging.h"

namespace wordbridge {

struct ModelSummary {
  std::string name;
  std::string serving_version;
  std::vector<std::string> versions;  // ascending
  std::shared_ptr<const ModelBundle> serving;
};

class ModelStore {
 public:
  // The lock file in each model's folder that publishers flock.
  static constexpr char kLockFileName[] = ".publish.lock";

  // Creates `root` if missing. Versions whose config.json describes a network needing more than
  // `max_model_bytes` to serve, or whose files are larger than that, are refused before their network
  // is made (0 = no limit; model/nn/model_size.h).
  explicit ModelStore(std::string root, int64_t max_model_bytes = 0);

  // Loads the newest loadable version of every model under the root that is newer than the one
  // serving (so calling it again picks up versions other processes published), and removes abandoned
  // staging folders. Returns one line per version that could not be loaded (skipped, never fatal) and
  // per version loaded without a manifest; each version is reported once, not at every rescan (a
  // refused version is tried again only if its folder is replaced).
  std::vector<std::string> LoadAll();

  // The serving version when `version` is empty. NotFoundError for unknown names or versions.
  std::shared_ptr<const ModelBundle> Get(const std::string& name, const std::string& version = "") const;
  bool Has(const std::string& name) const;

  // Saves the parts as the next version of `name` and serves it at once (unless this process already
  // serves a newer one, published elsewhere). On failure nothing is left behind and the serving version
  // is unchanged; a full disk throws ResourceExhaustedError, and a network that fails
  // ModelBundle::SelfCheck (NaN weights after a diverged run) FailedPreconditionError.
  std::shared_ptr<const ModelBundle> Publish(const std::string& name, ModelParts parts);

  std::vector<ModelSummary> List() const;

  // Model names are 1-64 characters of [A-Za-z0-9._-], not starting with '.'. Throws InvalidArgumentError.
  static void ValidateName(const std::string& name);

  const std::string& root() const { return root_; }

 private:
  // A folder's identity: a refused version is retried only when its folder is replaced or changed.
  struct FolderStamp {
    uint64_t device = 0, inode = 0;
    int64_t modified_ns = 0;
    bool operator==(const FolderStamp& o) const {
      return device == o.device && inode == o.inode && modified_ns == o.modified_ns;
    }
  };
  static FolderStamp StampOf(const std::string& dir);

  std::vector<std::string> VersionsOnDisk(const std::string& name) const;
  // Loads one version and checks it: size on disk against the budget, manifest (when it has one),
  // config against the budget, weights, a probe decode. `without_manifest` (optional) is set when the
  // version has no manifest.
  std::shared_ptr<const ModelBundle> LoadVersion(const std::string& name, const std::string& version,
                                                 bool* without_manifest) const;
  // Removes the model's abandoned staging folders, unless a publish holds the model's lock.
  void RemoveAbandonedStaging(const std::string& model_dir) const;
  // Serves `bundle` unless a newer version of its model already serves.
  void ServeIfNewer(std::shared_ptr<const ModelBundle> bundle);

  std::string root_;
  int64_t max_model_bytes_;
  const StagingOwner self_ = StagingOwner::Current();
  std::atomic<uint64_t> staging_sequence_{0};
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const ModelBundle>> serving_;
  // One rescan at a time (start-up, the reload thread, tests), and the versions it refused
  // ("name/version" -> the folder as it was), so each is reported once.
  std::mutex scan_mutex_;
  std::map<std::string, FolderStamp> refused_;
};

}  // namespace wordbridge
