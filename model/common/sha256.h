// SHA-256 of bytes and of files, for the model store's manifests (model/store/manifest.h). A thin
// wrapper over OpenSSL's libcrypto (Debian's libssl-dev), which the server already loads through gRPC:
// a reviewed, hardware-accelerated implementation is better than a copy of the algorithm here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace wordbridge {

// A digest computed piece by piece, for bytes that arrive in chunks (uploads).
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::string_view bytes);
  // Lower-case hex digest of everything passed to Update; call once.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// Lower-case hex digest of `bytes`.
std::string Sha256Hex(const std::string& bytes);

struct FileDigest {
  int64_t size = 0;
  std::string sha256;  // lower-case hex
};

// Streams the file through SHA-256 (never holds it in memory). Throws NotFoundError when it cannot
// be opened, Error when reading fails.
FileDigest Sha256OfFile(const std::string& path);

}  // namespace wordbridge
