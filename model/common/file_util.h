// File helpers for writes that must survive a crash: temp file, fsync, rename, fsync the directory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wordbridge {

// Replaces `path` with `contents` so that a crash leaves either the old or the new file, never a torn one.
// A failed write removes its temp file and throws as ThrowFileError does (ResourceExhaustedError when
// the disk or quota is full).
void WriteFileAtomically(const std::string& path, const std::string& contents);
// Writes all of `bytes` to the open file `fd` (honouring SetFreeSpaceForTesting); throws as
// ThrowFileError does, with `what` naming the file.
void WriteToFd(int fd, std::string_view bytes, const std::string& what);
// Flushes a file's data to disk.
void SyncFile(const std::string& path);
// Flushes a directory entry (after a rename into it).
void SyncDirectory(const std::string& dir);
// Reads a whole file; throws NotFoundError when it cannot be opened.
std::string ReadFile(const std::string& path);

// An exclusive flock on a file, held for the object's life. flock belongs to the open file
// description, so two threads of one process exclude each other just as two processes do, and the
// kernel drops it when its holder dies: a crash never leaves a file locked. Across machines it needs a
// file system whose locks reach the server (NFS with lockd or v4, CephFS); docs/design.md.
class FileLock {
 public:
  enum class Mode { kWait, kTry };
  // Opens `path` (creating it when `create`) and locks it. kWait waits for the lock and throws as
  // ThrowFileError does when the file cannot be opened or locked; kTry returns at once, and held()
  // says whether the lock was free (false also when the file cannot be opened).
  FileLock(const std::string& path, Mode mode, bool create = true);
  ~FileLock();  // closing the last descriptor releases the lock
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

// Throws the typed error for a failed file operation: ResourceExhaustedError for ENOSPC and EDQUOT
// (a full disk is a limit, not a bug: the caller can free space and retry), Error otherwise. The
// message is "<what>: <strerror>".
[[noreturn]] void ThrowFileError(const std::string& what, int error);

// Fault injection for tests: WriteFileAtomically behaves as if the file system had `bytes` free
// (shared by all writes of the process until reset), writing what fits and then failing with ENOSPC
// as write(2) does on a full disk. Negative: no limit (the default). Works without privileges, unlike
// a small tmpfs.
void SetFreeSpaceForTesting(int64_t bytes);

}  // namespace wordbridge
