// Every RPC's request through the service's own validation (server/wordbridge_service.h), against
// a store holding the seed's toy model (the model tests/model/test_util.h trains, trained once at
// start-up) and a data directory with a few corpus files. The first byte picks the RPC, the rest is
// parsed as its request message (bytes that do not parse are skipped: gRPC would refuse them first).
//   Train         TrainJobSpec (config, options, memory estimate, corpus sources, data paths and the
//                 vector files' dimension), then
//                 the corpus readers it returns - everything but the training itself;
//   Translate     CheckTranslate, then what TranslationEngine::Submit does before queueing (the
//                 shortlist check, tokenizing and encoding each sentence) - everything but decoding;
//   GetEmbedding, NearestWords, ListModels   the real handlers (word lookups and FAISS searches are
//                 fast; a sentence vector is one encoder pass on an engine worker).
// A bad request must come back as a status a client can act on: an exception the service does not
// map (INTERNAL) is a finding, as is any sanitizer report.
#include <filesystem>
#include <fstream>

#include "fuzz/fuzz_util.h"
#include "model/train/seed_corpus.h"
#include "model/train/trainer.h"
#include "server/status_mapping.h"
#include "model/jobs/training_jobs.h"
#include "server/wordbridge_service.h"

namespace {

using namespace wordbridge;
namespace fs = std::filesystem;

struct Service {
  std::unique_ptr<ModelStore> store;
  std::unique_ptr<TranslationEngine> engine;
  std::unique_ptr<TrainingJobs> jobs;
  std::unique_ptr<WordBridgeService> service;
};

Service& TheService() {
  static Service s;
  return s;
}

// The seed's toy model, as SeedToy() in tests/model/test_util.h trains it, published as "toy".
void PublishToy(ModelStore* store) {
  CorpusReport report;
  auto pairs = CleanPairs(SeedToyPairs(), CorpusLimits{}, &report);
  auto result = TrainModel(ModelConfig::ForArchitecture("seed"), pairs, {}, TrainingOptions{}, report, nullptr, nullptr);
  store->Publish("toy", std::move(result.parts));
}

void MakeDataDir(const fs::path& data) {
  fs::create_directories(data / "sub");
  std::ofstream(data / "toy.tsv") << "我 爱 自然 语言 处理\tI love natural language processing\n";
  std::ofstream(data / "sub" / "src.txt") << "我 爱\n今天 好\n";
  std::ofstream(data / "sub" / "tgt.txt") << "I love\nToday good\n";
  // Word vectors for Train's source_vectors / target_vectors (64 dimensions: the seed's embed_dim).
  std::ofstream vectors(data / "vectors.txt");
  vectors << "2 64\n";
  for (const char* word : {"love", "good"}) {
    vectors << word;
    for (int i = 0; i < 64; ++i) vectors << " 0.01";
    vectors << "\n";
  }
}

// Codes a client can act on; INTERNAL (an unmapped exception) or anything else is a finding.
void CheckStatus(const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return;
    default:
      fprintf(stderr, "unexpected status %d: %s\n", static_cast<int>(status.error_code()),
              status.error_message().c_str());
      abort();
  }
}

grpc::Status Train(const v1::TrainRequest& request) {
  return Guarded([&] {
    JobSpec spec = TheService().service->TrainJobSpec(request);
    CorpusReport report;
    spec.read_corpus(&report);
    if (spec.read_dev) spec.read_dev();
    return grpc::Status::OK;
  });
}

grpc::Status Translate(const v1::TranslateRequest& request) {
  return Guarded([&] {
    auto input = TheService().service->CheckTranslate(request);
    input.bundle->ShortlistFor(input.options);
    for (size_t i = 0; i < input.sentences.size(); ++i) {
      input.bundle->PrepareSource(input.sentences[i], i, input.options);
    }
    return grpc::Status::OK;
  });
}

template <typename Request, typename Response, typename Handler>
grpc::Status Call(const std::string& bytes, Handler handler) {
  Request request;
  if (!request.ParseFromString(bytes)) return grpc::Status::OK;
  grpc::ServerContext context;
  Response response;
  return (TheService().service.get()->*handler)(&context, &request, &response);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto& s = TheService();
  const fs::path root = fs::path(fuzz::ScratchDir()) / "service";
  fs::remove_all(root);
  s.store = std::make_unique<ModelStore>((root / "models").string());
  PublishToy(s.store.get());
  MakeDataDir(root / "data");
  EngineOptions engine_options;
  engine_options.workers = 1;
  s.engine = std::make_unique<TranslationEngine>(engine_options);
  s.jobs = std::make_unique<TrainingJobs>(s.store.get(), 1);
  ServiceLimits limits;
  limits.max_sentences = 16;
  limits.max_inline_pairs = 64;
  s.service = std::make_unique<WordBridgeService>(s.store.get(), s.jobs.get(), s.engine.get(),
                                                  (root / "data").string(), limits);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes bytes(data, size);
  const uint8_t rpc = bytes.Byte() % 5;
  const std::string message = bytes.Rest();
  switch (rpc) {
    case 0: {
      v1::TrainRequest request;
      if (request.ParseFromString(message)) CheckStatus(Train(request));
      break;
    }
    case 1: {
      v1::TranslateRequest request;
      if (request.ParseFromString(message)) CheckStatus(Translate(request));
      break;
    }
    case 2:
      CheckStatus(Call<v1::GetEmbeddingRequest, v1::GetEmbeddingResponse>(message, &WordBridgeService::GetEmbedding));
      break;
    case 3:
      CheckStatus(Call<v1::NearestWordsRequest, v1::NearestWordsResponse>(message, &WordBridgeService::NearestWords));
      break;
    default:
      CheckStatus(Call<v1::ListModelsRequest, v1::ListModelsResponse>(message, &WordBridgeService::ListModels));
      break;
  }
  return 0;
}
