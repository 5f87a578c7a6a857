// End to end: starts the real wordbridge-server and drives it with the real wordbridge CLI.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace fs = std::filesystem;

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr
};

CommandResult RunShell(const std::string& command) {
  CommandResult result{-1, ""};
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) return result;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

class CliEndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("wb_e2e_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "data");
    fs::copy_file(fs::path(WORDBRIDGE_SOURCE_DIR) / "data" / "toy.tsv", dir_ / "data" / "toy.tsv");
    port_ = FreePort();
    BeforeStart();
    StartServer();
  }
  // Runs after the directory exists and before the server starts: a place for extra server and CLI flags.
  virtual void BeforeStart() {}
  void TearDown() override {
    StopServer();
    fs::remove_all(dir_);
  }

  void StartServer() {
    server_pid_ = LaunchServer(port_, "server.log", server_args_);
    if (!WaitHealthy(port_)) FAIL() << "server did not become healthy; log:\n" << Log();
  }

  // Starts wordbridge-server on `port` over this test's model and data directories, its standard error
  // into `log_name`; returns its pid.
  pid_t LaunchServer(int port, const std::string& log_name, const std::vector<std::string>& extra_args) const {
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::string log = (dir_ / log_name).string();
      FILE* out = std::freopen(log.c_str(), "a", stderr);
      (void)out;
      std::string port_text = std::to_string(port);
      std::string models = (dir_ / "models").string();
      std::string data = (dir_ / "data").string();
      std::vector<std::string> args = {WORDBRIDGE_SERVER_BIN, "--host", "127.0.0.1", "--port", port_text, "--model-dir",
                                       models, "--data-dir", data, "--threads", "1", "--drain-seconds", "1",
                                       "--bootstrap-toy"};
      args.insert(args.end(), extra_args.begin(), extra_args.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(WORDBRIDGE_SERVER_BIN, argv.data());
      std::_Exit(127);
    }
    return pid;
  }

  bool WaitHealthy(int port) const {
    for (int i = 0; i < 600; ++i) {
      if (CliAt(port, "health").exit_code == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  // Sends SIGTERM (the server drains, then exits) and reaps it.
  int StopServer() {
    if (server_pid_ <= 0) return -1;
    ::kill(server_pid_, SIGTERM);
    int status = 0;
    ::waitpid(server_pid_, &status, 0);
    server_pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Log() const {
    std::ifstream in(dir_ / "server.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  CommandResult Cli(const std::string& args) const { return CliAt(port_, args); }
  CommandResult CliAt(int port, const std::string& args) const {
    return RunShell(std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:" + std::to_string(port) + " " +
                    client_args_ + args);
  }

  fs::path dir_;
  std::vector<std::string> server_args_;  // extra wordbridge-server flags
  std::string client_args_;               // extra wordbridge flags, before the command (ends with a space)
  int port_ = 0;
  pid_t server_pid_ = -1;
};

TEST_F(CliEndToEndTest, ToyModelTranslatesAndSurvivesRestart) {
  auto translated = Cli("translate --model toy \"我 爱 自然 语言 处理\" \"今天 天气 很 好\"");
  ASSERT_EQ(translated.exit_code, 0) << translated.output;
  EXPECT_EQ(translated.output, "I love natural language processing\nToday weather is good\n");

  auto models = Cli("models");
  EXPECT_EQ(models.exit_code, 0);
  EXPECT_NE(models.output.find("toy\tversion 1\tseed/whitespace"), std::string::npos) << models.output;

  auto nearest = Cli("nearest --model toy -k 3 --pieces 学习");
  ASSERT_EQ(nearest.exit_code, 0) << nearest.output;
  EXPECT_EQ(std::count(nearest.output.begin(), nearest.output.end(), '\n'), 3);
  // Words: the toy corpus repeats only 很 (3 times) and 学习 (twice), so k is clamped to the two.
  auto words = Cli("nearest --model toy -k 3 学习");
  ASSERT_EQ(words.exit_code, 0) << words.output;
  EXPECT_NE(words.output.find("很\t"), std::string::npos) << words.output;
  EXPECT_NE(words.output.find("\t3\n"), std::string::npos) << words.output;  // its count
  EXPECT_NE(words.output.find("k clamped to 2"), std::string::npos) << words.output;

  auto embed = Cli("embed --model toy --side target learning");
  ASSERT_EQ(embed.exit_code, 0) << embed.output;
  EXPECT_EQ(std::count(embed.output.begin(), embed.output.end(), ' '), 63);  // 64 numbers

  EXPECT_EQ(StopServer(), 0) << Log();
  StartServer();
  auto again = Cli("translate --model toy \"我 爱 自然 语言 处理\"");
  EXPECT_EQ(again.output, "I love natural language processing\n");
}

TEST_F(CliEndToEndTest, TrainFromLocalAndServerCorpusThenTranslateFromStdin) {
  const std::string corpus = (fs::path(WORDBRIDGE_SOURCE_DIR) / "data" / "toy.tsv").string();
  auto trained = Cli("train --model cli-toy --arch seed --corpus " + corpus);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_NE(trained.output.find("epoch 50/50"), std::string::npos) << trained.output;
  EXPECT_NE(trained.output.find("published cli-toy version 1"), std::string::npos) << trained.output;

  std::ofstream(dir_ / "input.txt") << "今天 天气 很 好\n我 爱 自然 语言 处理\n";
  auto translated = RunShell("cat " + (dir_ / "input.txt").string() + " | " + WORDBRIDGE_CLI_BIN + " --server 127.0.0.1:" +
                        std::to_string(port_) + " translate --model cli-toy");
  EXPECT_EQ(translated.output, "Today weather is good\nI love natural language processing\n");

  auto server_side = Cli("train --model server-toy --arch seed --epochs 2 --server-corpus toy.tsv");
  EXPECT_EQ(server_side.exit_code, 0) << server_side.output;
  auto escape = Cli("train --model bad --arch seed --server-corpus ../../etc/passwd");
  EXPECT_EQ(escape.exit_code, 2);
  EXPECT_NE(escape.output.find("outside the server's data directory"), std::string::npos) << escape.output;

  auto eval = Cli("eval --model cli-toy --test " + corpus);
  ASSERT_EQ(eval.exit_code, 0) << eval.output;
  EXPECT_NE(eval.output.find("sentences 5"), std::string::npos) << eval.output;
}

TEST_F(CliEndToEndTest, LargeLocalFilesAreUploadedOnceAndTrainedFromTheDataDirectory) {
  const std::string corpus = (fs::path(WORDBRIDGE_SOURCE_DIR) / "data" / "toy.tsv").string();
  // Every file counts as large here: the corpus and the dev set are uploaded, not sent inline.
  const std::string train = "train --arch seed --epochs 2 --inline-limit-bytes 10 --corpus " + corpus + " --dev " + corpus;
  auto first = Cli(train + " --model uploaded-toy");
  ASSERT_EQ(first.exit_code, 0) << first.output;
  EXPECT_NE(first.output.find("uploaded as uploads/toy-"), std::string::npos) << first.output;
  EXPECT_NE(first.output.find("published uploaded-toy version 1"), std::string::npos) << first.output;
  // The second run finds the file on the server under the same checksum name and sends nothing.
  auto second = Cli(train + " --model uploaded-toy");
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("already on the server as uploads/toy-"), std::string::npos) << second.output;
  EXPECT_EQ(second.output.find("uploaded as"), std::string::npos) << second.output;

  auto listed = Cli("corpora");
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  std::vector<fs::path> stored(fs::directory_iterator(dir_ / "data" / "uploads"), fs::directory_iterator());
  ASSERT_EQ(stored.size(), 1u);  // the corpus and the dev set are one file
  const std::string name = stored[0].filename().string();
  EXPECT_NE(listed.output.find("uploads/" + name), std::string::npos) << listed.output;

  auto named = Cli("upload " + corpus + " --name mine.tsv");
  ASSERT_EQ(named.exit_code, 0) << named.output;
  EXPECT_NE(named.output.find("uploads/mine.tsv\t"), std::string::npos) << named.output;
  auto again = Cli("upload " + corpus + " --name mine.tsv");
  EXPECT_EQ(again.exit_code, 2) << again.output;
  EXPECT_NE(again.output.find("exists"), std::string::npos) << again.output;
  auto trained = Cli("train --model named-toy --arch seed --epochs 1 --server-corpus uploads/mine.tsv");
  EXPECT_EQ(trained.exit_code, 0) << trained.output;
  EXPECT_EQ(Cli("delete-corpus mine.tsv").exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_ / "data" / "uploads" / "mine.tsv"));
  EXPECT_EQ(Cli("delete-corpus mine.tsv").exit_code, 2);
}

// The last line of a command's output, without its newline.
std::string LastLine(const std::string& output) {
  std::string text = output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.substr(text.find_last_of('\n') + 1);
}

TEST_F(CliEndToEndTest, DetachedJobsAreWatchedListedCancelledAndOutliveARestart) {
  const std::string corpus = (fs::path(WORDBRIDGE_SOURCE_DIR) / "data" / "toy.tsv").string();
  auto started = Cli("train --model job-toy --arch seed --epochs 5 --detach --corpus " + corpus);
  ASSERT_EQ(started.exit_code, 0) << started.output;
  const std::string done_id = LastLine(started.output);
  ASSERT_EQ(done_id.rfind("job-", 0), 0u) << started.output;

  auto watched = Cli("watch " + done_id);
  ASSERT_EQ(watched.exit_code, 0) << watched.output;
  EXPECT_NE(watched.output.find("epoch 5/5"), std::string::npos) << watched.output;
  EXPECT_NE(watched.output.find("published job-toy version 1"), std::string::npos) << watched.output;
  auto cancel_done = Cli("cancel " + done_id);
  EXPECT_EQ(cancel_done.exit_code, 2);
  EXPECT_NE(cancel_done.output.find("nothing to cancel"), std::string::npos) << cancel_done.output;

  auto slow = Cli("train --model job-slow --arch seed --epochs 100000 --detach --corpus " + corpus);
  ASSERT_EQ(slow.exit_code, 0) << slow.output;
  const std::string cancelled_id = LastLine(slow.output);
  auto cancelled = Cli("cancel " + cancelled_id);
  ASSERT_EQ(cancelled.exit_code, 0) << cancelled.output;
  EXPECT_NE(cancelled.output.find("state      CANCELLED"), std::string::npos) << cancelled.output;
  EXPECT_EQ(Cli("watch " + cancelled_id).exit_code, 2);

  // A job running when the server stops is interrupted; every record is there after the restart
  // (which here does not resume jobs by itself).
  auto running = Cli("train --model job-slow --arch seed --epochs 100000 --detach --corpus " + corpus);
  ASSERT_EQ(running.exit_code, 0) << running.output;
  const std::string interrupted_id = LastLine(running.output);
  EXPECT_EQ(StopServer(), 0) << Log();
  server_args_ = {"--resume-jobs=false"};
  StartServer();
  auto jobs = Cli("jobs");
  ASSERT_EQ(jobs.exit_code, 0) << jobs.output;
  EXPECT_NE(jobs.output.find("STATE"), std::string::npos) << jobs.output;
  for (const auto& [id, state] : {std::pair{done_id, "SUCCEEDED"}, std::pair{cancelled_id, "CANCELLED"},
                                  std::pair{interrupted_id, "INTERRUPTED"}}) {
    const size_t row = jobs.output.find(id);
    ASSERT_NE(row, std::string::npos) << id << "\n" << jobs.output;
    const std::string line = jobs.output.substr(row, jobs.output.find('\n', row) - row);
    EXPECT_NE(line.find(state), std::string::npos) << state << "\n" << jobs.output;
  }
  auto job = Cli("job " + done_id);
  ASSERT_EQ(job.exit_code, 0) << job.output;
  EXPECT_NE(job.output.find("state      SUCCEEDED"), std::string::npos) << job.output;
  EXPECT_NE(job.output.find("version    1"), std::string::npos) << job.output;
  EXPECT_EQ(Cli("job job-20000101T000000Z-000000000000").exit_code, 2);
  // Its history went with the old process; watching it now gives the outcome.
  auto rewatched = Cli("watch " + done_id);
  EXPECT_EQ(rewatched.exit_code, 0) << rewatched.output;
  EXPECT_NE(rewatched.output.find("published job-toy version 1"), std::string::npos) << rewatched.output;
  EXPECT_EQ(Cli("watch " + interrupted_id).exit_code, 2);
  // ResumeJob continues it under its id; only INTERRUPTED jobs resume.
  auto resumed = Cli("resume " + interrupted_id);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(resumed.output.find("state      QUEUED") != std::string::npos ||
              resumed.output.find("state      RUNNING") != std::string::npos)
      << resumed.output;
  EXPECT_EQ(Cli("resume " + done_id).exit_code, 2);
  EXPECT_EQ(Cli("cancel " + interrupted_id).exit_code, 0);
}

TEST_F(CliEndToEndTest, AJobKilledWithItsServerResumesAfterTheRestartAndPublishes) {
  const std::string corpus = (fs::path(WORDBRIDGE_SOURCE_DIR) / "data" / "toy.tsv").string();
  // Checkpoints after every few batches as well as at each epoch's end.
  StopServer();
  server_args_ = {"--checkpoint-minutes", "0.001"};
  StartServer();
  auto started = Cli("train --model killed --arch seed --epochs 60 --detach --corpus " + corpus);
  ASSERT_EQ(started.exit_code, 0) << started.output;
  const std::string id = LastLine(started.output);
  // Wait for a few epochs, then kill the server without warning.
  for (int i = 0; i < 600; ++i) {
    auto job = Cli("job " + id);
    const size_t at = job.output.find("epoch      ");
    if (at != std::string::npos && std::atoi(job.output.c_str() + at + 11) >= 10) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(server_pid_, SIGKILL);
  ::waitpid(server_pid_, nullptr, 0);
  server_pid_ = -1;
  StartServer();  // resumes the job by itself
  auto watched = Cli("watch " + id);
  ASSERT_EQ(watched.exit_code, 0) << watched.output << Log();
  EXPECT_NE(watched.output.find("resumed from its last checkpoint"), std::string::npos) << watched.output;
  EXPECT_NE(watched.output.find("published killed version 1"), std::string::npos) << watched.output;
  EXPECT_EQ(watched.output.find("epoch 1/60"), std::string::npos) << "it started over:\n" << watched.output;
  auto job = Cli("job " + id);
  EXPECT_NE(job.output.find("state      SUCCEEDED"), std::string::npos) << job.output;
  auto translated = Cli("translate --model killed \"我 爱 自然 语言 处理\"");
  EXPECT_EQ(translated.output, "I love natural language processing\n") << translated.output;
}

// The row of `version` in `wordbridge versions` output ("" when absent).
std::string VersionRow(const std::string& table, const std::string& version) {
  std::istringstream lines(table);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(version + " ", 0) == 0) return line;
  }
  return "";
}

// Pin, rollback, unpin and delete through the CLI on one server; a second server process on the same
// store (rescanning every second) follows each change.
TEST_F(CliEndToEndTest, PinRollbackAndDeleteReachASecondServer) {
  const std::string corpus = (fs::path(WORDBRIDGE_SOURCE_DIR) / "data" / "toy.tsv").string();
  for (int i = 0; i < 2; ++i) {  // versions 2 and 3: one epoch each, so they translate badly
    auto trained = Cli("train --model toy --arch seed --epochs 1 --corpus " + corpus);
    ASSERT_EQ(trained.exit_code, 0) << trained.output;
  }
  const int second_port = FreePort();
  const pid_t second = LaunchServer(second_port, "second.log", {"--reload-seconds", "1"});
  ASSERT_TRUE(WaitHealthy(second_port)) << "second server; log:\n" << Log();
  // Waits until the second server's table shows `state` in the row of `version`.
  auto second_shows = [&](const std::string& version, const std::string& state) {
    std::string table;
    for (int i = 0; i < 100; ++i) {
      table = CliAt(second_port, "versions --model toy").output;
      const std::string row = VersionRow(table, version);
      if (!row.empty() && row.find(" " + state + " ") != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ADD_FAILURE() << "version " << version << " is not '" << state << "' on the second server:\n" << table;
    return false;
  };
  EXPECT_TRUE(second_shows("3", "serving"));

  auto table = Cli("versions --model toy");
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_NE(table.output.find("VERSION"), std::string::npos) << table.output;
  EXPECT_NE(VersionRow(table.output, "1").find("epochs=50"), std::string::npos) << table.output;
  EXPECT_NE(VersionRow(table.output, "3").find("serving"), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("not pinned"), std::string::npos) << table.output;

  // Roll back to the well-trained version 1.
  auto pinned = Cli("pin --model toy 1");
  ASSERT_EQ(pinned.exit_code, 0) << pinned.output;
  EXPECT_EQ(pinned.output, "toy: version 1 serves (pinned)\n");
  EXPECT_NE(VersionRow(Cli("versions --model toy").output, "1").find("serving,pinned"), std::string::npos);
  EXPECT_TRUE(second_shows("1", "serving,pinned"));
  EXPECT_EQ(CliAt(second_port, "translate --model toy \"我 爱 自然 语言 处理\"").output,
            "I love natural language processing\n");
  EXPECT_NE(Cli("models").output.find("toy\tversion 1 (pinned)\t"), std::string::npos);

  auto unknown = Cli("pin --model toy 9");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.output.find("error (5)"), std::string::npos) << unknown.output;  // NOT_FOUND
  auto refused = Cli("delete-version --model toy 1");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.output.find("error (9)"), std::string::npos) << refused.output;  // FAILED_PRECONDITION

  // Delete the newest (neither serving nor pinned); back to the newest left, version 2.
  auto deleted = Cli("delete-version --model toy 3");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_EQ(deleted.output, "toy: version 3 deleted; version 1 serves\n");
  auto unpinned = Cli("unpin --model toy");
  ASSERT_EQ(unpinned.exit_code, 0) << unpinned.output;
  EXPECT_EQ(unpinned.output, "toy: version 2 serves (newest; not pinned)\n");
  EXPECT_TRUE(second_shows("2", "serving"));
  EXPECT_EQ(VersionRow(CliAt(second_port, "versions --model toy").output, "3"), "");

  // A forced delete of the serving version: the next newest serves, on both servers.
  deleted = Cli("delete-version --model toy 2 --force");
  ASSERT_EQ(deleted.exit_code, 0) << deleted.output;
  EXPECT_EQ(deleted.output, "toy: version 2 deleted; version 1 serves\n");
  EXPECT_TRUE(second_shows("1", "serving"));

  ::kill(second, SIGTERM);
  int status = 0;
  ::waitpid(second, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(CliEndToEndTest, InspectPrintsTheReportAndWritesTheMap) {
  auto both = Cli("inspect --model toy --words 20");
  ASSERT_EQ(both.exit_code, 0) << both.output;
  EXPECT_NE(both.output.find("model toy version 1"), std::string::npos) << both.output;
  EXPECT_NE(both.output.find("source words, input vectors"), std::string::npos) << both.output;
  EXPECT_NE(both.output.find("target words, input vectors"), std::string::npos) << both.output;
  EXPECT_NE(both.output.find("norm           mean "), std::string::npos) << both.output;
  EXPECT_NE(both.output.find("PC1 "), std::string::npos) << both.output;

  const std::string map = (dir_ / "map.svg").string();
  auto plotted = Cli("inspect --model toy --side target --words 20 --labels 5 --plot " + map);
  ASSERT_EQ(plotted.exit_code, 0) << plotted.output;
  EXPECT_EQ(plotted.output.find("source words"), std::string::npos) << plotted.output;
  EXPECT_NE(plotted.output.find("map of the target side: " + map), std::string::npos) << plotted.output;
  std::ifstream in(map);
  const std::string svg((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find(">is</text>"), std::string::npos) << svg;  // the most frequent target word is labelled
  EXPECT_EQ(RunShell("/usr/bin/python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' " + map)
                .exit_code,
            0);

  EXPECT_EQ(Cli("inspect --model toy --words 0 --plot " + map).exit_code, 2);
  auto missing = Cli("inspect --model nope");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("no model named 'nope'"), std::string::npos) << missing.output;
  EXPECT_EQ(Cli("inspect --model toy --words 10001").exit_code, 2);
}

TEST_F(CliEndToEndTest, ErrorsAreReportedWithExitCodes) {
  auto missing = Cli("translate --model nope hello");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("no model named 'nope'"), std::string::npos) << missing.output;
  auto unreachable = RunShell(std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:1 --timeout 2 health");
  EXPECT_NE(unreachable.exit_code, 0);
}

// TLS and a bearer token through the real binaries: certificates from scripts/make-dev-certs.
class CliTlsEndToEndTest : public CliEndToEndTest {
 protected:
  void BeforeStart() override {
    const std::string certs = (dir_ / "certs").string();
    ASSERT_EQ(RunShell(std::string(WORDBRIDGE_SOURCE_DIR) + "/scripts/make-dev-certs " + certs + " --days 1").exit_code, 0);
    std::ofstream(dir_ / "token") << "e2e-token-42\n";
    server_args_ = {"--tls-cert", certs + "/server.crt", "--tls-key", certs + "/server.key", "--auth-token-file",
                    (dir_ / "token").string()};
    client_args_ = "--tls-ca " + certs + "/ca.crt ";
  }
};

TEST_F(CliTlsEndToEndTest, TlsClientsReadFreelyAndTrainWithTheToken) {
  auto models = Cli("models");
  ASSERT_EQ(models.exit_code, 0) << models.output;
  EXPECT_NE(models.output.find("toy\tversion 1"), std::string::npos) << models.output;
  auto translated = Cli("translate --model toy \"我 爱 自然 语言 处理\"");
  EXPECT_EQ(translated.output, "I love natural language processing\n");

  const std::string corpus = (fs::path(WORDBRIDGE_SOURCE_DIR) / "data" / "toy.tsv").string();
  auto anonymous = Cli("train --model tls-toy --arch seed --epochs 2 --corpus " + corpus);
  EXPECT_EQ(anonymous.exit_code, 2) << anonymous.output;
  EXPECT_NE(anonymous.output.find("error (16): Train needs a bearer token"), std::string::npos) << anonymous.output;
  auto with_file = Cli("--auth-token-file " + (dir_ / "token").string() + " train --model tls-toy --arch seed --epochs 2 --corpus " + corpus);
  EXPECT_EQ(with_file.exit_code, 0) << with_file.output;
  EXPECT_NE(with_file.output.find("published tls-toy version 1"), std::string::npos) << with_file.output;
  auto with_env = RunShell("WORDBRIDGE_AUTH_TOKEN=e2e-token-42 " + std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:" +
                           std::to_string(port_) + " " + client_args_ + "train --model tls-toy --arch seed --epochs 2 --corpus " + corpus);
  EXPECT_EQ(with_env.exit_code, 0) << with_env.output;
  auto wrong_env = RunShell("WORDBRIDGE_AUTH_TOKEN=guess " + std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:" +
                            std::to_string(port_) + " " + client_args_ + "train --model tls-toy --arch seed --corpus " + corpus);
  EXPECT_EQ(wrong_env.exit_code, 2) << wrong_env.output;
  EXPECT_NE(wrong_env.output.find("not valid"), std::string::npos) << wrong_env.output;

  // Plaintext against a TLS server: the handshake fails, reported as UNAVAILABLE (exit 3).
  auto plaintext = RunShell(std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:" + std::to_string(port_) +
                            " --timeout 5 models");
  EXPECT_EQ(plaintext.exit_code, 3) << plaintext.output;
  // A CA file that does not exist is a usage error before any call.
  auto no_ca = RunShell(std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:" + std::to_string(port_) +
                        " --tls-ca " + (dir_ / "nope.crt").string() + " models");
  EXPECT_EQ(no_ca.exit_code, 2);
  EXPECT_NE(no_ca.output.find("--tls-ca"), std::string::npos) << no_ca.output;
  EXPECT_EQ(Log().find("e2e-token-42"), std::string::npos) << "the server logged the token";
}

TEST(ServerStartUpTest, BadSecurityFlagsExitNonZeroWithAMessage) {
  const fs::path dir = fs::temp_directory_path() / ("wb_e2e_flags_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "empty-token") << "\n";
  const std::string server = std::string(WORDBRIDGE_SERVER_BIN) + " --port 0 --model-dir " + (dir / "models").string();
  auto cert_only = RunShell(server + " --tls-cert " + (dir / "server.crt").string());
  EXPECT_EQ(cert_only.exit_code, 1) << cert_only.output;
  EXPECT_NE(cert_only.output.find("--tls-cert and --tls-key go together"), std::string::npos) << cert_only.output;
  auto missing = RunShell(server + " --tls-cert " + (dir / "a.crt").string() + " --tls-key " + (dir / "a.key").string());
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("cannot read"), std::string::npos) << missing.output;
  auto empty = RunShell(server + " --auth-token-file " + (dir / "empty-token").string());
  EXPECT_EQ(empty.exit_code, 1) << empty.output;
  EXPECT_NE(empty.output.find("is empty"), std::string::npos) << empty.output;
  fs::remove_all(dir);
}

}  // namespace
