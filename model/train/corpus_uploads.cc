#include "model/train/corpus_uploads.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/store/staging.h"

namespace wordbridge {
namespace fs = std::filesystem;

namespace {

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string Gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  return text;
}

}  // namespace

CorpusUploads::CorpusUploads(std::string data_dir, UploadLimits limits)
    : data_dir_(std::move(data_dir)), limits_(limits) {
  RemoveAbandonedStaging();
}

std::string CorpusUploads::Folder() const { return (fs::path(data_dir_) / kFolder).string(); }

void CorpusUploads::CheckName(const std::string& name) {
  const auto allowed = [](unsigned char c) { return std::isalnum(c) || c == '.' || c == '-' || c == '_'; };
  if (name.empty() || name.size() > kMaxNameBytes || name.front() == '.' ||
      !std::all_of(name.begin(), name.end(), allowed)) {
    throw InvalidArgumentError("upload name '" + name.substr(0, kMaxNameBytes) +
                               "' must be one file name of letters, digits, '.', '-' and '_', not starting with "
                               "'.', at most " + std::to_string(kMaxNameBytes) + " bytes");
  }
}

int64_t CorpusUploads::StoredBytes() const {
  int64_t total = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(Folder(), error)) {
    const std::string name = entry.path().filename().string();
    std::error_code ignored;
    if (name.front() != '.' && entry.is_regular_file(ignored)) total += static_cast<int64_t>(entry.file_size(ignored));
  }
  return total;
}

void CorpusUploads::RemoveAbandonedStaging() const {
  wordbridge::RemoveAbandonedStaging(Folder(), StagingOwner::Current());
}

void CorpusUploads::Reserve(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stored_bytes_ + in_progress_bytes_ + bytes > limits_.max_total_bytes) {
    throw ResourceExhaustedError("uploads would exceed the server's total of " + Gib(limits_.max_total_bytes) +
                                 " (--max-upload-total-bytes; " + Gib(stored_bytes_) +
                                 " stored): delete uploads that are no longer needed");
  }
  in_progress_bytes_ += bytes;
}

void CorpusUploads::Release(int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  in_progress_bytes_ -= bytes;
}

std::unique_ptr<CorpusUploads::Upload> CorpusUploads::Begin(const std::string& name, bool overwrite) {
  CheckName(name);
  std::error_code error;
  fs::create_directories(Folder(), error);
  if (error) ThrowFileError("cannot create " + Folder(), error.value());
  RemoveAbandonedStaging();
  if (!overwrite && fs::exists(fs::path(Folder()) / name)) {
    throw AlreadyExistsError("an upload named '" + name + "' exists; delete it or set overwrite");
  }
  uint64_t sequence;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stored_bytes_ = StoredBytes();
    if (stored_bytes_ + in_progress_bytes_ >= limits_.max_total_bytes) {
      throw ResourceExhaustedError("stored uploads fill the server's total of " + Gib(limits_.max_total_bytes) +
                                   " (--max-upload-total-bytes): delete uploads that are no longer needed");
    }
    sequence = sequence_++;
  }
  const std::string staging = (fs::path(Folder()) / StagingOwner::Current().FolderName(sequence)).string();
  const int fd = ::open(staging.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) ThrowFileError("cannot create " + staging, errno);
  return std::unique_ptr<Upload>(new Upload(this, name, overwrite, staging, fd));
}

std::vector<UploadedCorpus> CorpusUploads::List() const {
  std::vector<UploadedCorpus> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(Folder(), error)) {
    const std::string name = entry.path().filename().string();
    struct stat info;
    if (name.front() == '.' || ::stat(entry.path().c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;
    UploadedCorpus file;
    file.name = name;
    file.path = std::string(kFolder) + "/" + name;
    file.bytes = info.st_size;
    file.modified = std::chrono::system_clock::from_time_t(info.st_mtime);
    files.push_back(std::move(file));
  }
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return files;
}

void CorpusUploads::Remove(const std::string& name) {
  CheckName(name);
  const fs::path path = fs::path(Folder()) / name;
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) throw NotFoundError("no upload named '" + name + "'");
    ThrowFileError("cannot delete " + path.string(), errno);
  }
  SyncDirectory(Folder());
}

