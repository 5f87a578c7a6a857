// Model files and the versioned store: round trips, publishing, crash leftovers, damaged versions,
// several processes on one store, staging folders, manifests, memory budgets and a full disk.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/common/sha256.h"
#include "model/store/manifest.h"
#include "model/store/model_store.h"
#include "model/store/staging.h"
#include "tests/model/test_util.h"

extern char** environ;

namespace wordbridge {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("wb_store_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override {
    SetFreeSpaceForTesting(-1);
    fs::remove_all(root_);
  }

  // Names of the entries of `dir` that start with `prefix`.
  static std::vector<std::string> EntriesStartingWith(const fs::path& dir, const std::string& prefix) {
    std::vector<std::string> names;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      const auto name = entry.path().filename().string();
      if (name.rfind(prefix, 0) == 0) names.push_back(name);
    }
    return names;
  }

  static bool Contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  }

  fs::path root_;
};

// Starts `argv` with stdout into `out` (or inherited); returns its pid.
pid_t Spawn(const std::vector<std::string>& argv, const std::string& out = "") {
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!out.empty()) posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << argv[0];
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(StoreTest, SaveLoadRoundTripTranslatesIdentically) {
  auto bundle = SeedToy();
  fs::create_directories(root_);
  bundle->Save(root_.string());
  auto loaded = ModelBundle::Load("toy", "1", root_.string());
  const std::vector<std::string> sentences = {"我 爱 自然 语言 处理", "今天 天气 很 好", "机器 学习 很 强大"};
  TranslationOptions options;
  options.beam_size = 3;
  auto a = bundle->Translate(sentences, options, nullptr);
  auto b = loaded->Translate(sentences, options, nullptr);
  for (size_t i = 0; i < sentences.size(); ++i) {
    EXPECT_EQ(a[i].hypotheses[0].text, b[i].hypotheses[0].text);
    EXPECT_DOUBLE_EQ(a[i].hypotheses[0].score, b[i].hypotheses[0].score);
  }
  EXPECT_TRUE(torch::equal(bundle->network().target_embedding(), loaded->network().target_embedding()));
  EXPECT_EQ(loaded->metrics().at("epochs"), 50);
}

TEST_F(StoreTest, PublishCreatesVersionsAndServesNewest) {
  ModelStore store(root_.string());
  auto v1 = store.Publish("toy", PartsOf(*SeedToy()));
  auto v2 = store.Publish("toy", PartsOf(*SeedToy()));
  EXPECT_EQ(v1->version(), "1");
  EXPECT_EQ(v2->version(), "2");
  EXPECT_EQ(store.Get("toy")->version(), "2");
  EXPECT_EQ(store.Get("toy", "1")->version(), "1");
  EXPECT_THROW(store.Get("toy", "7"), NotFoundError);
  EXPECT_THROW(store.Get("nope"), NotFoundError);
  auto list = store.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].versions, (std::vector<std::string>{"1", "2"}));
  // Each version carries a manifest of its files.
  EXPECT_EQ(VerifyManifest((root_ / "toy" / "2").string()), ManifestCheck::kVerified);

  // A second store on the same directory (another replica) loads the newest version.
  ModelStore replica(root_.string());
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "2");
}

TEST_F(StoreTest, CrashLeftoversAndDamagedVersionsAreSkipped) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  store.Publish("toy", PartsOf(*SeedToy()));
  // Version 2 is damaged, and a crash long ago left a staging folder (in the format before owners
  // were recorded) behind.
  { std::ofstream(root_ / "toy" / "2" / "weights.pt", std::ios::trunc) << "garbage"; }
  fs::create_directories(root_ / "toy" / ".staging-3-1");
  fs::last_write_time(root_ / "toy" / ".staging-3-1", fs::file_time_type::clock::now() - std::chrono::hours(2));
  ModelStore restarted(root_.string());
  auto problems = restarted.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(Contains(problems[0], "version 2")) << problems[0];
  EXPECT_EQ(restarted.Get("toy")->version(), "1");
  EXPECT_FALSE(fs::exists(root_ / "toy" / ".staging-3-1"));
  // Reported once, not at every rescan.
  EXPECT_TRUE(restarted.LoadAll().empty());
}

