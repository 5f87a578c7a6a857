// Helpers shared by the fuzz targets: the libFuzzer entry points, a scratch file for readers that
// take a path, and a reader that splits the fuzzer's bytes into choices and strings.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace wordbridge::fuzz {

// Aborts with a message: a broken invariant is a finding, like a sanitizer report.
#define FUZZ_CHECK(condition)                                                      \
  do {                                                                             \
    if (!(condition)) {                                                            \
      fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #condition); \
      abort();                                                                     \
    }                                                                              \
  } while (0)

// A directory of this process's own, made on first use: under $WORDBRIDGE_FUZZ_TMP, else /dev/shm
// (memory: a file written per input on a disk-backed /tmp cost 6 ms an input), else /tmp. The readers
// under test open files by path, so the fuzzer's bytes go through a real file.
inline const std::string& ScratchDir() {
  // Never destroyed: the exit handler that removes the directory runs after static destructors.
  static const std::string* dir = [] {
    const char* tmp = std::getenv("WORDBRIDGE_FUZZ_TMP");
    std::string base = tmp && *tmp ? tmp : ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    auto* path = new std::string(base + "/wordbridge-fuzz-" + std::to_string(::getpid()));
    ::mkdir(path->c_str(), 0700);
    std::atexit([] { std::filesystem::remove_all(ScratchDir()); });
    return path;
  }();
  return *dir;
}

// Writes `bytes` to ScratchDir()/name and returns the path.
inline std::string WriteScratch(const std::string& name, const std::string& bytes) {
  const std::string path = ScratchDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// Takes choices and strings off the front of the fuzzer's bytes (libFuzzer's FuzzedDataProvider is
// a clang header; this keeps the targets building with gcc for the seed-corpus tests).
class Bytes {
 public:
  Bytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return size_ == 0; }
  // One byte (0 when none are left).
  uint8_t Byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  // Bytes up to the next `separator` (consumed) or the end.
  std::string Until(char separator) {
    size_t n = 0;
    while (n < size_ && data_[n] != static_cast<uint8_t>(separator)) ++n;
    std::string out(reinterpret_cast<const char*>(data_), n);
    const size_t taken = n < size_ ? n + 1 : n;
    data_ += taken;
    size_ -= taken;
    return out;
  }
  std::string Rest() {
    std::string out(reinterpret_cast<const char*>(data_), size_);
    data_ += size_;
    size_ = 0;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

}  // namespace wordbridge::fuzz
