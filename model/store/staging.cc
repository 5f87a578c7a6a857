#include "model/store/staging.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <csignal>
#include <fstream>
#include <sstream>
#include <vector>

namespace wordbridge {
namespace {

constexpr char kPrefix[] = ".staging-";

std::string ReadFirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// Field 22 of /proc/PID/stat (starttime); 0 when the process does not exist or /proc is missing.
// The command name (field 2) may hold spaces and parentheses, so fields are counted after its last ')'.
uint64_t StartTime(int64_t pid) {
  const std::string stat = ReadFirstLine("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 22) return std::strtoull(field.c_str(), nullptr, 10);
  }
  return 0;
}

uint64_t PidNamespace() {
  struct stat info;
  return ::stat("/proc/self/ns/pid", &info) == 0 ? static_cast<uint64_t>(info.st_ino) : 0;
}

std::string BootId() {
  std::string id = ReadFirstLine("/proc/sys/kernel/random/boot_id");
  id.erase(std::remove(id.begin(), id.end(), '-'), id.end());
  const bool hex = !id.empty() && std::all_of(id.begin(), id.end(),
                                              [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
  return hex ? id : "";
}

std::string HostName() {
  char buffer[256] = {};
  std::string host = ::gethostname(buffer, sizeof(buffer) - 1) == 0 ? buffer : "";
  auto unsafe = [](char c) { return !(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-'); };
  host.erase(std::remove_if(host.begin(), host.end(), unsafe), host.end());
  host = host.substr(0, 64);
  return host.empty() ? "unknown" : host;
}

bool ParseNumber(const std::string& text, uint64_t* value) {
  if (text.empty() || text.size() > 20 || !std::all_of(text.begin(), text.end(), ::isdigit)) return false;
  *value = std::strtoull(text.c_str(), nullptr, 10);
  return true;
}

}  // namespace

StagingOwner StagingOwner::Current() { return OfProcess(::getpid()); }

StagingOwner StagingOwner::OfProcess(int64_t pid) {
  StagingOwner owner;
  owner.host = HostName();
  owner.boot_id = BootId();
  owner.pid_namespace = PidNamespace();
  owner.pid = pid;
  owner.start_time = StartTime(pid);
  return owner;
}

std::string StagingOwner::Tag(uint64_t sequence) const {
  return std::to_string(pid) + "-" + std::to_string(start_time) + "-" + std::to_string(pid_namespace) + "-" +
         std::to_string(sequence) + "-" + (boot_id.empty() ? "0" : boot_id) + "-" + host;
}

std::string StagingOwner::FolderName(uint64_t sequence) const { return kPrefix + Tag(sequence); }

std::optional<StagingOwner> StagingOwner::Parse(const std::string& folder_name) {
  if (!IsStagingName(folder_name)) return std::nullopt;
  // Six '-'-separated fields, then the host name (which may itself hold '-').
  std::vector<std::string> fields;
  size_t begin = sizeof(kPrefix) - 1;
  for (int i = 0; i < 5; ++i) {
    const size_t dash = folder_name.find('-', begin);
    if (dash == std::string::npos) return std::nullopt;
    fields.push_back(folder_name.substr(begin, dash - begin));
    begin = dash + 1;
  }
  StagingOwner owner;
  owner.host = folder_name.substr(begin);
  uint64_t pid = 0, sequence = 0;
  if (!ParseNumber(fields[0], &pid) || !ParseNumber(fields[1], &owner.start_time) ||
      !ParseNumber(fields[2], &owner.pid_namespace) || !ParseNumber(fields[3], &sequence) || owner.host.empty() ||
      pid == 0) {
    return std::nullopt;
  }
  owner.pid = static_cast<int64_t>(pid);
  owner.boot_id = fields[4] == "0" ? "" : fields[4];
  return owner;
}

bool StagingOwner::CheckableFrom(const StagingOwner& observer) const {
  return !boot_id.empty() && boot_id == observer.boot_id && pid_namespace != 0 &&
         pid_namespace == observer.pid_namespace;
}

bool StagingOwner::Alive() const {
  if (start_time != 0) return StartTime(pid) == start_time;
  // Start time unknown (no /proc when the folder was made): any process with the pid counts as alive.
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

bool IsStagingName(const std::string& folder_name) { return folder_name.rfind(kPrefix, 0) == 0; }

std::string TrashFolderName(const std::string& version, const StagingOwner& owner, uint64_t sequence) {
  return kTrashPrefix + version + "-" + owner.Tag(sequence);
}

bool IsTrashName(const std::string& folder_name) { return folder_name.rfind(kTrashPrefix, 0) == 0; }

bool IsAbandonedStaging(const std::string& path, const StagingOwner& observer,
                        std::chrono::system_clock::time_point now) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  if (!IsStagingName(name)) return false;
  const auto owner = StagingOwner::Parse(name);
  if (owner && owner->CheckableFrom(observer)) return !owner->Alive();
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) return false;  // gone already, or unreadable: leave it
  const auto changed = std::chrono::system_clock::from_time_t(info.st_mtime);
  return now - changed > kAbandonedStagingAge;
}

void RemoveAbandonedStaging(const std::string& folder, const StagingOwner& observer) {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (!IsAbandonedStaging(it->path().string(), observer)) continue;
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
}

}  // namespace wordbridge
