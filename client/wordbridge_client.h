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
#include "wordbridge/v1/wordbridge.grpc.pb.h"

namespace wordbridge {

class WordBridgeClient {
 public:
  // `target` is HOST:PORT.
  explicit WordBridgeClient(const std::string& target);
  explicit WordBridgeClient(std::shared_ptr<grpc::Channel> channel);

  // Deadline for unary calls; Train has none (it may run for hours).
  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }

  // Streams progress to `on_progress` until the job ends.
  grpc::Status Train(const v1::TrainRequest& request,
                     const std::function<void(const v1::TrainProgress&)>& on_progress);
  grpc::Status Translate(const v1::TranslateRequest& request, v1::TranslateResponse* response);
  grpc::Status GetEmbedding(const v1::GetEmbeddingRequest& request, v1::GetEmbeddingResponse* response);
  grpc::Status NearestWords(const v1::NearestWordsRequest& request, v1::NearestWordsResponse* response);
  grpc::Status ListModels(v1::ListModelsResponse* response);
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
