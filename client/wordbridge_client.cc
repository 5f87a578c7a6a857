#include "client/wordbridge_client.h"

#include "proto/grpc_settings.h"

namespace wordbridge {

namespace {
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), ClientChannelArguments());
}
}  // namespace

WordBridgeClient::WordBridgeClient(const std::string& target) : WordBridgeClient(MakeChannel(target)) {}

WordBridgeClient::WordBridgeClient(std::shared_ptr<grpc::Channel> channel)
    : channel_(std::move(channel)),
      stub_(v1::WordBridge::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

void WordBridgeClient::SetDeadline(grpc::ClientContext* context) const {
  context->set_deadline(std::chrono::system_clock::now() + timeout_);
}

grpc::Status WordBridgeClient::Train(const v1::TrainRequest& request,
                                     const std::function<void(const v1::TrainProgress&)>& on_progress) {
  grpc::ClientContext context;
  auto reader = stub_->Train(&context, request);
  v1::TrainProgress progress;
  while (reader->Read(&progress)) {
    if (on_progress) on_progress(progress);
  }
  return reader->Finish();
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

grpc::Status WordBridgeClient::ListModels(v1::ListModelsResponse* response) {
  grpc::ClientContext context;
  SetDeadline(&context);
  return stub_->ListModels(&context, v1::ListModelsRequest(), response);
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

}  // namespace wordbridge
