// ModelStore: the versioned model directory and the bundles that serve from it.
// Layout: ROOT/NAME/VERSION/{config.json, *.vocab, weights.pt, ...}; versions are 1, 2, 3...; the
// highest complete version serves. A new version is written to ROOT/NAME/.staging-*, synced and
// renamed into place, then swapped in as one shared_ptr - a crash never leaves a half-written
// version where a loader would find it.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "model/store/model_bundle.h"

namespace wordbridge {

struct ModelSummary {
  std::string name;
  std::string serving_version;
  std::vector<std::string> versions;  // ascending
  std::shared_ptr<const ModelBundle> serving;
};

class ModelStore {
 public:
  // Creates `root` if missing.
  explicit ModelStore(std::string root);

  // Loads the newest loadable version of every model under the root that is newer than the one
  // serving (so calling it again picks up versions other processes published). Returns one line per
  // version that could not be loaded (those are skipped, never fatal).
  std::vector<std::string> LoadAll();

  // The serving version when `version` is empty. NotFoundError for unknown names or versions.
  std::shared_ptr<const ModelBundle> Get(const std::string& name, const std::string& version = "") const;
  bool Has(const std::string& name) const;

  // Saves the parts as the next version of `name` and serves it at once.
  std::shared_ptr<const ModelBundle> Publish(const std::string& name, ModelParts parts);

  std::vector<ModelSummary> List() const;

  // Model names are 1-64 characters of [A-Za-z0-9._-], not starting with '.'. Throws InvalidArgumentError.
  static void ValidateName(const std::string& name);

  const std::string& root() const { return root_; }

 private:
  std::vector<std::string> VersionsOnDisk(const std::string& name) const;

  std::string root_;
  mutable std::shared_mutex mutex_;
  std::map<std::string, std::shared_ptr<const ModelBundle>> serving_;
  // Publishing is serialised so two jobs never pick the same version number.
  std::mutex publish_mutex_;
};

}  // namespace wordbridge
