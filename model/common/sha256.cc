#include "model/common/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "model/common/errors.h"

namespace wordbridge {
namespace {

using DigestContext = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;

DigestContext NewContext() {
  DigestContext context(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) {
    throw Error("cannot initialise SHA-256 (libcrypto)");
  }
  return context;
}

std::string Finish(EVP_MD_CTX* context) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(context, digest, &length) != 1) throw Error("SHA-256 failed (libcrypto)");
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 15]);
  }
  return hex;
}

}  // namespace

struct Sha256::Context {
  DigestContext digest = NewContext();
};

Sha256::Sha256() : context_(std::make_unique<Context>()) {}
Sha256::~Sha256() = default;

void Sha256::Update(std::string_view bytes) {
  if (EVP_DigestUpdate(context_->digest.get(), bytes.data(), bytes.size()) != 1) {
    throw Error("SHA-256 failed (libcrypto)");
  }
}

std::string Sha256::HexDigest() { return Finish(context_->digest.get()); }

std::string Sha256Hex(const std::string& bytes) {
  auto context = NewContext();
  if (EVP_DigestUpdate(context.get(), bytes.data(), bytes.size()) != 1) throw Error("SHA-256 failed (libcrypto)");
  return Finish(context.get());
}

FileDigest Sha256OfFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw NotFoundError("cannot read " + path + ": " + std::strerror(errno));
  auto context = NewContext();
  FileDigest result;
  std::vector<char> buffer(1 << 20);
  while (true) {
    const ssize_t n = ::read(fd, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw Error("reading " + path + ": " + std::strerror(error));
    }
    if (n == 0) break;
    EVP_DigestUpdate(context.get(), buffer.data(), static_cast<size_t>(n));
    result.size += n;
  }
  ::close(fd);
  result.sha256 = Finish(context.get());
  return result;
}

}  // namespace wordbridge
