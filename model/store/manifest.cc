#include "model/store/manifest.h"

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/common/sha256.h"

namespace wordbridge {

namespace fs = std::filesystem;

namespace {

constexpr int kManifestFormat = 1;

// Every entry of `dir` but the manifest, by name; a sub-folder counts as an entry so that a version
// holding anything the manifest does not list is noticed.
std::map<std::string, fs::directory_entry> Entries(const std::string& dir) {
  std::map<std::string, fs::directory_entry> entries;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name != kManifestFileName) entries[name] = entry;
  }
  return entries;
}

}  // namespace

void WriteManifest(const std::string& dir) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [name, entry] : Entries(dir)) {
    if (!entry.is_regular_file()) throw Error("model version " + dir + " holds " + name + ", which is not a file");
    const FileDigest digest = Sha256OfFile(entry.path().string());
    files[name] = {{"bytes", digest.size}, {"sha256", digest.sha256}};
  }
  const nlohmann::json manifest = {{"format", kManifestFormat}, {"files", files}};
  WriteFileAtomically((fs::path(dir) / kManifestFileName).string(), manifest.dump(2) + "\n");
}

ManifestCheck VerifyManifest(const std::string& dir) {
  const fs::path manifest_path = fs::path(dir) / kManifestFileName;
  if (!fs::exists(manifest_path)) return ManifestCheck::kAbsent;
  auto refuse = [&](const std::string& why) {
    throw FailedPreconditionError("model " + dir + ": " + why + " (manifest.json)");
  };
  std::map<std::string, FileDigest> listed;
  try {
    const auto manifest = nlohmann::json::parse(ReadFile(manifest_path.string()));
    if (manifest.at("format").get<int>() != kManifestFormat) refuse("unknown manifest format");
    for (const auto& [name, file] : manifest.at("files").items()) {
      listed[name] = {file.at("bytes").get<int64_t>(), file.at("sha256").get<std::string>()};
    }
  } catch (const nlohmann::json::exception& e) {
    refuse(std::string("unreadable manifest: ") + e.what());
  }
  const auto entries = Entries(dir);
  for (const auto& [name, entry] : entries) {
    if (!listed.count(name)) refuse(name + " is not listed");
  }
  for (const auto& [name, digest] : listed) {
    auto it = entries.find(name);
    if (it == entries.end() || !it->second.is_regular_file()) refuse(name + " is missing");
    const auto size = static_cast<int64_t>(it->second.file_size());
    if (size != digest.size) {
      refuse(name + " has " + std::to_string(size) + " bytes, not " + std::to_string(digest.size));
    }
  }
  for (const auto& [name, digest] : listed) {
    if (Sha256OfFile((fs::path(dir) / name).string()).sha256 != digest.sha256) refuse(name + " has another SHA-256");
  }
  return ManifestCheck::kVerified;
}

}  // namespace wordbridge
