// TLS, client certificates and bearer tokens against the real server (ServerRunner): handshakes with
// the right and a wrong CA, mTLS with and without a client certificate, which RPCs need the token in
// plaintext and TLS mode, and the start-up errors of bad flags and files. Certificates are made at test
// time by scripts/make-dev-certs (openssl) in a temporary directory; no key is committed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <google/protobuf/descriptor.h>

#include "client/wordbridge_client.h"
#include "model/common/errors.h"
#include "proto/credential_files.h"
#include "server/security.h"
#include "server/server_runner.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;
using grpc::StatusCode;

constexpr char kToken[] = "s3cret-Token_0123456789";

// ---------------------------------------------------------------- the policy on its own

TEST(AccessPolicyTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", ""));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0c", 3), "a"));
}

TEST(AccessPolicyTest, EveryAdminMethodIsAnRpcOfTheService) {
  // A typo in the list would leave the RPC open: each entry must name a method the proto defines.
  for (const char* method : kAdminMethods) {
    std::string name(method + 1);  // "wordbridge.v1.WordBridge/Train" -> "wordbridge.v1.WordBridge.Train"
    name[name.rfind('/')] = '.';
    EXPECT_NE(google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(name), nullptr) << method;
  }
}

TEST(AccessPolicyTest, AdminMethodsNeedTheTokenOthersOnlyWithAuthAll) {
  const AccessPolicy admin(kToken, /*auth_all=*/false), all(kToken, /*auth_all=*/true), none("", false);
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/Train"));
  EXPECT_FALSE(admin.Protects("/wordbridge.v1.WordBridge/Translate"));
  EXPECT_FALSE(admin.Protects("/wordbridge.v1.WordBridge/ListModels"));
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/CancelJob"));
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/ResumeJob"));
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/SetServingVersion"));
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/DeleteVersion"));
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/IndexSentences"));
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/UploadCorpus"));
  EXPECT_TRUE(admin.Protects("/wordbridge.v1.WordBridge/DeleteCorpus"));
  for (const char* read : {"WatchJob", "GetJob", "ListJobs", "ListCorpora", "NearestSentences"}) {
    EXPECT_FALSE(admin.Protects(std::string("/wordbridge.v1.WordBridge/") + read)) << read;
  }
  EXPECT_TRUE(admin.Protects(""));  // unknown method: refuse rather than guess
  EXPECT_TRUE(all.Protects("/wordbridge.v1.WordBridge/Translate"));
  EXPECT_TRUE(all.Protects("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"));
  EXPECT_FALSE(all.Protects("/grpc.health.v1.Health/Check"));
  EXPECT_FALSE(none.Protects("/wordbridge.v1.WordBridge/Train"));

  const std::string_view good = "Bearer s3cret-Token_0123456789", lower = "bearer s3cret-Token_0123456789",
                         wrong = "Bearer s3cret-Token_012345678", basic = "Basic czNjcmV0";
  EXPECT_NO_THROW(admin.Check("/wordbridge.v1.WordBridge/Train", &good));
  EXPECT_NO_THROW(admin.Check("/wordbridge.v1.WordBridge/Train", &lower));  // the scheme is case-insensitive
  EXPECT_NO_THROW(admin.Check("/wordbridge.v1.WordBridge/Translate", nullptr));
  EXPECT_THROW(admin.Check("/wordbridge.v1.WordBridge/Train", nullptr), UnauthenticatedError);
  EXPECT_THROW(admin.Check("/wordbridge.v1.WordBridge/Train", &wrong), UnauthenticatedError);
  EXPECT_THROW(admin.Check("/wordbridge.v1.WordBridge/Train", &basic), UnauthenticatedError);
  try {
    admin.Check("/wordbridge.v1.WordBridge/Train", &wrong);
  } catch (const UnauthenticatedError& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << "the message shows a token";
  }
}

// ---------------------------------------------------------------- the real server

class SecurityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("wb_security_" + std::to_string(::getpid())));
    fs::remove_all(*root_);
    fs::create_directories(*root_);
    // Two unrelated CAs, each with a server and a client certificate.
    for (const char* ca : {"ca", "other"}) {
      const std::string command = std::string(WORDBRIDGE_SOURCE_DIR) + "/scripts/make-dev-certs " +
                                  (*root_ / ca).string() + " --days 1 >/dev/null";
      ASSERT_EQ(std::system(command.c_str()), 0) << command;
    }
    std::ofstream(*root_ / "token") << kToken << "\n";  // a trailing newline is not part of the token
    std::ofstream(*root_ / "wrong-token") << "not-the-token\n";
    std::ofstream(*root_ / "empty-token") << " \n";
    std::ofstream(*root_ / "not-pem") << "hello\n";
    fs::create_directories(*root_ / "data");
    std::ofstream(*root_ / "corpus.tsv") << "我 爱\tI love\n";
    // The toy model, trained once for every server of the suite.
    ModelStore store((*root_ / "models").string());
    TrainToyModel(&store);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*root_);
    delete root_;
  }
  void TearDown() override {
    if (runner_) runner_->Shutdown(/*immediate=*/true);
  }

  static std::string File(const std::string& name) { return (*root_ / name).string(); }

  static ServerOptions Options(const SecurityOptions& security) {
    ServerOptions options;
    options.port = 0;  // the default host: 127.0.0.1
    options.model_dir = File("models");
    options.data_dir = File("data");
    options.threads = 1;
    options.drain_seconds = 0;
    options.reload_seconds = 0;
    options.engine.workers = 1;
    options.security = security;
    return options;
  }
  void Start(const SecurityOptions& security) {
    runner_ = std::make_unique<ServerRunner>(Options(security));
    runner_->Start();
  }
  static SecurityOptions Tls() {
    SecurityOptions security;
    security.tls_cert_file = File("ca/server.crt");
    security.tls_key_file = File("ca/server.key");
    return security;
  }

  ChannelOptions Channel() const {
    ChannelOptions channel;
    channel.target = "127.0.0.1:" + std::to_string(runner_->port());
    return channel;
  }
  ChannelOptions TlsChannel(const std::string& ca = "ca/ca.crt") const {
    ChannelOptions channel = Channel();
    channel.tls_ca_file = File(ca);
    return channel;
  }
  static WordBridgeClient Client(const ChannelOptions& channel) {
    WordBridgeClient client(channel);
    client.set_timeout(std::chrono::seconds(10));
    return client;
  }

  static grpc::Status ListModels(const ChannelOptions& channel) {
    v1::ListModelsResponse response;
    auto status = Client(channel).ListModels(&response);
    if (status.ok()) EXPECT_GE(response.models_size(), 1);
    return status;
  }
  static grpc::Status Translate(const ChannelOptions& channel) {
    v1::TranslateRequest request;
    request.set_model("toy");
    request.add_sentences("我 爱 自然 语言 处理");
    v1::TranslateResponse response;
    auto status = Client(channel).Translate(request, &response);
    if (status.ok()) EXPECT_EQ(response.translations(0).hypotheses(0).text(), "I love natural language processing");
    return status;
  }
  static grpc::Status Health(const ChannelOptions& channel) {
    grpc::health::v1::HealthCheckResponse::ServingStatus serving;
    return Client(channel).Health("", &serving);
  }
  // One epoch of the toy corpus under `model`; `accepted` tells whether the job's first message came.
  static grpc::Status Train(const ChannelOptions& channel, const std::string& model, bool* accepted) {
    v1::TrainRequest request;
    request.set_model(model);
    request.mutable_config()->set_architecture("seed");
    request.mutable_options()->set_epochs(1);
    request.mutable_corpus()->add_pairs()->set_source("我 爱");
    request.mutable_corpus()->mutable_pairs(0)->set_target("I love");
    *accepted = false;
    return Client(channel).Train(request, [&](const v1::TrainProgress& progress) {
      if (progress.stage() == v1::TrainProgress::STARTED && !progress.job_id().empty()) *accepted = true;
    });
  }

  static fs::path* root_;
  std::unique_ptr<ServerRunner> runner_;
};

fs::path* SecurityTest::root_ = nullptr;

TEST_F(SecurityTest, TlsHandshakeSucceedsWithTheServersCa) {
  Start(Tls());
  EXPECT_TRUE(ListModels(TlsChannel()).ok());
  EXPECT_TRUE(Translate(TlsChannel()).ok());
  // The certificate names localhost too; the override checks that name instead of the target's.
  ChannelOptions by_name = TlsChannel();
  by_name.tls_server_name = "localhost";
  EXPECT_TRUE(ListModels(by_name).ok());
}

TEST_F(SecurityTest, TlsHandshakeFailsWithAWrongCaANameNotInTheCertificateOrPlaintext) {
  Start(Tls());
  EXPECT_EQ(ListModels(TlsChannel("other/ca.crt")).error_code(), StatusCode::UNAVAILABLE);
  ChannelOptions wrong_name = TlsChannel();
  wrong_name.tls_server_name = "elsewhere.example";
  EXPECT_EQ(ListModels(wrong_name).error_code(), StatusCode::UNAVAILABLE);
  EXPECT_EQ(ListModels(Channel()).error_code(), StatusCode::UNAVAILABLE);
}