// Found by fuzz/model_files_fuzzer.cc: a float where config.json has a size was cast to int64 with
// undefined behaviour (1e300). Sizes must be 64-bit integers; anything else is a damaged version.
TEST(ModelConfigJsonTest, NonIntegerSizesAreDamage) {
  const std::string valid = ModelConfig::ForArchitecture("seed").ToJson();
  EXPECT_NO_THROW(ModelConfig::FromJson(valid));
  for (const std::string& value : {"1e+300", "-1e300", "64.5", "18446744073709551615", "\"64\""}) {
    std::string damaged = valid;
    const std::string field = "\"embed_dim\": 64";
    damaged.replace(damaged.find(field), field.size(), "\"embed_dim\": " + value);
    EXPECT_THROW(ModelConfig::FromJson(damaged), FailedPreconditionError) << value;
  }
}

TEST_F(StoreTest, RejectsBadNames) {
  ModelStore store(root_.string());
  for (const std::string& name : std::vector<std::string>{"", "../etc", ".hidden", "a/b", std::string(65, 'x')}) {
    EXPECT_THROW(ModelStore::ValidateName(name), InvalidArgumentError) << name;
  }
  EXPECT_NO_THROW(ModelStore::ValidateName("es-en_v2.1"));
}

TEST_F(StoreTest, Sha256MatchesKnownDigests) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  fs::create_directories(root_);
  const std::string big(3 << 20, 'a');  // several read buffers
  WriteFileAtomically((root_ / "f").string(), big);
  const auto digest = Sha256OfFile((root_ / "f").string());
  EXPECT_EQ(digest.size, static_cast<int64_t>(big.size()));
  EXPECT_EQ(digest.sha256, Sha256Hex(big));
}

// Two processes publish into one store, each rescanning between publishes, while a third store in
// this process rescans continuously: every version number is taken exactly once, and the watcher never
// meets a version it cannot load (none is visible half-written) nor goes back to an older one.
TEST_F(StoreTest, TwoProcessesPublishWhileReloading) {
  constexpr int kEach = 8;
  const fs::path models = root_ / "models";
  const fs::path source = root_ / "source";
  fs::create_directories(source);
  SeedToy()->Save(source.string());

  ModelStore store(models.string()), watcher(models.string());
  std::atomic<bool> done{false};
  std::vector<std::string> watcher_problems;
  int64_t watcher_newest = 0;
  bool watcher_went_back = false;
  std::thread watch([&] {
    while (!done) {
      for (auto& p : watcher.LoadAll()) watcher_problems.push_back(p);
      if (watcher.Has("toy")) {
        const int64_t serving = std::stoll(watcher.Get("toy")->version());
        watcher_went_back |= serving < watcher_newest;
        watcher_newest = std::max(watcher_newest, serving);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });

  const std::string child_out = (root_ / "child.out").string();
  const pid_t child = Spawn({WORDBRIDGE_STORE_PUBLISHER_BIN, models.string(), "toy", source.string(),
                             std::to_string(kEach)},
                            child_out);
  std::vector<int64_t> mine;
  std::vector<std::string> my_problems;
  for (int i = 0; i < kEach; ++i) {
    mine.push_back(std::stoll(store.Publish("toy", PartsOf(*SeedToy()))->version()));
    for (auto& p : store.LoadAll()) my_problems.push_back(p);
  }
  EXPECT_EQ(WaitExit(child), 0);
  done = true;
  watch.join();

  std::vector<int64_t> theirs;
  std::vector<std::string> their_problems;
  std::ifstream in(child_out);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("published ", 0) == 0) theirs.push_back(std::stoll(line.substr(10)));
    if (line.rfind("problem ", 0) == 0) their_problems.push_back(line);
  }
  EXPECT_EQ(theirs.size(), static_cast<size_t>(kEach));
  EXPECT_TRUE(std::is_sorted(mine.begin(), mine.end()));
  EXPECT_TRUE(std::is_sorted(theirs.begin(), theirs.end()));
  std::multiset<int64_t> all(mine.begin(), mine.end());
  all.insert(theirs.begin(), theirs.end());
  std::multiset<int64_t> expected;
  for (int64_t v = 1; v <= 2 * kEach; ++v) expected.insert(v);
  EXPECT_EQ(all, expected) << "versions lost or taken twice";

  // On disk: exactly those versions, each complete and matching its manifest; no staging left.
  std::set<int64_t> on_disk;
  for (const auto& entry : fs::directory_iterator(models / "toy")) {
    const auto name = entry.path().filename().string();
    EXPECT_FALSE(IsStagingName(name)) << name;
    if (entry.is_directory()) {
      on_disk.insert(std::stoll(name));
      EXPECT_EQ(VerifyManifest(entry.path().string()), ManifestCheck::kVerified) << name;
    }
  }
  EXPECT_EQ(on_disk.size(), static_cast<size_t>(2 * kEach));
  EXPECT_TRUE(my_problems.empty()) << my_problems.front();
  EXPECT_TRUE(their_problems.empty()) << their_problems.front();
  EXPECT_TRUE(watcher_problems.empty()) << watcher_problems.front();
  EXPECT_FALSE(watcher_went_back);
  EXPECT_TRUE(watcher.LoadAll().empty());
  EXPECT_EQ(watcher.Get("toy")->version(), std::to_string(2 * kEach));
  std::cout << "two processes: published " << mine.size() << " + " << theirs.size() << ", versions on disk "
            << on_disk.size() << " (1.." << *on_disk.rbegin() << "), watcher saw up to " << watcher_newest
            << std::endl;
}

