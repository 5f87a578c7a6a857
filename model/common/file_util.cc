#include "model/common/file_util.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>

#include "model/common/errors.h"

namespace wordbridge {
namespace {

std::atomic<int64_t> free_space_for_testing{-1};

// How many of `want` bytes the injected free space lets through (all of them when no limit is set).
size_t FreeSpaceAllows(size_t want) {
  int64_t free = free_space_for_testing.load();
  while (free >= 0) {
    const int64_t grant = std::min<int64_t>(free, static_cast<int64_t>(want));
    if (free_space_for_testing.compare_exchange_weak(free, free - grant)) return static_cast<size_t>(grant);
  }
  return want;
}

void SyncFd(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) ThrowFileError("cannot open " + path, errno);
  int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) ThrowFileError("fsync " + path, error);
}

// Writes all of `contents` to `fd`; returns 0 or the errno of the failure.
int WriteAll(int fd, std::string_view contents) {
  size_t done = 0;
  while (done < contents.size()) {
    const size_t want = std::min<size_t>(contents.size() - done, size_t{1} << 24);
    const size_t allowed = FreeSpaceAllows(want);
    if (allowed > 0) {
      const ssize_t n = ::write(fd, contents.data() + done, allowed);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno;
      done += static_cast<size_t>(n);
    }
    if (allowed < want) return ENOSPC;
  }
  return 0;
}

}  // namespace

void ThrowFileError(const std::string& what, int error) {
  const std::string message = what + ": " + std::strerror(error);
  if (error == ENOSPC || error == EDQUOT) throw ResourceExhaustedError(message);
  throw Error(message);
}

void WriteToFd(int fd, std::string_view bytes, const std::string& what) {
  const int error = WriteAll(fd, bytes);
  if (error != 0) ThrowFileError(what, error);
}

FileLock::FileLock(const std::string& path, Mode mode, bool create) {
  const bool wait = mode == Mode::kWait;
  fd_ = ::open(path.c_str(), (create ? O_RDWR | O_CREAT : O_RDONLY) | O_CLOEXEC, 0644);
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

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

void SetFreeSpaceForTesting(int64_t bytes) { free_space_for_testing = bytes < 0 ? -1 : bytes; }

void SyncFile(const std::string& path) { SyncFd(path, O_RDONLY); }

void SyncDirectory(const std::string& dir) { SyncFd(dir, O_RDONLY | O_DIRECTORY); }

void WriteFileAtomically(const std::string& path, const std::string& contents) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) ThrowFileError("cannot write " + tmp, errno);
  int error = WriteAll(fd, contents);
  if (error == 0 && ::fsync(fd) != 0) error = errno;
  // close reports delayed write errors on some file systems (NFS).
  if (::close(fd) != 0 && error == 0) error = errno;
  if (error != 0) {
    ::unlink(tmp.c_str());  // nothing half-written stays behind
    ThrowFileError("writing " + path, error);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    error = errno;
    ::unlink(tmp.c_str());
    ThrowFileError("renaming " + tmp + " to " + path, error);
  }
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