TEST_F(SecurityTest, MutualTlsRefusesClientsWithoutACertificateSignedByTheClientCa) {
  SecurityOptions security = Tls();
  security.tls_client_ca_file = File("ca/ca.crt");
  Start(security);
  EXPECT_EQ(ListModels(TlsChannel()).error_code(), StatusCode::UNAVAILABLE);  // no client certificate
  ChannelOptions foreign = TlsChannel();
  foreign.tls_cert_file = File("other/client.crt");
  foreign.tls_key_file = File("other/client.key");
  EXPECT_EQ(ListModels(foreign).error_code(), StatusCode::UNAVAILABLE);
  ChannelOptions client = TlsChannel();
  client.tls_cert_file = File("ca/client.crt");
  client.tls_key_file = File("ca/client.key");
  EXPECT_TRUE(ListModels(client).ok());
  EXPECT_TRUE(Translate(client).ok());
}

// The token policy is enforced by the TLS credentials (an AuthMetadataProcessor) or, in plaintext,
// by the service's handlers: both must behave the same.
class TokenTest : public SecurityTest, public ::testing::WithParamInterface<bool> {
 protected:
  bool tls() const { return GetParam(); }
  void StartWithToken(bool auth_all) {
    SecurityOptions security = tls() ? Tls() : SecurityOptions{};
    security.auth_token_file = File("token");
    security.auth_all = auth_all;
    Start(security);
  }
  ChannelOptions Anonymous() const { return tls() ? TlsChannel() : Channel(); }
  // The suite's servers share a model store: each transport trains its own model.
  std::string Model() const { return tls() ? "guarded-tls" : "guarded-plaintext"; }
  ChannelOptions WithToken(const std::string& token) const {
    ChannelOptions channel = Anonymous();
    channel.auth_token = token;
    return channel;
  }
};

