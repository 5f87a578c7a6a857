// Corpus uploads (model/train/corpus_uploads.h): what is stored, when, and what every failure leaves.
#include "model/train/corpus_uploads.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/common/sha256.h"
#include "model/store/staging.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;

class CorpusUploadsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_ = fs::temp_directory_path() / ("wb_uploads_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(data_);
    fs::create_directories(data_);
  }
  void TearDown() override {
    SetFreeSpaceForTesting(-1);
    fs::remove_all(data_);
  }

  // Every entry of uploads/, stored or staging.
  std::vector<std::string> Entries() const {
    std::vector<std::string> names;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(data_ / "uploads", error)) {
      names.push_back(entry.path().filename().string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  std::string Read(const std::string& name) const {
    std::ifstream in(data_ / "uploads" / name, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  fs::path data_;
};

TEST_F(CorpusUploadsTest, ChunksAreStoredAsOneFileWithSizeLinesAndChecksum) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  const std::string text = "hola mundo\thello world\nbuenos días\tgood morning\nsin fin\tno end";
  auto upload = uploads.Begin("greetings.tsv", false);
  for (size_t i = 0; i < text.size(); i += 7) upload->Append(std::string_view(text).substr(i, 7));
  // Nothing is visible under the final name before Commit.
  EXPECT_FALSE(fs::exists(data_ / "uploads" / "greetings.tsv"));
  const UploadedCorpus stored = upload->Commit(Sha256Hex(text));
  EXPECT_EQ(stored.path, "uploads/greetings.tsv");
  EXPECT_EQ(stored.bytes, static_cast<int64_t>(text.size()));
  EXPECT_EQ(stored.lines, 3);  // the last line has no newline and still counts
  EXPECT_EQ(stored.sha256, Sha256Hex(text));
  EXPECT_EQ(Read("greetings.tsv"), text);
  EXPECT_EQ(Entries(), std::vector<std::string>{"greetings.tsv"});  // no staging file left
  upload.reset();  // destroying a committed upload removes nothing
  EXPECT_EQ(Read("greetings.tsv"), text);
}

TEST_F(CorpusUploadsTest, NamesThatAreNotOnePlainFileNameAreRefused) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  for (const std::string name : std::vector<std::string>{"", ".", "..", "../escape.tsv", "a/b.tsv", ".hidden",
                                                         "sp ace.tsv", "tab\t.tsv", "ñ.tsv", std::string(201, 'a')}) {
    EXPECT_THROW(uploads.Begin(name, false), InvalidArgumentError) << name;
  }
  EXPECT_NO_THROW(uploads.Begin(std::string(200, 'a'), false));
  EXPECT_NO_THROW(uploads.Begin("Bible_es-en.v2.tsv", false));
  EXPECT_FALSE(fs::exists(data_ / "escape.tsv"));
}

TEST_F(CorpusUploadsTest, AnExistingNameNeedsOverwrite) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  auto first = uploads.Begin("c.tsv", false);
  first->Append("a\tb\n");
  first->Commit("");
  EXPECT_THROW(uploads.Begin("c.tsv", false), AlreadyExistsError);
  auto second = uploads.Begin("c.tsv", true);
  second->Append("c\td\n");
  second->Commit("");
  EXPECT_EQ(Read("c.tsv"), "c\td\n");
}

TEST_F(CorpusUploadsTest, OfTwoUploadsOfOneNameOnlyOneIsStored) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  auto a = uploads.Begin("same.tsv", false);
  auto b = uploads.Begin("same.tsv", false);  // both start before either is stored
  a->Append("from a\n");
  b->Append("from b\n");
  a->Commit("");
  EXPECT_THROW(b->Commit(""), AlreadyExistsError);
  b.reset();
  EXPECT_EQ(Read("same.tsv"), "from a\n");
  EXPECT_EQ(Entries(), std::vector<std::string>{"same.tsv"});
}

TEST_F(CorpusUploadsTest, AnUploadThatEndsWithoutCommitLeavesNothing) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  {
    auto upload = uploads.Begin("gone.tsv", false);
    upload->Append("half a corpus");
    EXPECT_EQ(Entries().size(), 1u);  // the staging file
  }
  EXPECT_TRUE(Entries().empty());
}

TEST_F(CorpusUploadsTest, AChecksumMismatchStoresNothing) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  auto upload = uploads.Begin("c.tsv", false);
  upload->Append("a\tb\n");
  try {
    upload->Commit(Sha256Hex("a\tc\n"));
    FAIL() << "a wrong checksum was accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("SHA-256"), std::string::npos) << e.what();
  }
  upload.reset();
  EXPECT_TRUE(Entries().empty());
  // Upper-case hex is the same checksum.
  auto again = uploads.Begin("c.tsv", false);
  again->Append("a\tb\n");
  std::string upper = Sha256Hex("a\tb\n");
  std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
  EXPECT_NO_THROW(again->Commit(upper));
}

