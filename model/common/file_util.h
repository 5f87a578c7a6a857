// File helpers for writes that must survive a crash: temp file, fsync, rename, fsync the directory.
#pragma once

#include <string>

namespace wordbridge {

// Replaces `path` with `contents` so that a crash leaves either the old or the new file, never a torn one.
void WriteFileAtomically(const std::string& path, const std::string& contents);
// Flushes a file's data to disk.
void SyncFile(const std::string& path);
// Flushes a directory entry (after a rename into it).
void SyncDirectory(const std::string& dir);
// Reads a whole file; throws NotFoundError when it cannot be opened.
std::string ReadFile(const std::string& path);

}  // namespace wordbridge