CorpusUploads::Upload::Upload(CorpusUploads* owner, std::string name, bool overwrite, std::string staging_path,
                              int fd)
    : owner_(owner), name_(std::move(name)), overwrite_(overwrite), staging_path_(std::move(staging_path)), fd_(fd) {}

CorpusUploads::Upload::~Upload() { Abandon(); }

void CorpusUploads::Upload::Abandon() {
  if (done_) return;
  done_ = true;
  ::close(fd_);
  ::unlink(staging_path_.c_str());
  owner_->Release(bytes_);
}

void CorpusUploads::Upload::Append(std::string_view chunk) {
  if (done_) throw FailedPreconditionError("upload of '" + name_ + "' has ended");
  if (chunk.empty()) return;
  const int64_t size = static_cast<int64_t>(chunk.size());
  if (bytes_ + size > owner_->limits_.max_file_bytes) {
    throw ResourceExhaustedError("upload '" + name_ + "' is larger than the server's limit of " +
                                 Gib(owner_->limits_.max_file_bytes) + " per file (--max-upload-bytes)");
  }
  owner_->Reserve(size);
  bytes_ += size;  // released by Abandon, or kept as stored bytes after Commit
  WriteToFd(fd_, chunk, "writing upload '" + name_ + "'");
  digest_.Update(chunk);
  lines_ += std::count(chunk.begin(), chunk.end(), '\n');
  ends_with_newline_ = chunk.back() == '\n';
}

UploadedCorpus CorpusUploads::Upload::Commit(const std::string& expected_sha256) {
  if (done_) throw FailedPreconditionError("upload of '" + name_ + "' has ended");
  UploadedCorpus result;
  result.name = name_;
  result.path = std::string(kFolder) + "/" + name_;
  result.bytes = bytes_;
  result.lines = lines_ + (ends_with_newline_ ? 0 : 1);
  result.sha256 = digest_.HexDigest();
  if (!expected_sha256.empty() && Lower(expected_sha256) != result.sha256) {
    throw InvalidArgumentError("upload '" + name_ + "' arrived with SHA-256 " + result.sha256 +
                               ", not the " + expected_sha256 + " the client sent: nothing was stored");
  }
  if (::fsync(fd_) != 0) ThrowFileError("fsync of upload '" + name_ + "'", errno);
  const std::string final_path = (fs::path(owner_->Folder()) / name_).string();
  if (overwrite_) {
    if (::rename(staging_path_.c_str(), final_path.c_str()) != 0) ThrowFileError("cannot store " + final_path, errno);
  } else {
    // link() fails with EEXIST instead of replacing, so two uploads of one name cannot both win.
    if (::link(staging_path_.c_str(), final_path.c_str()) != 0) {
      const int error = errno;
      if (error == EEXIST) throw AlreadyExistsError("an upload named '" + name_ + "' was stored meanwhile");
      // File systems without hard links: check, then rename (a concurrent upload of the same name may win).
      if (error != EPERM && error != EOPNOTSUPP) ThrowFileError("cannot store " + final_path, error);
      if (fs::exists(final_path)) throw AlreadyExistsError("an upload named '" + name_ + "' was stored meanwhile");
      if (::rename(staging_path_.c_str(), final_path.c_str()) != 0) ThrowFileError("cannot store " + final_path, errno);
    }
    ::unlink(staging_path_.c_str());
  }
  SyncDirectory(owner_->Folder());
  done_ = true;
  ::close(fd_);
  result.modified = std::chrono::system_clock::now();
  {
    std::lock_guard<std::mutex> lock(owner_->mutex_);
    owner_->in_progress_bytes_ -= bytes_;
    owner_->stored_bytes_ += bytes_;
  }
  return result;
}

}  // namespace wordbridge
