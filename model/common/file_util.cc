#include "model/common/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/common/errors.h"

namespace wordbridge {
namespace {

void SyncFd(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags);
  if (fd < 0) throw Error("cannot open " + path + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw Error("fsync " + path + ": " + std::strerror(errno));
}

}  // namespace

void SyncFile(const std::string& path) { SyncFd(path, O_RDONLY); }

void SyncDirectory(const std::string& dir) { SyncFd(dir, O_RDONLY | O_DIRECTORY); }

void WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw Error("cannot write " + tmp);
    out << contents;
    out.flush();
    if (!out) throw Error("write failed for " + tmp);
  }
  SyncFd(tmp, O_RDONLY);
  std::filesystem::rename(tmp, path);
  auto parent = std::filesystem::path(path).parent_path();
  SyncDirectory(parent.empty() ? "." : parent.string());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NotFoundError("cannot read " + path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace wordbridge