TEST_F(StoreTest, StagingFolderNamesRecordTheirOwner) {
  StagingOwner owner = StagingOwner::Current();
  owner.host = "pod-a.b-c";
  const auto parsed = StagingOwner::Parse(owner.FolderName(7));
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->host, "pod-a.b-c");
  EXPECT_EQ(parsed->pid, owner.pid);
  EXPECT_EQ(parsed->start_time, owner.start_time);
  EXPECT_EQ(parsed->pid_namespace, owner.pid_namespace);
  EXPECT_EQ(parsed->boot_id, owner.boot_id);
  EXPECT_TRUE(parsed->CheckableFrom(StagingOwner::Current()));
  EXPECT_TRUE(parsed->Alive());
  EXPECT_FALSE(StagingOwner::Parse(".staging-3-1").has_value());  // the format before owners
  EXPECT_FALSE(StagingOwner::Parse("3").has_value());
}

// A staging folder is removed only when provably abandoned: its owner on this machine is gone, or
// (owner not checkable) it has not changed for an hour; and never while a publish holds the lock.
TEST_F(StoreTest, StagingFoldersOfLiveOwnersAreKeptAbandonedOnesRemoved) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  const fs::path model = root_ / "toy";
  const auto two_hours_ago = fs::file_time_type::clock::now() - std::chrono::hours(2);

  const pid_t live = Spawn({"/bin/sleep", "60"});
  const pid_t dead = Spawn({"/bin/sleep", "60"});
  const std::string live_folder = StagingOwner::OfProcess(live).FolderName(1);
  const std::string dead_folder = StagingOwner::OfProcess(dead).FolderName(1);
  ::kill(dead, SIGKILL);
  WaitExit(dead);
  const std::string mine = StagingOwner::Current().FolderName(99);
  StagingOwner elsewhere = StagingOwner::Current();
  elsewhere.boot_id = "0123456789abcdef0123456789abcdef";  // another machine
  const std::string elsewhere_fresh = elsewhere.FolderName(1), elsewhere_old = elsewhere.FolderName(2);
  for (const auto& name : {live_folder, dead_folder, mine, elsewhere_fresh, elsewhere_old, std::string(".staging-4-2"),
                           std::string(".staging-5-3")}) {
    fs::create_directories(model / name);
    std::ofstream(model / name / "config.json") << "{}";
  }
  // Old: the owner on another machine is not checkable, and the folder has not changed for 2 hours.
  fs::last_write_time(model / elsewhere_old, two_hours_ago);
  fs::last_write_time(model / ".staging-5-3", two_hours_ago);

  // While a publish holds the model's lock, a rescan removes nothing, not even abandoned folders.
  {
    const int fd = ::open((model / ModelStore::kLockFileName).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    EXPECT_TRUE(store.LoadAll().empty());
    EXPECT_TRUE(fs::exists(model / dead_folder));
    ::close(fd);
  }
  EXPECT_TRUE(store.LoadAll().empty());
  EXPECT_TRUE(fs::exists(model / live_folder));
  EXPECT_TRUE(fs::exists(model / mine));
  EXPECT_TRUE(fs::exists(model / elsewhere_fresh));
  EXPECT_TRUE(fs::exists(model / ".staging-4-2"));  // old format, recent
  EXPECT_FALSE(fs::exists(model / dead_folder));
  EXPECT_FALSE(fs::exists(model / elsewhere_old));
  EXPECT_FALSE(fs::exists(model / ".staging-5-3"));

  // Once the live owner ends, its folder is abandoned.
  ::kill(live, SIGKILL);
  WaitExit(live);
  store.LoadAll();
  EXPECT_FALSE(fs::exists(model / live_folder));
  EXPECT_EQ(store.Get("toy")->version(), "1");
}