TEST_P(TokenTest, TrainNeedsTheRightTokenReadOnlyRpcsDoNot) {
  StartWithToken(/*auth_all=*/false);
  bool accepted = false;
  auto missing = Train(Anonymous(), Model(), &accepted);
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_NE(missing.error_message().find("Train needs a bearer token"), std::string::npos) << missing.error_message();
  EXPECT_FALSE(accepted);
  auto wrong = Train(WithToken("not-the-token"), Model(), &accepted);
  EXPECT_EQ(wrong.error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_NE(wrong.error_message().find("not valid"), std::string::npos) << wrong.error_message();
  EXPECT_EQ(wrong.error_message().find("not-the-token"), std::string::npos) << "the message shows the token";
  EXPECT_FALSE(accepted);
  EXPECT_FALSE(runner_->store().Has(Model()));
  // Refusals are counted like any other status, whichever side refused them.
  EXPECT_EQ(runner_->metrics()
                .GetCounter("wordbridge_rpc_requests_total", "", {{"method", "Train"}, {"code", "UNAUTHENTICATED"}})
                .value(),
            2.0);

  auto right = Train(WithToken(kToken), Model(), &accepted);
  EXPECT_TRUE(right.ok()) << right.error_message();
  EXPECT_TRUE(accepted);
  EXPECT_TRUE(runner_->store().Has(Model()));

  EXPECT_TRUE(ListModels(Anonymous()).ok());
  EXPECT_TRUE(Translate(Anonymous()).ok());
  EXPECT_TRUE(Health(Anonymous()).ok());
  EXPECT_TRUE(Translate(WithToken("not-the-token")).ok());  // open RPCs ignore the header
}

TEST_P(TokenTest, CancelJobNeedsTheTokenJobReadsDoNot) {
  StartWithToken(/*auth_all=*/false);
  // A job that would run for a long time, started (detached) with the token.
  v1::TrainRequest request;
  request.set_model(Model() + "-cancelled");
  request.set_detach(true);
  request.mutable_config()->set_architecture("seed");
  request.mutable_options()->set_epochs(100000);
  request.mutable_corpus()->add_pairs()->set_source("我 爱");
  request.mutable_corpus()->mutable_pairs(0)->set_target("I love");
  std::string job_id;
  auto started = Client(WithToken(kToken)).Train(request, [&](const v1::TrainProgress& p) { job_id = p.job_id(); });
  ASSERT_TRUE(started.ok()) << started.error_message();
  ASSERT_FALSE(job_id.empty());

  v1::JobInfo job;
  auto missing = Client(Anonymous()).CancelJob(job_id, &job);
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_NE(missing.error_message().find("CancelJob needs a bearer token"), std::string::npos)
      << missing.error_message();
  EXPECT_EQ(Client(WithToken("not-the-token")).CancelJob(job_id, &job).error_code(), StatusCode::UNAUTHENTICATED);
  // Reads are open.
  ASSERT_TRUE(Client(Anonymous()).GetJob(job_id, &job).ok());
  EXPECT_EQ(job.state(), v1::JobInfo::RUNNING);
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(Client(Anonymous()).ListJobs("", &jobs).ok());
  EXPECT_GE(jobs.jobs_size(), 1);

  auto cancelled = Client(WithToken(kToken)).CancelJob(job_id, &job);
  ASSERT_TRUE(cancelled.ok()) << cancelled.error_message();
  EXPECT_EQ(job.state(), v1::JobInfo::CANCELLED);
  EXPECT_FALSE(runner_->store().Has(Model() + "-cancelled"));
}

TEST_P(TokenTest, PinsAndDeletesNeedTheToken) {
  StartWithToken(/*auth_all=*/false);
  v1::SetServingVersionResponse pinned;
  v1::DeleteVersionResponse deleted;
  auto missing = Client(Anonymous()).SetServingVersion("toy", "1", &pinned);
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_NE(missing.error_message().find("SetServingVersion needs a bearer token"), std::string::npos)
      << missing.error_message();
  EXPECT_EQ(Client(WithToken("not-the-token")).SetServingVersion("toy", "1", &pinned).error_code(),
            StatusCode::UNAUTHENTICATED);
  missing = Client(Anonymous()).DeleteVersion("toy", "1", /*force=*/true, &deleted);
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_NE(missing.error_message().find("DeleteVersion needs a bearer token"), std::string::npos)
      << missing.error_message();
  EXPECT_EQ(Client(WithToken("not-the-token")).DeleteVersion("toy", "1", true, &deleted).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(runner_->store().Has("toy"));
  EXPECT_FALSE(fs::exists(File("models/toy/serving.json")));

  // With the token they run (returning to the newest changes nothing; an unknown version is NOT_FOUND).
  auto unpinned = Client(WithToken(kToken)).SetServingVersion("toy", "", &pinned);
  EXPECT_TRUE(unpinned.ok()) << unpinned.error_message();
  EXPECT_EQ(pinned.serving_version(), "1");
  EXPECT_EQ(Client(WithToken(kToken)).DeleteVersion("toy", "9", false, &deleted).error_code(), StatusCode::NOT_FOUND);
}

TEST_P(TokenTest, UploadsCorpusDeletesAndIndexingNeedTheTokenListingDoesNot) {
  StartWithToken(/*auth_all=*/false);
  const std::string name = Model() + ".tsv";
  v1::UploadCorpusResponse uploaded;
  auto missing = Client(Anonymous()).UploadCorpus(File("corpus.tsv"), name, false, &uploaded);
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_NE(missing.error_message().find("UploadCorpus needs a bearer token"), std::string::npos)
      << missing.error_message();
  EXPECT_EQ(Client(WithToken("not-the-token")).UploadCorpus(File("corpus.tsv"), name, false, &uploaded).error_code(),
            StatusCode::UNAUTHENTICATED);
  EXPECT_FALSE(fs::exists(File("data/uploads/" + name)));
  auto stored = Client(WithToken(kToken)).UploadCorpus(File("corpus.tsv"), name, false, &uploaded);
  ASSERT_TRUE(stored.ok()) << stored.error_message();

  v1::ListCorporaResponse listed;
  auto list = Client(Anonymous()).ListCorpora(&listed);
  EXPECT_TRUE(list.ok()) << list.error_message();

  // IndexSentences writes a translation memory to the store: an admin RPC.
  v1::IndexSentencesRequest index;
  index.set_model("toy");
  index.set_name(Model());
  index.mutable_corpus()->set_tsv_path("uploads/" + name);
  v1::IndexSentencesResponse indexed;
  missing = Client(Anonymous()).IndexSentences(index, &indexed);
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_EQ(Client(WithToken("not-the-token")).IndexSentences(index, &indexed).error_code(),
            StatusCode::UNAUTHENTICATED);
  auto built = Client(WithToken(kToken)).IndexSentences(index, &indexed);
  EXPECT_TRUE(built.ok()) << built.error_message();

  missing = Client(Anonymous()).DeleteCorpus(name);
  EXPECT_EQ(missing.error_code(), StatusCode::UNAUTHENTICATED) << missing.error_message();
  EXPECT_TRUE(fs::exists(File("data/uploads/" + name)));
  EXPECT_TRUE(Client(WithToken(kToken)).DeleteCorpus(name).ok());
  EXPECT_FALSE(fs::exists(File("data/uploads/" + name)));
}

TEST_P(TokenTest, AuthAllNeedsTheTokenForEveryRpcButHealth) {
  StartWithToken(/*auth_all=*/true);
  auto models = ListModels(Anonymous());
  EXPECT_EQ(models.error_code(), StatusCode::UNAUTHENTICATED) << models.error_message();
  EXPECT_NE(models.error_message().find("ListModels needs a bearer token"), std::string::npos)
      << models.error_message();
  EXPECT_EQ(Translate(Anonymous()).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Translate(WithToken("not-the-token")).error_code(), StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(ListModels(WithToken(kToken)).ok());
  EXPECT_TRUE(Translate(WithToken(kToken)).ok());
  EXPECT_TRUE(Health(Anonymous()).ok());
}

INSTANTIATE_TEST_SUITE_P(Transport, TokenTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Tls" : "Plaintext"; });

TEST_F(SecurityTest, BadFlagsAndFilesFailAtStartUp) {
  // Each one: ServerRunner::Start throws with a message naming the flag, and nothing listens.
  struct Case {
    const char* what;
    SecurityOptions security;
    const char* message;
  };
  SecurityOptions cert_only;
  cert_only.tls_cert_file = File("ca/server.crt");
  SecurityOptions key_only;
  key_only.tls_key_file = File("ca/server.key");
  SecurityOptions missing_cert = Tls();
  missing_cert.tls_cert_file = File("no-such.crt");
  SecurityOptions not_pem = Tls();
  not_pem.tls_key_file = File("not-pem");
  SecurityOptions client_ca_without_tls;
  client_ca_without_tls.tls_client_ca_file = File("ca/ca.crt");
  SecurityOptions missing_client_ca = Tls();
  missing_client_ca.tls_client_ca_file = File("no-such-ca.crt");
  SecurityOptions empty_token;
  empty_token.auth_token_file = File("empty-token");
  SecurityOptions missing_token;
  missing_token.auth_token_file = File("no-such-token");
  SecurityOptions auth_all_without_token;
  auth_all_without_token.auth_all = true;
  SecurityOptions mismatched = Tls();
  mismatched.tls_key_file = File("other/server.key");
  const std::vector<Case> cases = {
      {"certificate without key", cert_only, "--tls-cert and --tls-key go together"},
      {"key without certificate", key_only, "--tls-cert and --tls-key go together"},
      {"missing certificate", missing_cert, "--tls-cert"},
      {"key not PEM", not_pem, "--tls-key"},
      {"client CA without TLS", client_ca_without_tls, "--tls-client-ca needs --tls-cert"},
      {"missing client CA", missing_client_ca, "--tls-client-ca"},
      {"empty token file", empty_token, "is empty"},
      {"missing token file", missing_token, "--auth-token-file"},
      {"--auth-all without a token", auth_all_without_token, "--auth-all needs --auth-token-file"},
      {"key of another certificate", mismatched, "cannot listen"},
  };
  for (const auto& c : cases) {
    ServerRunner runner(Options(c.security));
    try {
      runner.Start();
      ADD_FAILURE() << c.what << ": started";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(c.message), std::string::npos) << c.what << ": " << e.what();
    }
  }
}

TEST(CredentialFilesTest, TokenFilesAreTrimmedAndChecked) {
  const fs::path dir = fs::temp_directory_path() / ("wb_token_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "newline") << "abc\n";
  std::ofstream(dir / "inner-space") << "a b\n";
  EXPECT_EQ(ReadTokenFile((dir / "newline").string(), "--auth-token-file"), "abc");
  EXPECT_THROW(ReadTokenFile((dir / "inner-space").string(), "--auth-token-file"), std::runtime_error);
  EXPECT_THROW(ReadTokenFile((dir / "none").string(), "--auth-token-file"), std::runtime_error);
  ::setenv("WORDBRIDGE_AUTH_TOKEN", " from-env ", 1);
  EXPECT_EQ(ResolveAuthToken(""), "from-env");
  EXPECT_EQ(ResolveAuthToken((dir / "newline").string()), "abc");  // the file wins
  ::unsetenv("WORDBRIDGE_AUTH_TOKEN");
  EXPECT_EQ(ResolveAuthToken(""), "");
  ChannelOptions channel;
  channel.tls_ca_file = (dir / "none").string();
  EXPECT_THROW(MakeChannel(channel), std::runtime_error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace wordbridge
