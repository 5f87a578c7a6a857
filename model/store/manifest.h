// manifest.json: the files of one model version with their sizes and SHA-256. Publish writes it last,
// into the staging folder, so it describes exactly what was renamed into place; the store checks it
// before a version loads, so a truncated, tampered or half-copied version is refused instead of served.
//
//   {"format": 1, "files": {"config.json": {"bytes": 311, "sha256": "9f86d0..."}, ...}}
#pragma once

#include <string>

namespace wordbridge {

inline constexpr char kManifestFileName[] = "manifest.json";

// Hashes every regular file in `dir` but the manifest itself and writes manifest.json crash-safely
// (replacing any older one: tools that add a file to a copy of a version call it again).
void WriteManifest(const std::string& dir);

enum class ManifestCheck {
  kVerified,  // every file listed, none missing or extra, sizes and digests equal
  kAbsent,    // no manifest.json: a version published before manifests existed
};

// Checks `dir` against its manifest.json: sizes first (cheap, catches truncation), then digests.
// FailedPreconditionError naming the first file that is missing, extra, of another size or digest,
// or a manifest that cannot be parsed.
ManifestCheck VerifyManifest(const std::string& dir);

}  // namespace wordbridge
