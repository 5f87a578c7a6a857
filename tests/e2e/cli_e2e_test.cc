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
#include <string>
#include <thread>

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
    StartServer();
  }
  void TearDown() override {
    StopServer();
    fs::remove_all(dir_);
  }

  void StartServer() {
    server_pid_ = ::fork();
    if (server_pid_ == 0) {
      std::string log = (dir_ / "server.log").string();
      FILE* out = std::freopen(log.c_str(), "a", stderr);
      (void)out;
      std::string port = std::to_string(port_);
      std::string models = (dir_ / "models").string();
      std::string data = (dir_ / "data").string();
      ::execl(WORDBRIDGE_SERVER_BIN, WORDBRIDGE_SERVER_BIN, "--host", "127.0.0.1", "--port", port.c_str(),
              "--model-dir", models.c_str(), "--data-dir", data.c_str(), "--threads", "1", "--drain-seconds", "1",
              "--bootstrap-toy", nullptr);
      std::_Exit(127);
    }
    for (int i = 0; i < 600; ++i) {
      if (Cli("health").exit_code == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL() << "server did not become healthy; log:\n" << Log();
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

  CommandResult Cli(const std::string& args) const {
    return RunShell(std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:" + std::to_string(port_) + " " + args);
  }

  fs::path dir_;
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

  auto nearest = Cli("nearest --model toy -k 3 学习");
  ASSERT_EQ(nearest.exit_code, 0) << nearest.output;
  EXPECT_EQ(std::count(nearest.output.begin(), nearest.output.end(), '\n'), 3);

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

TEST_F(CliEndToEndTest, ErrorsAreReportedWithExitCodes) {
  auto missing = Cli("translate --model nope hello");
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.output.find("no model named 'nope'"), std::string::npos) << missing.output;
  auto unreachable = RunShell(std::string(WORDBRIDGE_CLI_BIN) + " --server 127.0.0.1:1 --timeout 2 health");
  EXPECT_NE(unreachable.exit_code, 0);
}

}  // namespace
