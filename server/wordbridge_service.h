// The wordbridge.v1.WordBridge service: each handler validates the request, turns it into the model
// library's option structs, calls the library and maps errors to a status. Nothing else lives here.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "model/embed/sentence_index.h"
#include "model/train/corpus_uploads.h"

#include "model/serve/metrics.h"
#include "model/serve/translation_engine.h"
#include "model/store/model_store.h"
#include "server/security.h"
#include "model/jobs/training_jobs.h"
#include "wordbridge/v1/wordbridge.grpc.pb.h"

namespace wordbridge {

struct ServiceLimits {
  // Sentences per Translate request.
  int max_sentences = 1024;
  // Neighbours per NearestWords query, and queries per batched NearestWords request.
  int max_k = 1000;
  int max_queries = 1024;
  // Words per ExportVectors message (fewer when the vectors are wide: about 4 MiB of numbers at most).
  int export_words_per_message = 1000;
  // Inline pairs per Train request (larger corpora go through the data directory).
  int max_inline_pairs = 1000000;
  // Estimated training memory of one Train request's model (weights, gradients, Adam's moments and a
  // batch's activations); larger requests get RESOURCE_EXHAUSTED before anything is allocated.
  // 0 = no limit. Default: half the machine's memory.
  int64_t max_model_bytes = DefaultMaxModelBytes();
  // Training checkpoints within an epoch every this many minutes (always at each epoch's end); 0 =
  // only at epoch ends.
  double checkpoint_minutes = 10;
  // The word-search index kind of versions trained here when a Train request names none; empty = by
  // vocabulary size.
  std::string default_index_kind;
  // Sizes of corpora uploaded with UploadCorpus (model/train/corpus_uploads.h).
  UploadLimits uploads;

  static int64_t DefaultMaxModelBytes();
};

class WordBridgeService final : public v1::WordBridge::Service {
 public:
  // `data_dir` may be empty: then Train accepts inline pairs only.
  // Translations and sentence vectors run on `engine`'s workers; word lookups and FAISS searches,
  // which take microseconds, run on the RPC thread so they never wait behind translation batches.
  // `metrics` (may be null) gets request counts by method and status, and latency histograms.
  // `access` (may be null) is checked at the start of every handler: for servers whose credentials
  // cannot enforce it (plaintext; server/security.h).
  WordBridgeService(ModelStore* store, TrainingJobs* jobs, TranslationEngine* engine, std::string data_dir,
                    ServiceLimits limits = {}, MetricsRegistry* metrics = nullptr,
                    std::shared_ptr<const AccessPolicy> access = nullptr);

