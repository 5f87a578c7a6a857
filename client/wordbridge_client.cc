#include "client/wordbridge_client.h"

#include <grpcpp/support/client_interceptor.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "model/common/sha256.h"
#include "proto/credential_files.h"

namespace wordbridge {

namespace {

// Adds the bearer token to every call's metadata. An interceptor rather than call credentials: gRPC
// sends call credentials over TLS channels only, and a token is also useful against a local plaintext
// server (the policy is the server's; server/security.h).
class BearerTokenInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit BearerTokenInterceptor(const std::string* value) : value_(value) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({kAuthorizationHeader, *value_});
    }
    methods->Proceed();
  }

 private:
  const std::string* value_;
};

class BearerTokenInterceptorFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit BearerTokenInterceptorFactory(const std::string& token) : value_(kBearerPrefix + token) {}

  grpc::experimental::Interceptor* CreateClientInterceptor(grpc::experimental::ClientRpcInfo*) override {
    return new BearerTokenInterceptor(&value_);
  }

 private:
  const std::string value_;  // "Bearer <token>"; the factory lives as long as the channel
};

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(const ChannelOptions& options) {
  if (!options.UsesTls()) return grpc::InsecureChannelCredentials();
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    throw std::runtime_error("--tls-cert and --tls-key go together: give both (the client certificate and its key) or neither");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca_file.empty()) ssl.pem_root_certs = ReadPemFile(options.tls_ca_file, "--tls-ca");
  if (!options.tls_cert_file.empty()) {
    ssl.pem_private_key = ReadPemFile(options.tls_key_file, "--tls-key");
    ssl.pem_cert_chain = ReadPemFile(options.tls_cert_file, "--tls-cert");
  }
  return grpc::SslCredentials(ssl);
}

}  // namespace

bool ChannelOptions::UsesTls() const {
  return tls || !tls_ca_file.empty() || !tls_cert_file.empty() || !tls_key_file.empty() || !tls_server_name.empty();
}

std::shared_ptr<grpc::Channel> MakeChannel(const ChannelOptions& options) {
  auto credentials = ChannelCredentials(options);
  grpc::ChannelArguments args = ClientChannelArguments(options.max_message_bytes);
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  if (options.auth_token.empty()) return grpc::CreateCustomChannel(options.target, credentials, args);
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<BearerTokenInterceptorFactory>(
      CheckedToken(options.auth_token, "the auth token")));
  return grpc::experimental::CreateCustomChannelWithInterceptors(options.target, credentials, args,
                                                                 std::move(interceptors));
}

std::string ResolveAuthToken(const std::string& token_file) {
  if (!token_file.empty()) return ReadTokenFile(token_file, "--auth-token-file");
  const char* from_environment = std::getenv("WORDBRIDGE_AUTH_TOKEN");
  if (from_environment == nullptr || *from_environment == '\0') return "";
  return CheckedToken(from_environment, "WORDBRIDGE_AUTH_TOKEN");
}

WordBridgeClient::WordBridgeClient(const std::string& target) : WordBridgeClient(ChannelOptions{target}) {}

WordBridgeClient::WordBridgeClient(const ChannelOptions& options) : WordBridgeClient(MakeChannel(options)) {}

WordBridgeClient::WordBridgeClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(v1::WordBridge::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

void WordBridgeClient::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(std::chrono::system_clock::now() + timeout_);
}

namespace {

// Reads a progress stream to its end.
grpc::Status ReadProgress(grpc::ClientReaderInterface<v1::TrainProgress>* reader,
                          const std::function<void(const v1::TrainProgress&)>& on_progress) {
  v1::TrainProgress progress;
  while (reader->Read(&progress)) {
    if (on_progress) on_progress(progress);
  }
  return reader->Finish();
}

}  // namespace

grpc::Status WordBridgeClient::Train(const v1::TrainRequest& request,
                                     const std::function<void(const v1::TrainProgress&)>& on_progress) {
  grpc::ClientContext context;
  return ReadProgress(stub_->Train(&context, request).get(), on_progress);
}

grpc::Status WordBridgeClient::WatchJob(const std::string& job_id,
                                        const std::function<void(const v1::TrainProgress&)>& on_progress) {
  grpc::ClientContext context;  // no deadline: a job may run for hours
  v1::WatchJobRequest request;
  request.set_job_id(job_id);
  return ReadProgress(stub_->WatchJob(&context, request).get(), on_progress);
}

grpc::Status WordBridgeClient::GetJob(const std::string& job_id, v1::JobInfo* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  return stub_->GetJob(&context, request, response);
}

grpc::Status WordBridgeClient::ListJobs(const std::string& model, v1::ListJobsResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ListJobsRequest request;
  request.set_model(model);
  return stub_->ListJobs(&context, request, response);
}

grpc::Status WordBridgeClient::CancelJob(const std::string& job_id, v1::JobInfo* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::CancelJobRequest request;
  request.set_job_id(job_id);
  return stub_->CancelJob(&context, request, response);
}

grpc::Status WordBridgeClient::ResumeJob(const std::string& job_id, v1::JobInfo* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::ResumeJobRequest request;
  request.set_job_id(job_id);
  return stub_->ResumeJob(&context, request, response);
}

grpc::Status WordBridgeClient::Translate(const v1::TranslateRequest& request, v1::TranslateResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->Translate(&context, request, response);
}

