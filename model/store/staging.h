// Staging folders: where Publish writes a version before renaming it into place, and how a rescan
// decides that one is abandoned (its writer died mid-publish) and may be removed.
//
// The owner is recorded in the folder's name, so it exists from the mkdir that makes the folder: a
// cleaner never sees a staging folder whose owner it cannot tell (a file inside would be missing until
// written). The name holds what identifies a process across replicas sharing one volume:
//   .staging-<pid>-<start time>-<pid namespace>-<sequence>-<boot id>-<host>
// A pid means one process only within one pid namespace of one boot of one machine, and the start
// time tells a reused pid apart. Containers on one node share the boot id but not the pid namespace.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace wordbridge {

// A staging folder whose owner cannot be checked (another machine or container, or a name from
// before owners were recorded) is abandoned once it has not changed for this long. Publishing writes
// a version's files one after another (each write changes the folder), and even a multi-gigabyte
// weights file is written in minutes, so an hour without a change means its writer is gone.
inline constexpr std::chrono::seconds kAbandonedStagingAge = std::chrono::hours(1);

struct StagingOwner {
  std::string host;            // host name, [A-Za-z0-9.-] only (for people reading the folder name)
  std::string boot_id;         // /proc/sys/kernel/random/boot_id without dashes; empty when unknown
  uint64_t pid_namespace = 0;  // inode of /proc/self/ns/pid; 0 when unknown
  int64_t pid = 0;
  uint64_t start_time = 0;     // field 22 of /proc/PID/stat (clock ticks after boot); 0 when unknown

  // This process.
  static StagingOwner Current();
  // The owner of process `pid` as this process sees it (same machine and namespace), for tests.
  static StagingOwner OfProcess(int64_t pid);
  // The folder name for this owner's `sequence`-th staging folder.
  std::string FolderName(uint64_t sequence) const;
  // What follows the prefix in FolderName: "<pid>-<start time>-<pid namespace>-<sequence>-<boot id>-<host>".
  std::string Tag(uint64_t sequence) const;
  // The owner a staging folder name records; nullopt for names in another format.
  static std::optional<StagingOwner> Parse(const std::string& folder_name);
  // Whether this owner's pid can be checked from `observer`: same boot and pid namespace, both known.
  bool CheckableFrom(const StagingOwner& observer) const;
  // Whether the owner process still runs (same pid and start time). Only meaningful when CheckableFrom.
  bool Alive() const;
};

bool IsStagingName(const std::string& folder_name);

// Trash folders: DeleteVersion renames a version to `.deleting-<version>-<owner tag>` before removing
// it, so loaders never see a half-removed version (the name is not a version number). The publish lock
// is held from the rename until the folder is gone, so a trash folder seen under that lock was left by
// a crash and may be removed.
inline constexpr char kTrashPrefix[] = ".deleting-";
std::string TrashFolderName(const std::string& version, const StagingOwner& owner, uint64_t sequence);
bool IsTrashName(const std::string& folder_name);

// Whether the staging folder `path` may be removed by `observer`: its owner is checkable and no longer
// runs, or it is not checkable and the folder has not changed for kAbandonedStagingAge.
bool IsAbandonedStaging(const std::string& path, const StagingOwner& observer,
                        std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// Removes every abandoned staging file or folder directly inside `folder` (none when it does not
// exist). Errors are ignored: another cleaner may be removing the same entries.
void RemoveAbandonedStaging(const std::string& folder, const StagingOwner& observer);

}  // namespace wordbridge