  grpc::Status Train(grpc::ServerContext* context, const v1::TrainRequest* request,
                     grpc::ServerWriter<v1::TrainProgress>* writer) override;
  grpc::Status Translate(grpc::ServerContext* context, const v1::TranslateRequest* request,
                         v1::TranslateResponse* response) override;
  grpc::Status GetEmbedding(grpc::ServerContext* context, const v1::GetEmbeddingRequest* request,
                            v1::GetEmbeddingResponse* response) override;
  grpc::Status NearestWords(grpc::ServerContext* context, const v1::NearestWordsRequest* request,
                            v1::NearestWordsResponse* response) override;
  grpc::Status Similarity(grpc::ServerContext* context, const v1::SimilarityRequest* request,
                          v1::SimilarityResponse* response) override;
  grpc::Status DoesntMatch(grpc::ServerContext* context, const v1::DoesntMatchRequest* request,
                           v1::DoesntMatchResponse* response) override;
  grpc::Status IndexSentences(grpc::ServerContext* context, const v1::IndexSentencesRequest* request,
                              v1::IndexSentencesResponse* response) override;
  grpc::Status NearestSentences(grpc::ServerContext* context, const v1::NearestSentencesRequest* request,
                                v1::NearestSentencesResponse* response) override;
  grpc::Status InspectEmbeddings(grpc::ServerContext* context, const v1::InspectEmbeddingsRequest* request,
                                 v1::InspectEmbeddingsResponse* response) override;
  grpc::Status ExportVectors(grpc::ServerContext* context, const v1::ExportVectorsRequest* request,
                             grpc::ServerWriter<v1::ExportVectorsResponse>* writer) override;
  grpc::Status ListModels(grpc::ServerContext* context, const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;
  grpc::Status WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::TrainProgress>* writer) override;
  grpc::Status GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request, v1::JobInfo* response) override;
  grpc::Status ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                        v1::ListJobsResponse* response) override;
  grpc::Status CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                         v1::JobInfo* response) override;
  grpc::Status SetServingVersion(grpc::ServerContext* context, const v1::SetServingVersionRequest* request,
                                 v1::SetServingVersionResponse* response) override;
  grpc::Status DeleteVersion(grpc::ServerContext* context, const v1::DeleteVersionRequest* request,
                             v1::DeleteVersionResponse* response) override;
  grpc::Status ResumeJob(grpc::ServerContext* context, const v1::ResumeJobRequest* request,
                         v1::JobInfo* response) override;

  // Continues INTERRUPTED job `job_id` from its last checkpoint: its stored request is checked and
  // turned into a job spec again (corpus files must still exist), then TrainingJobs::Resume. Throws
  // the model library's typed errors.
  std::shared_ptr<TrainingJob> ResumeInterruptedJob(const std::string& job_id);
  // Resumes every INTERRUPTED job that can (at start-up); logs one line per job, resumed or not.
  // Returns the ids resumed.
  std::vector<std::string> ResumeInterruptedJobs();

  grpc::Status UploadCorpus(grpc::ServerContext* context, grpc::ServerReader<v1::UploadCorpusRequest>* reader,
                            v1::UploadCorpusResponse* response) override;
  grpc::Status ListCorpora(grpc::ServerContext* context, const v1::ListCorporaRequest* request,
                           v1::ListCorporaResponse* response) override;
  grpc::Status DeleteCorpus(grpc::ServerContext* context, const v1::DeleteCorpusRequest* request,
                            v1::DeleteCorpusResponse* response) override;

  // UploadCorpus's work, apart from the stream so the request fuzzer can drive it: `next` fills in
  // the next message and returns false after the last; `cancelled` says whether the client went away.
  // Throws the model library's typed errors.
  v1::UploadedCorpus ReceiveUpload(const std::function<bool(v1::UploadCorpusRequest*)>& next,
                                   const std::function<bool()>& cancelled);

  // ExportVectors's work apart from the stream (for the request fuzzer as well): `write` sends one
  // message and returns false once the client is gone.
  grpc::Status WriteExport(const v1::ExportVectorsRequest& request,
                           const std::function<bool(const v1::ExportVectorsResponse&)>& write);

  // The request checks of Train and Translate, separate from the work they start so the request
  // fuzzer (fuzz/request_fuzzer.cc) runs exactly these without training or decoding. Both throw the
  // model library's typed errors (errors.h), which the handlers map to a status.
  // A Train request validated and turned into the job it would start (nothing is read or started).
  JobSpec TrainJobSpec(const v1::TrainRequest& request) const;
  // A Translate request validated: the bundle it names, its sentences and options.
  struct TranslateInput {
    std::shared_ptr<const ModelBundle> bundle;
    std::vector<std::string> sentences;
    TranslationOptions options;
  };
  TranslateInput CheckTranslate(const v1::TranslateRequest& request) const;

 private:
  // Runs a handler's body after the access check: errors become a status, and the call is counted and timed.
  template <typename Body>
  grpc::Status Handle(const char* method, grpc::ServerContext* context, Body&& body);
  // Throws UnauthenticatedError when `access_` requires a token for `method` that the call lacks.
  void Authorize(const char* method, grpc::ServerContext* context) const;
  // Counts a call that started at `start` and ended with `status`; returns the status.
  grpc::Status Record(const char* method, std::chrono::steady_clock::time_point start, grpc::Status status);

  // Streams `job`'s progress from its first message until it ends (then its final status) or the
  // client goes away (CANCELLED; the job keeps running).
  grpc::Status Relay(grpc::ServerContext* context, const TrainingJob& job,
                     grpc::ServerWriter<v1::TrainProgress>* writer) const;

  // The bundle a request names; FAILED_PRECONDITION while its first version is still training.
  std::shared_ptr<const ModelBundle> Resolve(const std::string& model, const std::string& version) const;
  // A path under the data directory; INVALID_ARGUMENT for anything that escapes it. `what` names it in
  // messages ("corpus path", "source vectors path").
  std::string DataPath(const std::string& relative, const std::string& what = "corpus path") const;
  // A Train request's vector file for one side, resolved under the data directory, its dimension checked
  // against the model's embed_dim (its first row is read); empty when none is given.
  std::string VectorsPath(const std::string& relative, const char* side, int64_t embed_dim) const;
  // Turns a Corpus message into a reader that runs on the job's thread.
  std::function<std::vector<SentencePair>(CorpusReport*)> CorpusReader(const v1::Corpus& corpus,
                                                                       const std::string& what) const;

  // The upload store; FAILED_PRECONDITION without a data directory.
  CorpusUploads& Uploads() const;

  // Translation memories (IndexSentences) live in <model dir>/<model>/.sentences/<version>/<name>/,
  // outside the version folder, whose manifest lists exactly what training wrote.
  std::string SentenceIndexDir(const std::string& model, const std::string& version, const std::string& name) const;
  // The memory, loaded on first use and kept; NOT_FOUND when there is none of that name.
  std::shared_ptr<const SentenceIndex> SentenceMemory(const ModelBundle& bundle, const std::string& name);

  ModelStore* store_;
  TrainingJobs* jobs_;
  TranslationEngine* engine_;
  std::string data_dir_;
  ServiceLimits limits_;
  std::unique_ptr<CorpusUploads> uploads_;  // null without a data directory
  MetricsRegistry* metrics_;
  std::shared_ptr<const AccessPolicy> access_;
  std::mutex sentence_mutex_;
  std::map<std::string, std::shared_ptr<const SentenceIndex>> sentence_memories_;  // by directory
  std::atomic<uint64_t> sentence_staging_sequence_{0};  // names this process's staging folders apart
};

}  // namespace wordbridge