TEST_F(StoreTest, TruncatedOrTamperedVersionsAreRefusedAndTheOldOneServes) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  store.Publish("toy", PartsOf(*SeedToy()));
  ModelStore replica(root_.string());
  EXPECT_TRUE(replica.LoadAll().empty());
  ASSERT_EQ(replica.Get("toy")->version(), "2");

  // Version 3: weights truncated (a copy that stopped half-way).
  store.Publish("toy", PartsOf(*SeedToy()));
  const fs::path weights3 = root_ / "toy" / "3" / "weights.pt";
  fs::resize_file(weights3, fs::file_size(weights3) / 2);
  auto problems = replica.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(Contains(problems[0], "version 3") && Contains(problems[0], "weights.pt has")) << problems[0];
  EXPECT_EQ(replica.Get("toy")->version(), "2");
  EXPECT_TRUE(replica.LoadAll().empty()) << "a refused version is reported once";

  // Version 4: one byte of a vocabulary changed, same size.
  store.Publish("toy", PartsOf(*SeedToy()));
  const fs::path vocab4 = root_ / "toy" / "4" / "target.vocab";
  std::string text = ReadFile(vocab4.string());
  text[text.size() - 2] ^= 1;
  { std::ofstream(vocab4, std::ios::binary | std::ios::trunc) << text; }
  problems = replica.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(Contains(problems[0], "version 4") && Contains(problems[0], "another SHA-256")) << problems[0];
  EXPECT_EQ(replica.Get("toy")->version(), "2");

  // Version 5: a file the manifest does not list.
  store.Publish("toy", PartsOf(*SeedToy()));
  { std::ofstream(root_ / "toy" / "5" / "extra.bin") << "x"; }
  problems = replica.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(Contains(problems[0], "extra.bin is not listed")) << problems[0];
  EXPECT_EQ(replica.Get("toy")->version(), "2");
  EXPECT_TRUE(replica.LoadAll().empty());

  // An operator replaces version 3 with a good copy: the replaced folder is tried again.
  fs::remove_all(root_ / "toy" / "3");
  fs::copy(root_ / "toy" / "2", root_ / "toy" / "3");
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "3");
}

TEST_F(StoreTest, VersionsWithoutManifestLoadWithOneWarning) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  fs::remove(root_ / "toy" / "1" / kManifestFileName);
  ModelStore replica(root_.string());
  auto problems = replica.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(Contains(problems[0], "no manifest.json")) << problems[0];
  EXPECT_EQ(replica.Get("toy")->version(), "1");
  EXPECT_TRUE(replica.LoadAll().empty());
}

// Hand-made versions without a manifest: weights that config.json does not describe are refused.
TEST_F(StoreTest, WeightsOfTheWrongShapeAreRefused) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  const fs::path v2 = root_ / "toy" / "2";
  fs::copy(root_ / "toy" / "1", v2);
  fs::remove(v2 / kManifestFileName);
  auto config = SeedToy()->config();
  config.hidden_dim = 64;  // the weights are 128 wide
  { std::ofstream(v2 / "config.json", std::ios::trunc) << config.ToJson(); }
  EXPECT_THROW(ModelBundle::Load("toy", "2", v2.string()), FailedPreconditionError);
  ModelStore replica(root_.string());
  auto problems = replica.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(Contains(problems[0], "version 2") && Contains(problems[0], "shape")) << problems[0];
  EXPECT_EQ(replica.Get("toy")->version(), "1");
}

int64_t PeakRssBytes() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;
}