grpc::Status WordBridgeClient::GetEmbedding(const v1::GetEmbeddingRequest& request,
                                            v1::GetEmbeddingResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->GetEmbedding(&context, request, response);
}

grpc::Status WordBridgeClient::NearestWords(const v1::NearestWordsRequest& request,
                                            v1::NearestWordsResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->NearestWords(&context, request, response);
}

grpc::Status WordBridgeClient::Similarity(const v1::SimilarityRequest& request, v1::SimilarityResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->Similarity(&context, request, response);
}

grpc::Status WordBridgeClient::DoesntMatch(const v1::DoesntMatchRequest& request, v1::DoesntMatchResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->DoesntMatch(&context, request, response);
}

grpc::Status WordBridgeClient::IndexSentences(const v1::IndexSentencesRequest& request,
                                              v1::IndexSentencesResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->IndexSentences(&context, request, response);
}

grpc::Status WordBridgeClient::NearestSentences(const v1::NearestSentencesRequest& request,
                                                v1::NearestSentencesResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->NearestSentences(&context, request, response);
}

grpc::Status WordBridgeClient::InspectEmbeddings(const v1::InspectEmbeddingsRequest& request,
                                                v1::InspectEmbeddingsResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->InspectEmbeddings(&context, request, response);
}

grpc::Status WordBridgeClient::ExportVectors(const v1::ExportVectorsRequest& request,
                                             const std::function<void(const v1::ExportVectorsResponse&)>& on_message) {
  grpc::ClientContext context;
  SetDeadline(&context);
  auto reader = stub_->ExportVectors(&context, request);
  v1::ExportVectorsResponse message;
  while (reader->Read(&message)) {
    try {
      on_message(message);
    } catch (...) {
      context.TryCancel();
      reader->Finish();
      throw;
    }
  }
  return reader->Finish();
}

grpc::Status WordBridgeClient::ListModels(v1::ListModelsResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->ListModels(&context, v1::ListModelsRequest(), response);
}

grpc::Status WordBridgeClient::SetServingVersion(const std::string& model, const std::string& version,
                                                 v1::SetServingVersionResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::SetServingVersionRequest request;
  request.set_model(model);
  request.set_version(version);
  request.set_newest(version.empty());
  return stub_->SetServingVersion(&context, request, response);
}

grpc::Status WordBridgeClient::DeleteVersion(const std::string& model, const std::string& version, bool force,
                                             v1::DeleteVersionResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::DeleteVersionRequest request;
  request.set_model(model);
  request.set_version(version);
  request.set_force(force);
  return stub_->DeleteVersion(&context, request, response);
}

grpc::Status WordBridgeClient::Health(const std::string& service,
                                      grpc::health::v1::HealthCheckResponse::ServingStatus* status) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::min(timeout_, std::chrono::milliseconds(5000)));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  auto result = health_->Check(&context, request, &response);
  *status = response.status();
  return result;
}

std::string ContentAddressedUploadName(const std::string& path) {
  FileDigest digest;
  try {
    digest = Sha256OfFile(path);
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what());
  }
  const std::filesystem::path file(path);
  std::string stem = file.stem().string(), extension = file.extension().string();
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  for (char& c : extension) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.') c = '_';
  }
  if (stem.empty() || stem.front() == '.') stem = "corpus" + stem;
  stem = stem.substr(0, 120);
  return stem + "-" + digest.sha256.substr(0, 16) + extension.substr(0, 20);
}

grpc::Status WordBridgeClient::UploadCorpus(const std::string& path, const std::string& name, bool overwrite,
                                            v1::UploadCorpusResponse* response, size_t chunk_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  grpc::ClientContext context;
  auto writer = stub_->UploadCorpus(&context, response);
  Sha256 digest;
  std::string chunk(std::max<size_t>(chunk_bytes, 1), '\0');
  for (bool first = true;; first = false) {
    in.read(&chunk[0], static_cast<std::streamsize>(chunk.size()));
    const size_t got = static_cast<size_t>(in.gcount());
    if (in.bad()) {
      context.TryCancel();
      writer->Finish();
      throw std::runtime_error("reading " + path + " failed");
    }
    digest.Update(std::string_view(chunk.data(), got));
    const bool last = got < chunk.size();  // the end of the file
    v1::UploadCorpusRequest message;
    if (first) {
      message.set_name(name);
      message.set_overwrite(overwrite);
    }
    message.set_chunk(chunk.data(), got);
    if (last) message.set_sha256(digest.HexDigest());  // the checksum rides on the last message
    if (!writer->Write(message) || last) break;
  }
  // A false Write means the server ended the call early (a limit, a name that exists); Finish says why.
  writer->WritesDone();
  return writer->Finish();
}

grpc::Status WordBridgeClient::ListCorpora(v1::ListCorporaResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->ListCorpora(&context, v1::ListCorporaRequest(), response);
}

grpc::Status WordBridgeClient::DeleteCorpus(const std::string& name) {
  grpc::ClientContext context;
  SetDeadline(&context);
  v1::DeleteCorpusRequest request;
  request.set_name(name);
  v1::DeleteCorpusResponse response;
  return stub_->DeleteCorpus(&context, request, &response);
}

}  // namespace wordbridge