TEST_F(CorpusUploadsTest, AFileOverTheSizeLimitIsRefusedAndRemoved) {
  UploadLimits limits;
  limits.max_file_bytes = 10;
  CorpusUploads uploads(data_.string(), limits);
  auto upload = uploads.Begin("big.tsv", false);
  upload->Append("123456");
  EXPECT_THROW(upload->Append("78901"), ResourceExhaustedError);
  upload.reset();
  EXPECT_TRUE(Entries().empty());
  // Exactly the limit is fine.
  auto fits = uploads.Begin("big.tsv", false);
  fits->Append("1234567890");
  EXPECT_EQ(fits->Commit("").bytes, 10);
}

TEST_F(CorpusUploadsTest, TheTotalCountsStoredUploadsAndUploadsInProgress) {
  UploadLimits limits;
  limits.max_total_bytes = 20;
  CorpusUploads uploads(data_.string(), limits);
  auto stored = uploads.Begin("a.tsv", false);
  stored->Append("0123456789");  // 10 stored
  stored->Commit("");
  auto running = uploads.Begin("b.tsv", false);
  running->Append("01234");  // 5 in progress
  auto third = uploads.Begin("c.tsv", false);
  EXPECT_THROW(third->Append("0123456"), ResourceExhaustedError);  // 10 + 5 + 7 > 20
  third.reset();
  running.reset();  // its 5 bytes are released
  auto fourth = uploads.Begin("d.tsv", false);
  fourth->Append("0123456789");  // 10 + 10 = 20: fits
  fourth->Commit("");
  EXPECT_THROW(uploads.Begin("e.tsv", false), ResourceExhaustedError);  // full before any byte
  // Deleting makes room again.
  uploads.Remove("a.tsv");
  EXPECT_NO_THROW(uploads.Begin("e.tsv", false)->Append("0123456789"));
}

TEST_F(CorpusUploadsTest, AFullDiskIsResourceExhaustedAndLeavesNothing) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  auto upload = uploads.Begin("c.tsv", false);
  SetFreeSpaceForTesting(4);
  EXPECT_THROW(upload->Append("more than four bytes"), ResourceExhaustedError);
  upload.reset();
  SetFreeSpaceForTesting(-1);
  EXPECT_TRUE(Entries().empty());
}

TEST_F(CorpusUploadsTest, ListAndRemove) {
  CorpusUploads uploads(data_.string(), UploadLimits{});
  EXPECT_TRUE(uploads.List().empty());  // no uploads/ folder yet
  for (const std::string name : std::vector<std::string>{"b.tsv", "a.tsv"}) {
    auto upload = uploads.Begin(name, false);
    upload->Append(name + "\n");
    upload->Commit("");
  }
  auto in_progress = uploads.Begin("c.tsv", false);  // not listed
  const auto listed = uploads.List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "a.tsv");
  EXPECT_EQ(listed[0].path, "uploads/a.tsv");
  EXPECT_EQ(listed[0].bytes, 6);
  EXPECT_EQ(listed[1].name, "b.tsv");
  uploads.Remove("a.tsv");
  EXPECT_THROW(uploads.Remove("a.tsv"), NotFoundError);
  EXPECT_THROW(uploads.Remove("../x"), InvalidArgumentError);
  ASSERT_EQ(uploads.List().size(), 1u);
}

TEST_F(CorpusUploadsTest, StagingFilesOfDeadProcessesAreRemovedAtStart) {
  fs::create_directories(data_ / "uploads");
  const pid_t dead = ::fork();
  if (dead == 0) {
    ::pause();
    ::_exit(0);
  }
  const std::string dead_file = StagingOwner::OfProcess(dead).FolderName(3);  // read while it runs
  ::kill(dead, SIGKILL);
  ::waitpid(dead, nullptr, 0);
  const std::string live_file = StagingOwner::Current().FolderName(999);
  std::ofstream(data_ / "uploads" / dead_file) << "half";
  std::ofstream(data_ / "uploads" / live_file) << "half";
  std::ofstream(data_ / "uploads" / "kept.tsv") << "a\tb\n";
  CorpusUploads uploads(data_.string(), UploadLimits{});
  EXPECT_FALSE(fs::exists(data_ / "uploads" / dead_file));
  EXPECT_TRUE(fs::exists(data_ / "uploads" / live_file));  // its owner (this process) still runs
  EXPECT_TRUE(fs::exists(data_ / "uploads" / "kept.tsv"));
}

}  // namespace
}  // namespace wordbridge