// A config.json describing a network of tens of gigabytes is refused from the config alone: no
// vocabulary is read and no tensor allocated (the folder holds neither vocabularies nor weights).
TEST_F(StoreTest, HugeConfigIsRefusedBeforeAllocating) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  const fs::path v2 = root_ / "toy" / "2";
  fs::create_directories(v2);
  auto config = ModelConfig::ForArchitecture("attention");
  config.embed_dim = 4096;
  config.hidden_dim = 4096;
  config.num_layers = 8;
  config.source_vocab_size = config.target_vocab_size = 2000000;
  { std::ofstream(v2 / "config.json") << config.ToJson(); }

  const int64_t peak_before = PeakRssBytes();
  constexpr int64_t kBudget = int64_t{1} << 30;
  EXPECT_THROW(ModelBundle::Load("toy", "2", v2.string(), kBudget), ResourceExhaustedError);
  ModelStore replica(root_.string(), kBudget);
  auto problems = replica.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_TRUE(Contains(problems[0], "version 2") && Contains(problems[0], "--max-model-bytes")) << problems[0];
  EXPECT_EQ(replica.Get("toy")->version(), "1");
  EXPECT_LT(PeakRssBytes() - peak_before, int64_t{256} << 20);

  // Vocabulary sizes that would overflow the estimate are refused even without a budget.
  config = SeedToy()->config();
  config.source_vocab_size = int64_t{1} << 40;
  { std::ofstream(v2 / "config.json", std::ios::trunc) << config.ToJson(); }
  EXPECT_THROW(ModelBundle::Load("toy", "2", v2.string()), FailedPreconditionError);
}

// The disk fills up half-way through a version: Publish fails with RESOURCE_EXHAUSTED, removes its
// staging folder and temp files, and the old version keeps serving (here and in a replica).
TEST_F(StoreTest, DiskFullPublishFailsCleanly) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  int64_t version_bytes = 0;
  for (const auto& entry : fs::directory_iterator(root_ / "toy" / "1")) version_bytes += entry.file_size();

  SetFreeSpaceForTesting(version_bytes / 2);
  try {
    store.Publish("toy", PartsOf(*SeedToy()));
    ADD_FAILURE() << "publish succeeded on a full disk";
  } catch (const ResourceExhaustedError& e) {
    EXPECT_TRUE(Contains(e.what(), "No space left on device")) << e.what();
    EXPECT_TRUE(Contains(e.what(), "version 2")) << e.what();
  }
  SetFreeSpaceForTesting(-1);
  EXPECT_FALSE(fs::exists(root_ / "toy" / "2"));
  EXPECT_TRUE(EntriesStartingWith(root_, ".staging-").empty());
  for (const auto& entry : fs::recursive_directory_iterator(root_)) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
  EXPECT_EQ(store.Get("toy")->version(), "1");
  ModelStore replica(root_.string());
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "1");

  // With space again, the next publish takes the number the failed one would have had.
  EXPECT_EQ(store.Publish("toy", PartsOf(*SeedToy()))->version(), "2");
}


// ---------------------------------------------------------------- versions that operators control

// Replaces a version's weights with half of them, so it fails its manifest check.
void Truncate(const fs::path& version_dir) {
  const fs::path weights = version_dir / "weights.pt";
  fs::resize_file(weights, fs::file_size(weights) / 2);
}

