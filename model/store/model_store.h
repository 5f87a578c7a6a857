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
// - Operators choose what serves: ROOT/NAME/serving.json pins a version (SetServingVersion), written
//   under the publish lock, so every replica follows it at its next rescan; without a pin the newest
//   good version serves. DeleteVersion (and --keep-versions after a publish) renames a version to a
//   trash folder under the lock, then removes it; a rescan removes trash a crash left behind.
// - Version numbers are never reused: NAME/.last-version remembers the highest one published, so a
//   deleted version's number cannot come back as another model that a replica mistakes for the old one.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "model/store/model_bundle.h"
#include "model/store/staging.h"

namespace wordbridge {

// One version on disk, as ListModels shows it.
struct VersionSummary {
  std::string version;
  int64_t bytes = 0;                              // its files' sizes
  std::chrono::system_clock::time_point created;  // the folder's modification time: its last file's writing
  std::map<std::string, double> metrics;          // metrics.json (empty when absent or damaged)
  bool serving = false;
  bool pinned = false;
  // Why this process refused it (one line), when it tried to load it; empty otherwise (also for versions
  // never tried: older than the serving one, or not yet rescanned).
  std::string refused;
};

struct ModelSummary {
  std::string name;
  std::string serving_version;
  std::vector<std::string> versions;  // ascending
  std::shared_ptr<const ModelBundle> serving;
  std::string pinned_version;          // empty: not pinned (the newest good version serves)
  std::vector<VersionSummary> details;  // one per entry of `versions`
};

struct DeleteResult {
  std::string serving_version;  // after the delete; empty when no version of the model serves any more
  bool pin_cleared = false;     // the deleted version was pinned: the pin is gone and the newest serves
};

class ModelStore {
 public:
  // The lock file in each model's folder that publishers flock.
  static constexpr char kLockFileName[] = ".publish.lock";
  // The pin in each model's folder: {"version": "3", "pinned_at": <Unix seconds>}; absent = newest.
  static constexpr char kPinFileName[] = "serving.json";
  // The highest version number ever published in the model's folder.
  static constexpr char kLastVersionFileName[] = ".last-version";

  // Creates `root` if missing. Versions whose config.json describes a network needing more than
  // `max_model_bytes` to serve, or whose files are larger than that, are refused before their network
  // is made (0 = no limit; model/nn/model_size.h). `keep_versions` > 0: after each publish, versions
  // older than the newest `keep_versions` are deleted (never the pinned or serving one); 0 keeps all.
  explicit ModelStore(std::string root, int64_t max_model_bytes = 0, int keep_versions = 0);

  // Where the store reports what it did on its own (pins cleared, versions pruned, rescans that a
  // pin or delete ran); one line each. Default: standard error. Set before the store is shared.
  void set_log(std::function<void(const std::string&)> log) { log_ = std::move(log); }

  // Brings every model under the root to what should serve: its pinned version, or else the newest
  // loadable version (newer than the one serving, or below it when the serving version was deleted), so
  // calling it again picks up versions, pins and deletes of other processes. A pinned version that does
  // not load here leaves the serving one in place (or, when none serves yet, the newest good one serves);
  // a pin on a version that is gone counts as no pin. Removes abandoned staging and trash folders.
  // Returns one line per version that could not be loaded (skipped, never fatal), per version loaded
  // without a manifest and per unusable pin; each is reported once, not at every rescan (a refused
  // version is tried again only if its folder is replaced).
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

  // Pins `version` of `name` (it serves here at once, and in every replica after its next rescan, and
  // keeps serving when newer versions are published), or with an empty `version` removes the pin, so the
  // newest good version serves. The version is loaded and checked before the pin is written: NotFoundError
  // for an unknown model or version, FailedPreconditionError (ResourceExhaustedError above the memory
  // budget) for one that fails its checks; the pin and the serving version are then unchanged. Returns
  // the bundle that serves afterwards.
  std::shared_ptr<const ModelBundle> SetServingVersion(const std::string& name, const std::string& version);

  // Deletes `version` of `name` from disk. The version serving here, or the pinned one, only with
  // `force`: FailedPreconditionError otherwise. NotFoundError for an unknown model or version. Under the
  // publish lock the folder is renamed to a trash name (loaders ignore it) and then removed. Deleting the
  // pinned version clears the pin (logged); deleting the serving one serves the next newest good version,
  // or nothing. Requests holding the old bundle finish with it.
  DeleteResult DeleteVersion(const std::string& name, const std::string& version, bool force);

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
  std::shared_ptr<const ModelBundle> Serving(const std::string& name) const;
  // The pinned version (nullopt: none). FailedPreconditionError for a pin file that cannot be parsed.
  std::optional<std::string> ReadPin(const std::string& name) const;
  // Brings one model to what should serve (LoadAll's work for one model). Needs scan_mutex_.
  void RescanModel(const std::string& name, std::vector<std::string>* problems);
  // LoadVersion, remembering a refusal so it is reported once; null when it does not load.
  std::shared_ptr<const ModelBundle> TryLoad(const std::string& name, const std::string& version,
                                             std::vector<std::string>* problems);
  // Replaces the serving bundle of `name` with `next` (erases it when null) if it is still `expected`:
  // a rescan that decided on an older state never undoes a publish, pin or delete that ran meanwhile.
  void SwapServing(const std::string& name, const std::shared_ptr<const ModelBundle>& expected,
                   std::shared_ptr<const ModelBundle> next);
  // Renames a version to a trash folder and removes it. The caller holds the model's publish lock.
  void RemoveVersionLocked(const std::string& name, const std::string& version);
  // After a publish (lock held): deletes versions older than the newest keep_versions_, except `keep`.
  void PruneLocked(const std::string& name, const std::vector<std::string>& keep);
  // Loads one version and checks it: size on disk against the budget, manifest (when it has one),
  // config against the budget, weights, a probe decode. `without_manifest` (optional) is set when the
  // version has no manifest.
  std::shared_ptr<const ModelBundle> LoadVersion(const std::string& name, const std::string& version,
                                                 bool* without_manifest) const;
  // Removes the model's abandoned staging folders and trash folders, unless a publish or delete holds
  // the model's lock.
  void RemoveLeftovers(const std::string& model_dir) const;
  // Serves `bundle` unless a newer version of its model already serves.
  void ServeIfNewer(std::shared_ptr<const ModelBundle> bundle);

  std::string root_;
  int64_t max_model_bytes_;
  int keep_versions_;
  std::function<void(const std::string&)> log_;
  const StagingOwner self_ = StagingOwner::Current();
  std::atomic<uint64_t> staging_sequence_{0};
  // Guards serving_ and refused_.
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const ModelBundle>> serving_;
  // The versions a rescan refused ("name/version" -> the folder as it was, and why), so each is
  // reported once and ListModels can say why.
  struct Refusal {
    FolderStamp stamp;
    std::string reason;
  };
  std::map<std::string, Refusal> refused_;
  // One rescan at a time (start-up, the reload thread, tests, pins and deletes), and the pin problems
  // reported (model -> line), so each is reported once. Taken after a model's publish lock, never before.
  std::mutex scan_mutex_;
  std::map<std::string, std::string> pin_problems_;
};

}  // namespace wordbridge
