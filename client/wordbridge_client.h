// A small C++ client for wordbridge.v1: one method per RPC, plain structs where they help, and the
// gRPC status passed back unchanged so callers see the server's message.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "proto/grpc_settings.h"
#include "wordbridge/v1/wordbridge.grpc.pb.h"

namespace wordbridge {

// How to reach a server. Every channel of the client library and the CLI is made from one of these by
// MakeChannel, so TLS, the token and the transport settings are the same for every command.
struct ChannelOptions {
  // HOST:PORT.
  std::string target = "localhost:50051";
  // TLS: on when `tls` is set or any tls_* field is given.
  bool tls = false;
  // CA certificates (PEM) that sign the server's certificate; empty = the system's trusted CAs.
  std::string tls_ca_file;
  // The client's certificate chain and key (PEM) for servers that require client certificates (mTLS);
  // both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
  // The name the server's certificate must carry when it differs from the target's host (e.g. when
  // connecting by IP address or through a tunnel).
  std::string tls_server_name;
  // Sent on every call as "authorization: Bearer <token>"; empty = none.
  std::string auth_token;
  int max_message_bytes = kDefaultMaxMessageBytes;

  bool UsesTls() const;
};

// Reads the files `options` names (std::runtime_error naming the flag for a missing, unreadable or
// malformed one) and makes the channel: TLS or plaintext, the bearer token on every call, and the
// message limits and keepalive of proto/grpc_settings.h.
std::shared_ptr<grpc::Channel> MakeChannel(const ChannelOptions& options);

// The bearer token to send: from `token_file` (--auth-token-file) when given, otherwise from the
// environment variable WORDBRIDGE_AUTH_TOKEN, otherwise none (empty). Throws std::runtime_error for
// an unreadable or empty file.
std::string ResolveAuthToken(const std::string& token_file);

// The upload name the CLI gives a local file: its name with the first 16 hex digits of its SHA-256
// before the extension ("bible.tsv" -> "bible-0123456789abcdef.tsv"), so sending the same file again
// finds it stored (ALREADY_EXISTS) and a changed file gets a new name. Characters an upload name may
// not hold become '_'. Reads the whole file (std::runtime_error when it cannot).
std::string ContentAddressedUploadName(const std::string& path);

class WordBridgeClient {
 public:
  // `target` is HOST:PORT; plaintext, no token.
  explicit WordBridgeClient(const std::string& target);
  explicit WordBridgeClient(const ChannelOptions& options);
  explicit WordBridgeClient(std::shared_ptr<grpc::Channel> channel);

  // Deadline for unary calls; Train has none (it may run for hours).
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Streams progress to `on_progress` until the job ends (with request.detach(): only the first
  // message, which carries the job id; the job keeps running).
  grpc::Status Train(const v1::TrainRequest& request,
                     const std::function<void(const v1::TrainProgress&)>& on_progress);
  // Streams job `job_id`'s progress, from its first message, until it ends; returns its final status.
  grpc::Status WatchJob(const std::string& job_id, const std::function<void(const v1::TrainProgress&)>& on_progress);
  grpc::Status GetJob(const std::string& job_id, v1::JobInfo* response);
  // Jobs of `model` ("" = every model), newest first.
  grpc::Status ListJobs(const std::string& model, v1::ListJobsResponse* response);
  grpc::Status CancelJob(const std::string& job_id, v1::JobInfo* response);
  // Continues an INTERRUPTED job from its last checkpoint (same id).
  grpc::Status ResumeJob(const std::string& job_id, v1::JobInfo* response);
  grpc::Status Translate(const v1::TranslateRequest& request, v1::TranslateResponse* response);
  grpc::Status GetEmbedding(const v1::GetEmbeddingRequest& request, v1::GetEmbeddingResponse* response);
  grpc::Status NearestWords(const v1::NearestWordsRequest& request, v1::NearestWordsResponse* response);
  grpc::Status Similarity(const v1::SimilarityRequest& request, v1::SimilarityResponse* response);
  grpc::Status DoesntMatch(const v1::DoesntMatchRequest& request, v1::DoesntMatchResponse* response);
  grpc::Status IndexSentences(const v1::IndexSentencesRequest& request, v1::IndexSentencesResponse* response);
  grpc::Status NearestSentences(const v1::NearestSentencesRequest& request, v1::NearestSentencesResponse* response);
  grpc::Status InspectEmbeddings(const v1::InspectEmbeddingsRequest& request, v1::InspectEmbeddingsResponse* response);
  // Streams the export's messages to `on_message` in order. An exception from `on_message` cancels the
  // call and propagates.
  grpc::Status ExportVectors(const v1::ExportVectorsRequest& request,
                             const std::function<void(const v1::ExportVectorsResponse&)>& on_message);
  grpc::Status ListModels(v1::ListModelsResponse* response);
  // Pins `version` of `model`; an empty version removes the pin (the newest good version serves).
  grpc::Status SetServingVersion(const std::string& model, const std::string& version,
                                 v1::SetServingVersionResponse* response);
  grpc::Status DeleteVersion(const std::string& model, const std::string& version, bool force,
                             v1::DeleteVersionResponse* response);
  // Sends the local file `path` to the server as upload `name` (uploads/<name> under its data
  // directory), in chunks of `chunk_bytes`, with the file's SHA-256 in the last message so the server
  // stores it only if it arrived intact. No deadline: a large corpus may take minutes. A read error
  // of the local file throws std::runtime_error.
  grpc::Status UploadCorpus(const std::string& path, const std::string& name, bool overwrite,
                            v1::UploadCorpusResponse* response, size_t chunk_bytes = size_t{1} << 20);
  grpc::Status ListCorpora(v1::ListCorporaResponse* response);
  grpc::Status DeleteCorpus(const std::string& name);
  // grpc.health.v1 Check of `service` ("" = the whole server).
  grpc::Status Health(const std::string& service, grpc::health::v1::HealthCheckResponse::ServingStatus* status);

 private:
  void SetDeadline(grpc::ClientContext* context) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::WordBridge::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  std::chrono::milliseconds timeout_{std::chrono::minutes(10)};
};

}  // namespace wordbridge