TEST_F(StoreTest, PinRollbackAndNewestSurviveARestartAndReachAReplica) {
  ModelStore store(root_.string());
  for (int i = 0; i < 3; ++i) store.Publish("toy", PartsOf(*SeedToy()));
  ModelStore replica(root_.string());
  EXPECT_TRUE(replica.LoadAll().empty());
  ASSERT_EQ(replica.Get("toy")->version(), "3");

  // Roll back to version 1: it serves here at once, in the replica after its rescan.
  EXPECT_EQ(store.SetServingVersion("toy", "1")->version(), "1");
  EXPECT_EQ(store.Get("toy")->version(), "1");
  EXPECT_TRUE(fs::exists(root_ / "toy" / ModelStore::kPinFileName));
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "1");
  {
    ModelStore restarted(root_.string());
    EXPECT_TRUE(restarted.LoadAll().empty());
    EXPECT_EQ(restarted.Get("toy")->version(), "1");
    const auto list = restarted.List();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].pinned_version, "1");
    ASSERT_EQ(list[0].details.size(), 3u);
    EXPECT_TRUE(list[0].details[0].serving && list[0].details[0].pinned);
    EXPECT_FALSE(list[0].details[2].serving || list[0].details[2].pinned);
  }

  // Forward to 2, then back to the newest: the pin file goes, and every store follows.
  EXPECT_EQ(store.SetServingVersion("toy", "2")->version(), "2");
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "2");
  EXPECT_EQ(store.SetServingVersion("toy", "")->version(), "3");
  EXPECT_FALSE(fs::exists(root_ / "toy" / ModelStore::kPinFileName));
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "3");
  EXPECT_EQ(store.List()[0].pinned_version, "");

  // Unknown versions and models; a version that fails its checks. Nothing changes.
  EXPECT_THROW(store.SetServingVersion("toy", "9"), NotFoundError);
  EXPECT_THROW(store.SetServingVersion("toy", "abc"), NotFoundError);
  EXPECT_THROW(store.SetServingVersion("nope", "1"), NotFoundError);
  Truncate(root_ / "toy" / "2");
  try {
    store.SetServingVersion("toy", "2");
    ADD_FAILURE() << "a truncated version was pinned";
  } catch (const FailedPreconditionError& e) {
    EXPECT_TRUE(Contains(e.what(), "weights.pt")) << e.what();
  }
  EXPECT_EQ(store.Get("toy")->version(), "3");
  EXPECT_FALSE(fs::exists(root_ / "toy" / ModelStore::kPinFileName));
}

TEST_F(StoreTest, APinnedModelKeepsServingThePinAfterAPublish) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  store.Publish("toy", PartsOf(*SeedToy()));
  store.SetServingVersion("toy", "1");
  EXPECT_EQ(store.Publish("toy", PartsOf(*SeedToy()))->version(), "3");
  EXPECT_EQ(store.Get("toy")->version(), "1");
  EXPECT_EQ(store.List()[0].versions, (std::vector<std::string>{"1", "2", "3"}));  // available, listed
  ModelStore replica(root_.string());
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "1");
  EXPECT_EQ(store.SetServingVersion("toy", "")->version(), "3");
}

TEST_F(StoreTest, DeletesRefuseTheServingVersionUnlessForcedAndNeverReuseANumber) {
  ModelStore store(root_.string());
  std::vector<std::string> log;
  store.set_log([&](const std::string& line) { log.push_back(line); });
  for (int i = 0; i < 3; ++i) store.Publish("toy", PartsOf(*SeedToy()));
  ModelStore replica(root_.string());
  EXPECT_TRUE(replica.LoadAll().empty());

  EXPECT_THROW(store.DeleteVersion("toy", "3", /*force=*/false), FailedPreconditionError);
  EXPECT_TRUE(fs::exists(root_ / "toy" / "3"));
  EXPECT_THROW(store.DeleteVersion("toy", "7", false), NotFoundError);
  EXPECT_THROW(store.DeleteVersion("toy", "", false), NotFoundError);
  EXPECT_THROW(store.DeleteVersion("nope", "1", false), NotFoundError);

  auto result = store.DeleteVersion("toy", "2", false);
  EXPECT_EQ(result.serving_version, "3");
  EXPECT_FALSE(result.pin_cleared);
  EXPECT_FALSE(fs::exists(root_ / "toy" / "2"));
  EXPECT_TRUE(EntriesStartingWith(root_, kTrashPrefix).empty());

  // Forced: the next newest serves, here at once and in the replica after its rescan.
  result = store.DeleteVersion("toy", "3", /*force=*/true);
  EXPECT_EQ(result.serving_version, "1");
  EXPECT_EQ(store.Get("toy")->version(), "1");
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "1");
  // The replica served 3 from memory; a new version never takes its number.
  EXPECT_EQ(store.Publish("toy", PartsOf(*SeedToy()))->version(), "4");
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "4");

  // The pinned version, even when it does not serve here, needs force; deleting it clears the pin.
  store.SetServingVersion("toy", "1");
  EXPECT_THROW(store.DeleteVersion("toy", "1", false), FailedPreconditionError);
  ModelStore stale(root_.string());  // has not seen the pin: 4 would serve, 1 is pinned
  EXPECT_THROW(stale.DeleteVersion("toy", "1", false), FailedPreconditionError);
  log.clear();
  result = store.DeleteVersion("toy", "1", true);
  EXPECT_TRUE(result.pin_cleared);
  EXPECT_EQ(result.serving_version, "4");
  EXPECT_FALSE(fs::exists(root_ / "toy" / ModelStore::kPinFileName));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(Contains(log[0], "pin is cleared")) << log[0];
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "4");

  // The last version: nothing serves.
  result = store.DeleteVersion("toy", "4", true);
  EXPECT_EQ(result.serving_version, "");
  EXPECT_FALSE(store.Has("toy"));
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_FALSE(replica.Has("toy"));
  EXPECT_EQ(store.Publish("toy", PartsOf(*SeedToy()))->version(), "5");
}

