// Corpora that clients send over the network (the UploadCorpus RPC), stored under the data directory
// in `uploads/` so that Train can name them like any other file there ("uploads/<name>").
//
// An upload is written to a staging file in the same folder (named as model/store/staging.h names
// staging folders, so a crashed upload's file is recognised as abandoned and removed), flushed, its
// checksum compared with the client's, and then linked into place. Readers therefore never see a
// half-written corpus, and an upload that fails or is cancelled leaves nothing behind.
//
// Limits: one file's size, and the size of all stored uploads plus those in progress in this process
// (replicas sharing the volume each count what they see on disk plus their own uploads in progress).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "model/common/sha256.h"

namespace wordbridge {

struct UploadLimits {
  // Bytes of one uploaded file.
  int64_t max_file_bytes = int64_t{2} << 30;
  // Bytes of every file in uploads/ together, counting uploads in progress.
  int64_t max_total_bytes = int64_t{16} << 30;
};

struct UploadedCorpus {
  std::string name;  // the file name in uploads/
  std::string path;  // relative to the data directory, for Train's Corpus.tsv_path: "uploads/<name>"
  int64_t bytes = 0;
  int64_t lines = 0;       // newline-terminated lines, plus a last unterminated one; 0 from List
  std::string sha256;      // lower-case hex; empty from List (it would read every file)
  std::chrono::system_clock::time_point modified;
};

class CorpusUploads {
 public:
  static constexpr char kFolder[] = "uploads";
  // Longest accepted file name, in bytes.
  static constexpr size_t kMaxNameBytes = 200;

  // `data_dir` must exist; uploads/ is created on the first upload. Removes staging files that
  // crashed uploads left behind.
  CorpusUploads(std::string data_dir, UploadLimits limits);

  const UploadLimits& limits() const { return limits_; }

  // One upload in progress. Destroying it before Commit (an error, a cancelled call) removes its
  // staging file.
  class Upload {
   public:
    ~Upload();
    Upload(const Upload&) = delete;
    Upload& operator=(const Upload&) = delete;

    // Appends the next chunk. ResourceExhaustedError past a size limit or when the disk is full.
    void Append(std::string_view chunk);
    // Flushes the file and moves it into place. `expected_sha256` (hex, any case; empty = not
    // checked) must match what arrived, else InvalidArgumentError. AlreadyExistsError when a file of
    // that name appeared meanwhile and the upload does not overwrite.
    UploadedCorpus Commit(const std::string& expected_sha256);

   private:
    friend class CorpusUploads;
    Upload(CorpusUploads* owner, std::string name, bool overwrite, std::string staging_path, int fd);
    void Abandon();

    CorpusUploads* owner_;
    std::string name_;
    bool overwrite_;
    std::string staging_path_;
    int fd_;
    int64_t bytes_ = 0;
    int64_t lines_ = 0;
    bool ends_with_newline_ = true;
    Sha256 digest_;
    bool done_ = false;
  };

  // Starts an upload of `name`. InvalidArgumentError for a name that is not one plain file name
  // (letters, digits, '.', '-', '_'; not starting with '.'; at most kMaxNameBytes); AlreadyExistsError
  // when the file exists and `overwrite` is false; ResourceExhaustedError when the stored uploads
  // already fill the total limit.
  std::unique_ptr<Upload> Begin(const std::string& name, bool overwrite);

  // The stored uploads, by name (no checksums or line counts).
  std::vector<UploadedCorpus> List() const;
  // Deletes one; NotFoundError when there is none of that name.
  void Remove(const std::string& name);

  // Throws InvalidArgumentError unless `name` is acceptable (see Begin).
  static void CheckName(const std::string& name);

 private:
  std::string Folder() const;
  // Bytes of the stored uploads (regular files not starting with '.').
  int64_t StoredBytes() const;
  // Reserves `bytes` more for an upload in progress; ResourceExhaustedError past the total limit.
  void Reserve(int64_t bytes);
  void Release(int64_t bytes);
  void RemoveAbandonedStaging() const;

  std::string data_dir_;
  UploadLimits limits_;
  std::mutex mutex_;
  int64_t stored_bytes_ = 0;    // as of the last Begin
  int64_t in_progress_bytes_ = 0;
  uint64_t sequence_ = 0;
};

}  // namespace wordbridge
