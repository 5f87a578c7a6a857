// Every RPC's request through the service's own validation (server/wordbridge_service.h), against
// a store holding the seed's toy model (the model tests/model/test_util.h trains, trained once at
// start-up) and a data directory with a few corpus files. The first byte picks the RPC (kRpcs below),
// the rest is parsed as its request message (bytes that do not parse are skipped: gRPC would refuse
// them first).
//   Train         TrainJobSpec (config, options, memory estimate, corpus sources, data paths and the
//                 vector files' dimension), then
//                 the corpus readers it returns - everything but the training itself;
//   Translate     CheckTranslate, then what TranslationEngine::Submit does before queueing (the
//                 shortlist check, tokenizing and encoding each sentence) - everything but decoding;
//   UploadCorpus  ReceiveUpload over a stream of messages: the rest is split at each 0xFF byte, each
//                 piece parsed as one UploadCorpusRequest;
//   ExportVectors WriteExport, its messages discarded;
//   WatchJob      not driven: it takes the same job id as GetJob, and no job runs here to relay;
//   every other RPC  the real handler (word lookups and FAISS searches are fast; a sentence vector is
//                 one encoder pass on an engine worker). DeleteVersion runs with `force` cleared, so
//                 the toy model's one version stays and every input sees the same store.
// A bad request must come back as a status a client can act on: an exception the service does not
// map (INTERNAL) is a finding, as is any sanitizer report.
#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

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
    case grpc::StatusCode::ALREADY_EXISTS:
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

grpc::Status Upload(const std::string& bytes) {
  std::vector<v1::UploadCorpusRequest> messages;
  size_t begin = 0;
  while (begin <= bytes.size()) {
    size_t end = bytes.find('\xff', begin);
    if (end == std::string::npos) end = bytes.size();
    v1::UploadCorpusRequest message;
    if (!message.ParseFromString(bytes.substr(begin, end - begin))) return grpc::Status::OK;
    messages.push_back(std::move(message));
    begin = end + 1;
  }
  size_t next = 0;
  return Guarded([&] {
    TheService().service->ReceiveUpload(
        [&](v1::UploadCorpusRequest* message) {
          if (next == messages.size()) return false;
          *message = messages[next++];
          return true;
        },
        [] { return false; });
    return grpc::Status::OK;
  });
}

grpc::Status Export(const std::string& bytes) {
  v1::ExportVectorsRequest request;
  if (!request.ParseFromString(bytes)) return grpc::Status::OK;
  return Guarded([&] {
    return TheService().service->WriteExport(request, [](const v1::ExportVectorsResponse&) { return true; });
  });
}

grpc::Status DeleteVersion(const std::string& bytes) {
  v1::DeleteVersionRequest request;
  if (!request.ParseFromString(bytes)) return grpc::Status::OK;
  request.set_force(false);
  grpc::ServerContext context;
  v1::DeleteVersionResponse response;
  return TheService().service->DeleteVersion(&context, &request, &response);
}

using S = WordBridgeService;
using RpcDriver = std::function<grpc::Status(const std::string&)>;
// One entry per RPC the fuzzer drives; the first input byte picks one (modulo the count). Keep the
// numbers in fuzz/make-request-seeds in step.
const std::vector<RpcDriver>& Rpcs() {
  static const std::vector<RpcDriver> rpcs = {
      [](const std::string& m) {  // 0
        v1::TrainRequest request;
        return request.ParseFromString(m) ? Train(request) : grpc::Status::OK;
      },
      [](const std::string& m) {  // 1
        v1::TranslateRequest request;
        return request.ParseFromString(m) ? Translate(request) : grpc::Status::OK;
      },
      [](const std::string& m) { return Call<v1::GetEmbeddingRequest, v1::GetEmbeddingResponse>(m, &S::GetEmbedding); },
      [](const std::string& m) { return Call<v1::NearestWordsRequest, v1::NearestWordsResponse>(m, &S::NearestWords); },
      [](const std::string& m) { return Call<v1::ListModelsRequest, v1::ListModelsResponse>(m, &S::ListModels); },
      [](const std::string& m) {  // 5
        return Call<v1::SimilarityRequest, v1::SimilarityResponse>(m, &S::Similarity);
      },
      [](const std::string& m) { return Call<v1::DoesntMatchRequest, v1::DoesntMatchResponse>(m, &S::DoesntMatch); },
      [](const std::string& m) {
        return Call<v1::IndexSentencesRequest, v1::IndexSentencesResponse>(m, &S::IndexSentences);
      },
      [](const std::string& m) {
        return Call<v1::NearestSentencesRequest, v1::NearestSentencesResponse>(m, &S::NearestSentences);
      },
      [](const std::string& m) {
        return Call<v1::InspectEmbeddingsRequest, v1::InspectEmbeddingsResponse>(m, &S::InspectEmbeddings);
      },
      Export,  // 10
      [](const std::string& m) { return Call<v1::GetJobRequest, v1::JobInfo>(m, &S::GetJob); },
      [](const std::string& m) { return Call<v1::ListJobsRequest, v1::ListJobsResponse>(m, &S::ListJobs); },
      [](const std::string& m) { return Call<v1::CancelJobRequest, v1::JobInfo>(m, &S::CancelJob); },
      [](const std::string& m) {
        return Call<v1::SetServingVersionRequest, v1::SetServingVersionResponse>(m, &S::SetServingVersion);
      },
      DeleteVersion,  // 15
      Upload,
      [](const std::string& m) { return Call<v1::ListCorporaRequest, v1::ListCorporaResponse>(m, &S::ListCorpora); },
      [](const std::string& m) {
        return Call<v1::DeleteCorpusRequest, v1::DeleteCorpusResponse>(m, &S::DeleteCorpus);
      },
      [](const std::string& m) { return Call<v1::ResumeJobRequest, v1::JobInfo>(m, &S::ResumeJob); },  // 19
  };
  return rpcs;
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
  limits.uploads.max_file_bytes = 64 << 10;  // the scratch directory is in memory
  limits.uploads.max_total_bytes = 1 << 20;
  s.service = std::make_unique<WordBridgeService>(s.store.get(), s.jobs.get(), s.engine.get(),
                                                  (root / "data").string(), limits);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Bytes bytes(data, size);
  const auto& rpcs = Rpcs();
  const size_t rpc = bytes.Byte() % rpcs.size();
  CheckStatus(rpcs[rpc](bytes.Rest()));
  return 0;
}