// A crash between the rename and the removal leaves a trash folder: the next rescan that gets the
// model's lock removes it; loaders never take it for a version.
TEST_F(StoreTest, TrashLeftByACrashedDeleteIsRemovedByARescan) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  store.Publish("toy", PartsOf(*SeedToy()));
  const fs::path model = root_ / "toy";
  const std::string trash = TrashFolderName("2", StagingOwner::Current(), 1);
  fs::rename(model / "2", model / trash);
  {
    const int fd = ::open((model / ModelStore::kLockFileName).c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::flock(fd, LOCK_EX), 0);
    EXPECT_TRUE(store.LoadAll().empty());
    EXPECT_TRUE(fs::exists(model / trash));  // a delete may be running: left alone
    ::close(fd);
  }
  EXPECT_EQ(store.Get("toy")->version(), "1");  // version 2 is gone from the store's view
  EXPECT_TRUE(store.LoadAll().empty());
  EXPECT_FALSE(fs::exists(model / trash));
  EXPECT_EQ(store.List()[0].versions, (std::vector<std::string>{"1"}));
}

TEST_F(StoreTest, KeepVersionsKeepsTheNewestAndNeverThePinnedOne) {
  ModelStore store(root_.string(), 0, /*keep_versions=*/2);
  std::vector<std::string> log;
  store.set_log([&](const std::string& line) { log.push_back(line); });
  for (int i = 0; i < 3; ++i) store.Publish("toy", PartsOf(*SeedToy()));
  EXPECT_EQ(store.List()[0].versions, (std::vector<std::string>{"2", "3"}));
  ASSERT_EQ(log.size(), 1u);
  EXPECT_TRUE(Contains(log[0], "deleted version 1")) << log[0];

  store.SetServingVersion("toy", "2");
  store.Publish("toy", PartsOf(*SeedToy()));  // 4: 2 is beyond the newest two, but pinned
  EXPECT_EQ(store.List()[0].versions, (std::vector<std::string>{"2", "3", "4"}));
  store.Publish("toy", PartsOf(*SeedToy()));  // 5: 3 goes
  EXPECT_EQ(store.List()[0].versions, (std::vector<std::string>{"2", "4", "5"}));
  EXPECT_EQ(store.Get("toy")->version(), "2");
  EXPECT_TRUE(EntriesStartingWith(root_, kTrashPrefix).empty());
}

TEST_F(StoreTest, ListShowsEachVersionsSizeCreationMetricsAndRefusal) {
  const auto before = std::chrono::system_clock::now() - std::chrono::seconds(2);
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  store.Publish("toy", PartsOf(*SeedToy()));
  Truncate(root_ / "toy" / "2");
  ModelStore replica(root_.string());
  ASSERT_EQ(replica.LoadAll().size(), 1u);
  const auto list = replica.List();
  ASSERT_EQ(list.size(), 1u);
  ASSERT_EQ(list[0].details.size(), 2u);
  const auto& v1 = list[0].details[0];
  const auto& v2 = list[0].details[1];
  EXPECT_EQ(v1.version, "1");
  EXPECT_TRUE(v1.serving);
  EXPECT_GT(v1.bytes, v2.bytes);  // 2 lost half its weights
  EXPECT_GT(v2.bytes, 0);
  EXPECT_GE(v1.created, before);
  EXPECT_LE(v1.created, std::chrono::system_clock::now());
  EXPECT_EQ(v1.metrics.at("epochs"), 50);
  EXPECT_EQ(v2.metrics.at("epochs"), 50);  // read from the refused version's metrics.json
  EXPECT_TRUE(v1.refused.empty());
  EXPECT_TRUE(Contains(v2.refused, "weights.pt")) << v2.refused;
}

}  // namespace
}  // namespace wordbridge
