#include "server/wordbridge_service.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <cctype>
#include <chrono>

#include "model/nn/model_size.h"

#include <filesystem>

#include "model/common/errors.h"
#include "model/embed/diagnostics.h"
#include "model/embed/vector_io.h"
#include "model/store/staging.h"
#include "proto/credential_files.h"
#include "server/proto_convert.h"
#include "server/status_mapping.h"

namespace wordbridge {

namespace fs = std::filesystem;

namespace {

void AddNeighbors(const std::vector<Neighbor>& neighbors, google::protobuf::RepeatedPtrField<v1::Neighbor>* out) {
  for (const auto& n : neighbors) {
    auto* neighbor = out->Add();
    neighbor->set_word(n.word);
    neighbor->set_token_id(n.id);
    neighbor->set_score(n.score);
  }
}

void RequireModelName(const std::string& model) {
  if (model.empty()) throw InvalidArgumentError("request names no model");
}

void UploadedCorpusToProto(const UploadedCorpus& corpus, v1::UploadedCorpus* proto) {
  proto->set_name(corpus.name);
  proto->set_path(corpus.path);
  proto->set_bytes(corpus.bytes);
  proto->set_lines(corpus.lines);
  proto->set_sha256(corpus.sha256);
  proto->set_modified_unix_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(corpus.modified.time_since_epoch()).count());
}

void CheckSha256Hex(const std::string& hex) {
  if (hex.empty()) return;
  if (hex.size() != 64 || !std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c); })) {
    throw InvalidArgumentError("sha256 must be 64 hexadecimal digits");
  }
}

void RequireJobId(const std::string& id) {
  if (id.empty()) throw InvalidArgumentError("request names no job");
}

// Stops long requests when the client cancels or the deadline passes.
std::unique_ptr<StopToken> TokenFor(grpc::ServerContext* context) {
  auto token = std::make_unique<StopToken>(context->deadline());
  token->SetExternalCheck([context] { return context->IsCancelled(); });
  return token;
}

}  // namespace

WordBridgeService::WordBridgeService(ModelStore* store, TrainingJobs* jobs, TranslationEngine* engine,
                                     std::string data_dir, ServiceLimits limits, MetricsRegistry* metrics,
                                     std::shared_ptr<const AccessPolicy> access)
    : store_(store),
      jobs_(jobs),
      engine_(engine),
      data_dir_(std::move(data_dir)),
      limits_(limits),
      metrics_(metrics),
      access_(std::move(access)) {
  if (!data_dir_.empty() && fs::is_directory(data_dir_)) {
    uploads_ = std::make_unique<CorpusUploads>(data_dir_, limits_.uploads);
  }
}

template <typename Body>
grpc::Status WordBridgeService::Handle(const char* method, grpc::ServerContext* context, Body&& body) {
  const auto start = std::chrono::steady_clock::now();
  return Record(method, start, Guarded([&] {
                  Authorize(method, context);
                  return body();
                }));
}

void WordBridgeService::Authorize(const char* method, grpc::ServerContext* context) const {
  if (!access_ || !access_->enabled()) return;
  const std::string path = std::string("/") + v1::WordBridge::service_full_name() + "/" + method;
  const auto& metadata = context->client_metadata();
  const auto header = metadata.find(kAuthorizationHeader);
  if (header == metadata.end()) {
    access_->Check(path, nullptr);
    return;
  }
  const std::string_view value(header->second.data(), header->second.size());
  access_->Check(path, &value);
}

grpc::Status WordBridgeService::Record(const char* method, std::chrono::steady_clock::time_point start,
                                       grpc::Status status) {
  if (!metrics_) return status;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const Labels labels = {{"method", method}, {"code", StatusCodeName(status.error_code())}};
  metrics_->GetCounter("wordbridge_rpc_requests_total", "RPCs handled, by method and status code", labels)
      .Increment();
  static const std::vector<double> kBuckets = ExponentialBuckets(0.0001, 2, 20);  // 0.1 ms .. 52 s
  metrics_->GetHistogram("wordbridge_rpc_latency_seconds", "RPC latency, by method and status code", kBuckets,
                         labels)
      .Observe(seconds);
  return status;
}

std::shared_ptr<const ModelBundle> WordBridgeService::Resolve(const std::string& model,
                                                             const std::string& version) const {
  RequireModelName(model);
  if (!store_->Has(model) && jobs_->IsTraining(model)) {
    throw FailedPreconditionError("model '" + model + "' has no trained version yet; its first training job is running");
  }
  return store_->Get(model, version);
}

std::string WordBridgeService::DataPath(const std::string& relative, const std::string& what) const {
  if (data_dir_.empty()) {
    throw FailedPreconditionError("the server was started without --data-dir; send the corpus inline (" + what +
                                  " '" + relative + "' cannot be read)");
  }
  if (relative.empty() || fs::path(relative).is_absolute()) {
    throw InvalidArgumentError(what + " '" + relative + "' must be relative to the server's data directory");
  }
  const fs::path root = fs::weakly_canonical(data_dir_);
  const fs::path full = fs::weakly_canonical(root / relative);
  auto [root_end, full_it] = std::mismatch(root.begin(), root.end(), full.begin(), full.end());
  if (root_end != root.end() || full == root) {
    throw InvalidArgumentError(what + " '" + relative + "' is outside the server's data directory");
  }
  if (full.filename().string().rfind(".staging-", 0) == 0) {
    throw InvalidArgumentError(what + " '" + relative + "' is an upload still being written");
  }
  if (!fs::is_regular_file(full)) throw NotFoundError("no file '" + relative + "' in the server's data directory");
  return full.string();
}

std::string WordBridgeService::VectorsPath(const std::string& relative, const char* side, int64_t embed_dim) const {
  if (relative.empty()) return "";
  std::string path = DataPath(relative, std::string(side) + " vectors path");
  // The dimension now, from the first row, so a wrong file is refused before a job starts; the job
  // reads (and checks) the whole file.
  VectorFileLimits first_row;
  first_row.max_rows = 1;
  const int64_t dimension = ReadWordVectorsFile(path, first_row).dimension;
  if (dimension != embed_dim) {
    throw InvalidArgumentError(std::string(side) + " vectors '" + relative + "' have " + std::to_string(dimension) +
                               " dimensions; the model's embed_dim is " + std::to_string(embed_dim));
  }
  return path;
}

std::function<std::vector<SentencePair>(CorpusReport*)> WordBridgeService::CorpusReader(
    const v1::Corpus& corpus, const std::string& what) const {
  const int sources = (corpus.pairs_size() > 0) + !corpus.tsv_path().empty() +
                      (!corpus.source_path().empty() || !corpus.target_path().empty());
  if (sources == 0) return nullptr;
  if (sources > 1) throw InvalidArgumentError(what + ": give inline pairs, a TSV path or a source/target pair, not several");
  CorpusLimits limits;
  if (corpus.pairs_size() > 0) {
    if (corpus.pairs_size() > limits_.max_inline_pairs) {
      throw ResourceExhaustedError(what + " has more than " + std::to_string(limits_.max_inline_pairs) +
                                   " inline pairs; put it in the data directory");
    }
    std::vector<SentencePair> pairs;
    for (const auto& p : corpus.pairs()) pairs.push_back({p.source(), p.target()});
    return [pairs = std::move(pairs), limits](CorpusReport* report) { return CleanPairs(pairs, limits, report); };
  }
  if (!corpus.tsv_path().empty()) {
    std::string path = DataPath(corpus.tsv_path());
    return [path, limits](CorpusReport* report) { return ReadTsv(path, limits, report); };
  }
  if (corpus.source_path().empty() || corpus.target_path().empty()) {
    throw InvalidArgumentError(what + ": a Moses-style corpus needs both source_path and target_path");
  }
  std::string source = DataPath(corpus.source_path()), target = DataPath(corpus.target_path());
  return [source, target, limits](CorpusReport* report) {
    return ReadParallelFiles(source, target, limits, report);
  };
}

int64_t ServiceLimits::DefaultMaxModelBytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<int64_t>(pages) * page_size / 2;
}

JobSpec WordBridgeService::TrainJobSpec(const v1::TrainRequest& request) const {
  RequireModelName(request.model());
  ModelStore::ValidateName(request.model());
  JobSpec spec;
  spec.model = request.model();
  spec.config = ConfigFromProto(request.config());
  spec.options = TrainingOptionsFromProto(request.options(), spec.config.architecture);
  spec.options.threads = 1;
  spec.options.max_training_bytes = limits_.max_model_bytes;
  if (spec.options.index_kind.empty()) spec.options.index_kind = limits_.default_index_kind;
  // Refuse at once what is too large whatever the corpus: with a capped vocabulary the estimate
  // is known now (otherwise the job checks it once the vocabularies are built, before allocating).
  if (spec.config.max_vocab_size > 0) {
    ModelConfig bound = spec.config;
    bound.source_vocab_size = bound.target_vocab_size = spec.config.max_vocab_size + Vocabulary::kNumSpecial;
    CheckTrainingMemory(bound, spec.options.MaxBatchTargetTokens(), limits_.max_model_bytes);
  }
  const auto& options = request.options();
  spec.split_seed = options.split_seed() == 0 ? 1 : static_cast<uint64_t>(options.split_seed());
  spec.options.checkpoint_dir = store_->root() + "/.checkpoints/" + request.model();
  spec.options.checkpoint_minutes = limits_.checkpoint_minutes;
  spec.options.source_vectors = VectorsPath(options.source_vectors(), "source", spec.config.embed_dim);
  spec.options.target_vectors = VectorsPath(options.target_vectors(), "target", spec.config.embed_dim);
  spec.read_corpus = CorpusReader(request.corpus(), "corpus");
  if (!spec.read_corpus) throw InvalidArgumentError("the request has no corpus");
  if (auto dev = CorpusReader(request.dev(), "dev set")) {
    spec.read_dev = [dev] {
      CorpusReport ignored;
      return dev(&ignored);
    };
  }
  return spec;
}

grpc::Status WordBridgeService::Relay(grpc::ServerContext* context, const TrainingJob& job,
                                      grpc::ServerWriter<v1::TrainProgress>* writer) const {
  JobProgress progress;
  for (size_t next = 0;;) {
    if (context->IsCancelled()) {
      return {grpc::StatusCode::CANCELLED, "the client went away; job " + job.id() + " keeps running"};
    }
    switch (job.WaitForProgress(next, &progress, std::chrono::milliseconds(200))) {
      case TrainingJob::Next::kMessage:
        if (!writer->Write(ProgressToProto(job.id(), progress))) {
          return {grpc::StatusCode::CANCELLED, "the stream broke; job " + job.id() + " keeps running"};
        }
        ++next;
        break;
      case TrainingJob::Next::kTimeout:
        break;
      case TrainingJob::Next::kEnd:
        return ToGrpcStatus(job.record().FinalStatus());
    }
  }
}

grpc::Status WordBridgeService::Train(grpc::ServerContext* context, const v1::TrainRequest* request,
                                      grpc::ServerWriter<v1::TrainProgress>* writer) {
  const auto start = std::chrono::steady_clock::now();
  std::shared_ptr<TrainingJob> job;
  grpc::Status status = Guarded([&] {
    Authorize("Train", context);
    JobSpec spec = TrainJobSpec(*request);
    spec.request = request->SerializeAsString();  // kept with the job so that it can resume
    job = jobs_->Start(std::move(spec));
    return grpc::Status::OK;
  });
  if (!status.ok()) return Record("Train", start, status);
  if (!request->detach()) return Record("Train", start, Relay(context, *job, writer));
  // Detached: only the first message (the job id, there since Start returned); the job runs on.
  JobProgress accepted;
  job->WaitForProgress(0, &accepted, std::chrono::milliseconds(0));
  writer->Write(ProgressToProto(job->id(), accepted));
  return Record("Train", start, grpc::Status::OK);
}

WordBridgeService::TranslateInput WordBridgeService::CheckTranslate(const v1::TranslateRequest& request) const {
  TranslateInput input;
  input.bundle = Resolve(request.model(), request.version());
  if (request.sentences_size() == 0) throw InvalidArgumentError("no sentences to translate");
  if (request.sentences_size() > limits_.max_sentences) {
    throw ResourceExhaustedError(std::to_string(request.sentences_size()) + " sentences in one request; the limit is " +
                                 std::to_string(limits_.max_sentences));
  }
  input.options = TranslationOptionsFromProto(request.options());
  input.sentences.assign(request.sentences().begin(), request.sentences().end());
  return input;
}

grpc::Status WordBridgeService::Translate(grpc::ServerContext* context, const v1::TranslateRequest* request,
                                          v1::TranslateResponse* response) {
  return Handle("Translate", context, [&] {
    auto [bundle, sentences, options] = CheckTranslate(*request);
    auto stop = TokenFor(context);
    auto translations = engine_->Translate(bundle, sentences, options, stop.get(), context->deadline());
    response->set_model(bundle->name());
    response->set_version(bundle->version());
    for (const auto& t : translations) {
      auto* out = response->add_translations();
      for (const auto& h : t.hypotheses) {
        auto* hyp = out->add_hypotheses();
        hyp->set_text(h.text);
        for (const auto& token : h.tokens) hyp->add_tokens(token);
        hyp->set_score(h.score);
        if (options.record_attention) {
          for (float a : h.attention) hyp->add_attention(a);
          for (const auto& s : t.source_tokens) hyp->add_source_tokens(s);
        }
      }
    }
    return grpc::Status::OK;
  });
}

namespace {

// The vector kind a request names, or none (the version's default).
std::optional<VectorKind> KindFromProto(const std::string& name) {
  if (name.empty()) return std::nullopt;
  return ParseVectorKind(name);
}

void AddWordHits(const WordSpace& space, const std::vector<WordHit>& hits,
                 google::protobuf::RepeatedPtrField<v1::Neighbor>* out) {
  for (const auto& hit : hits) {
    auto* neighbor = out->Add();
    neighbor->set_word(space.words().word(hit.word));
    neighbor->set_token_id(hit.word);
    neighbor->set_score(hit.score);
    neighbor->set_count(space.words().count(hit.word));
  }
}

void DiagnosticsToProto(const ModelBundle& bundle, Side side, VectorKind kind, const WordSpace& space,
                        const DiagnosticsOptions& options, const EmbeddingDiagnostics& diagnostics,
                        v1::EmbeddingDiagnostics* out) {
  const WordList& words = space.words();
  out->set_side(side == Side::kSource ? v1::SOURCE : v1::TARGET);
  out->set_vector_kind(VectorKindName(kind));
  out->set_vocabulary_size(bundle.vocabulary(side).size());
  out->set_words(diagnostics.words);
  out->set_corpus_words(diagnostics.corpus_words);
  out->set_counted(bundle.HasCountedWords(side));
  out->set_dimension(static_cast<int32_t>(diagnostics.dimension));
  const NormStats& stats = diagnostics.norms.stats;
  out->set_norm_mean(stats.mean);
  out->set_norm_std(stats.std);
  out->set_norm_min(stats.min);
  out->set_norm_max(stats.max);
  out->set_outlier_sigmas(options.outlier_sigmas);
  out->set_outlier_count(diagnostics.norms.outlier_count);
  for (const auto& outlier : diagnostics.norms.outliers) {
    auto* o = out->add_outliers();
    o->set_word(words.word(outlier.row));
    o->set_count(words.count(outlier.row));
    o->set_norm(outlier.norm);
    o->set_sigmas(outlier.sigmas);
  }
  for (const auto& point : diagnostics.projection) {
    auto* p = out->add_projection();
    p->set_word(words.word(point.word));
    p->set_count(words.count(point.word));
    p->set_x(point.x);
    p->set_y(point.y);
  }
  if (!diagnostics.projection.empty()) {
    out->add_explained_variance(diagnostics.explained[0]);
    out->add_explained_variance(diagnostics.explained[1]);
  }
}

void CheckQueryCount(int64_t n, int64_t limit, const char* what) {
  if (n > limit) {
    throw InvalidArgumentError(std::to_string(n) + " " + what + " in one request; the limit is " + std::to_string(limit));
  }
}

}  // namespace

grpc::Status WordBridgeService::GetEmbedding(grpc::ServerContext* context, const v1::GetEmbeddingRequest* request,
                                             v1::GetEmbeddingResponse* response) {
  return Handle("GetEmbedding", context, [&] {
    auto bundle = Resolve(request->model(), request->version());
    const Side side = SideFromProto(request->side());
    const bool single = request->query_case() != v1::GetEmbeddingRequest::QUERY_NOT_SET;
    const int batched = request->words_size() + request->sentences_size();
    if (single == (batched > 0) || (request->words_size() > 0 && request->sentences_size() > 0)) {
      throw InvalidArgumentError("give a word or a sentence, or words or sentences (one of the four)");
    }
    CheckQueryCount(batched, limits_.max_queries, "words or sentences");
    const auto pooling = request->pooling() == v1::MEAN_STATES ? ModelBundle::SentencePooling::kMeanStates
                                                               : ModelBundle::SentencePooling::kFinalState;
    const auto kind = KindFromProto(request->vector_kind());
    const WordSpace* space = request->pieces() ? nullptr : &bundle->Words(side, kind);
    if (space) response->set_vector_kind(VectorKindName(kind.value_or(bundle->DefaultVectorKind(side))));
    auto embed_word = [&](const std::string& word, v1::Embedding* out) {
      std::vector<float> values;
      if (space) {
        auto resolved = space->Resolve(word);
        values = std::move(resolved.vector);
        out->set_in_vocabulary(resolved.word >= 0);
        out->set_id(resolved.word);
        out->set_count(resolved.word >= 0 ? space->words().count(resolved.word) : 0);
      } else {
        auto row = bundle->WordEmbedding(side, word);
        values = std::move(row.values);
        out->set_in_vocabulary(row.in_vocabulary);
        out->set_id(row.id);
      }
      out->set_text(word);
      out->mutable_vector()->Add(values.begin(), values.end());
    };
    auto embed_sentences = [&](const std::vector<std::string>& sentences, std::vector<v1::Embedding*> outs) {
      if (side != Side::kSource) throw InvalidArgumentError("sentence embeddings exist for the source side only");
      // Forward passes of the encoder: they run on an engine worker, not on the RPC thread.
      engine_->RunOnWorker([&] {
        for (size_t i = 0; i < sentences.size(); ++i) {
          auto values = bundle->SentenceEmbedding(sentences[i], pooling);
          outs[i]->set_text(sentences[i]);
          outs[i]->set_in_vocabulary(true);
          outs[i]->set_id(-1);
          outs[i]->mutable_vector()->Add(values.begin(), values.end());
        }
      });
    };
    if (batched > 0) {
      if (request->words_size() > 0) {
        for (const auto& word : request->words()) embed_word(word, response->add_embeddings());
      } else {
        std::vector<v1::Embedding*> outs;
        for (int i = 0; i < request->sentences_size(); ++i) outs.push_back(response->add_embeddings());
        embed_sentences({request->sentences().begin(), request->sentences().end()}, outs);
      }
      if (response->embeddings_size() > 0) response->set_dimension(response->embeddings(0).vector_size());
      return grpc::Status::OK;
    }
    v1::Embedding one;
    if (request->query_case() == v1::GetEmbeddingRequest::kWord) {
      embed_word(request->word(), &one);
    } else {
      embed_sentences({request->sentence()}, {&one});
    }
    response->set_in_vocabulary(one.in_vocabulary());
    response->set_token_id(one.id());
    response->set_dimension(one.vector_size());
    *response->mutable_vector() = one.vector();
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::NearestWords(grpc::ServerContext* context, const v1::NearestWordsRequest* request,
                                             v1::NearestWordsResponse* response) {
  return Handle("NearestWords", context, [&] {
    auto bundle = Resolve(request->model(), request->version());
    const Side side = SideFromProto(request->side());
    int k = request->k() == 0 ? 10 : request->k();
    if (k < 1 || k > limits_.max_k) {
      throw InvalidArgumentError("k must be in [1, " + std::to_string(limits_.max_k) + "]");
    }
    if (request->restrict_vocab() < 0) throw InvalidArgumentError("restrict_vocab must not be negative");
    const bool analogy = request->positive_size() + request->negative_size() > 0;
    const int forms = (request->query_case() != v1::NearestWordsRequest::QUERY_NOT_SET) + (request->words_size() > 0) +
                      (request->vectors_size() > 0) + analogy + (request->analogies_size() > 0);
    if (forms != 1) {
      throw InvalidArgumentError(
          "give exactly one kind of query: a word, a vector, words, vectors, an analogy (positive/negative) or "
          "analogies");
    }
    CheckQueryCount(request->words_size() + request->vectors_size() + request->analogies_size(), limits_.max_queries,
                    "queries");
    std::vector<std::vector<float>> vectors;
    for (const auto& v : request->vectors()) vectors.emplace_back(v.values().begin(), v.values().end());
    if (request->query_case() == v1::NearestWordsRequest::kVector) {
      vectors.emplace_back(request->vector().values().begin(), request->vector().values().end());
    }
    for (const auto& v : vectors) {
      if (v.empty()) throw InvalidArgumentError("a query vector is empty");
    }
    const bool single = request->query_case() != v1::NearestWordsRequest::QUERY_NOT_SET || analogy;

    if (request->pieces()) {
      if (analogy || request->analogies_size() > 0 || request->restrict_vocab() > 0 || !request->vector_kind().empty()) {
        throw InvalidArgumentError("pieces queries take words or vectors only (no analogies, restrict_vocab or vector_kind)");
      }
      const int64_t tokens = bundle->vocabulary(side).size() - Vocabulary::kNumSpecial;
      response->set_k_clamped(k > tokens);
      k = static_cast<int>(std::min<int64_t>(k, tokens));
      response->set_k(k);
      std::vector<std::vector<Neighbor>> results;
      if (request->query_case() == v1::NearestWordsRequest::kWord) {
        results = {bundle->NearestWords(side, request->word(), k)};
      } else if (request->words_size() > 0) {
        results = bundle->NearestWordsBatch(side, {request->words().begin(), request->words().end()}, k);
      } else {
        results = bundle->NearestToVectors(side, vectors, k);
      }
      if (single) {
        AddNeighbors(results.front(), response->mutable_neighbors());
      } else {
        for (const auto& neighbors : results) AddNeighbors(neighbors, response->add_results()->mutable_neighbors());
      }
      return grpc::Status::OK;
    }

    const auto kind = KindFromProto(request->vector_kind());
    const WordSpace& space = bundle->Words(side, kind);
    response->set_vector_kind(VectorKindName(kind.value_or(bundle->DefaultVectorKind(side))));
    const int64_t searchable =
        request->restrict_vocab() > 0 ? std::min<int64_t>(request->restrict_vocab(), space.size()) : space.size();
    response->set_k_clamped(k > searchable);
    k = static_cast<int>(std::min<int64_t>(k, searchable));
    response->set_k(k);
    if (k == 0) throw FailedPreconditionError("the " + space.description() + " vectors hold no words");
    const auto scoring = request->scoring() == v1::COS_MUL ? AnalogyScoring::kCosMul : AnalogyScoring::kCosAdd;
    auto check_analogy = [&](int positive, int negative) {
      if (positive == 0) throw InvalidArgumentError("an analogy needs at least one positive word");
      if (positive + negative > 64) throw InvalidArgumentError("an analogy takes at most 64 words");
    };
    std::vector<std::vector<WordHit>> results;
    if (analogy) {
      check_analogy(request->positive_size(), request->negative_size());
      results = {space.Analogy({request->positive().begin(), request->positive().end()},
                               {request->negative().begin(), request->negative().end()}, scoring, k,
                               request->restrict_vocab())};
    } else if (request->analogies_size() > 0) {
      for (const auto& a : request->analogies()) {
        check_analogy(a.positive_size(), a.negative_size());
        results.push_back(space.Analogy({a.positive().begin(), a.positive().end()},
                                        {a.negative().begin(), a.negative().end()}, scoring, k,
                                        request->restrict_vocab()));
      }
    } else {
      // Words and vectors: one FAISS batch search; a query word is never its own neighbour.
      std::vector<std::vector<int64_t>> excludes;
      std::vector<std::string> words(request->words().begin(), request->words().end());
      if (request->query_case() == v1::NearestWordsRequest::kWord) words.push_back(request->word());
      for (const auto& word : words) {
        auto resolved = space.Resolve(word);
        vectors.push_back(std::move(resolved.vector));
        excludes.push_back(resolved.word >= 0 ? std::vector<int64_t>{resolved.word} : std::vector<int64_t>{});
      }
      if (!excludes.empty()) excludes.resize(vectors.size());
      results = space.Nearest(vectors, k, excludes, request->restrict_vocab());
    }
    if (single) {
      AddWordHits(space, results.front(), response->mutable_neighbors());
    } else {
      for (const auto& hits : results) AddWordHits(space, hits, response->add_results()->mutable_neighbors());
    }
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::Similarity(grpc::ServerContext* context, const v1::SimilarityRequest* request,
                                           v1::SimilarityResponse* response) {
  return Handle("Similarity", context, [&] {
    auto bundle = Resolve(request->model(), request->version());
    const Side side = SideFromProto(request->side());
    const auto kind = KindFromProto(request->vector_kind());
    const WordSpace& space = bundle->Words(side, kind);
    response->set_vector_kind(VectorKindName(kind.value_or(bundle->DefaultVectorKind(side))));
    const bool single = !request->word_a().empty() || !request->word_b().empty();
    if (single == (request->pairs_size() > 0)) {
      throw InvalidArgumentError("give word_a and word_b, or pairs (not both)");
    }
    CheckQueryCount(request->pairs_size(), limits_.max_queries, "pairs");
    if (single) {
      response->set_similarity(space.Similarity(request->word_a(), request->word_b()));
    } else {
      for (const auto& pair : request->pairs()) response->add_similarities(space.Similarity(pair.a(), pair.b()));
    }
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::DoesntMatch(grpc::ServerContext* context, const v1::DoesntMatchRequest* request,
                                            v1::DoesntMatchResponse* response) {
  return Handle("DoesntMatch", context, [&] {
    auto bundle = Resolve(request->model(), request->version());
    const Side side = SideFromProto(request->side());
    const auto kind = KindFromProto(request->vector_kind());
    const WordSpace& space = bundle->Words(side, kind);
    response->set_vector_kind(VectorKindName(kind.value_or(bundle->DefaultVectorKind(side))));
    CheckQueryCount(request->words_size(), limits_.max_queries, "words");
    auto [word, similarity] = space.DoesntMatch({request->words().begin(), request->words().end()});
    response->set_word(word);
    response->set_similarity(similarity);
    return grpc::Status::OK;
  });
}

std::string WordBridgeService::SentenceIndexDir(const std::string& model, const std::string& version,
                                                const std::string& name) const {
  return store_->root() + "/" + model + "/.sentences/" + version + "/" + name;
}

std::shared_ptr<const SentenceIndex> WordBridgeService::SentenceMemory(const ModelBundle& bundle, const std::string& name) {
  CheckSentenceIndexName(name);
  const std::string dir = SentenceIndexDir(bundle.name(), bundle.version(), name);
  std::lock_guard<std::mutex> lock(sentence_mutex_);
  auto it = sentence_memories_.find(dir);
  if (it != sentence_memories_.end()) return it->second;
  if (!fs::is_directory(dir)) {
    throw NotFoundError("model " + bundle.name() + " version " + bundle.version() + " has no sentence index '" + name +
                        "' (IndexSentences makes one)");
  }
  std::shared_ptr<const SentenceIndex> memory = SentenceIndex::Load(dir);
  sentence_memories_[dir] = memory;
  return memory;
}

grpc::Status WordBridgeService::IndexSentences(grpc::ServerContext* context, const v1::IndexSentencesRequest* request,
                                               v1::IndexSentencesResponse* response) {
  return Handle("IndexSentences", context, [&] {
    const auto start = std::chrono::steady_clock::now();
    auto bundle = Resolve(request->model(), request->version());
    CheckSentenceIndexName(request->name());
    auto reader = CorpusReader(request->corpus(), "corpus");
    if (!reader) throw InvalidArgumentError("give the corpus to index (inline pairs or a file in the data directory)");
    CorpusReport report;
    auto pairs = reader(&report);
    const int64_t read = static_cast<int64_t>(pairs.size());
    const bool mean = request->pooling() == v1::MEAN_STATES;
    const auto pooling = mean ? ModelBundle::SentencePooling::kMeanStates : ModelBundle::SentencePooling::kFinalState;
    // A bulk encoder pass: it runs on this RPC thread, so translation workers keep serving meanwhile.
    auto memory = SentenceIndex::Build(
        std::move(pairs), [&](const std::vector<std::string>& s) { return bundle->SentenceEmbeddings(s, pooling); },
        mean ? "mean" : "final");
    // Written beside the target in a staging folder named for its owner (model/store/staging.h) and
    // renamed into place, so a reader never sees half a memory. The memory it replaces is renamed to a
    // staging name too before it is removed: what a crash leaves either way is removed by the next
    // IndexSentences of that version, as the model store removes abandoned versions.
    const fs::path dir = SentenceIndexDir(bundle->name(), bundle->version(), request->name());
    const fs::path parent = dir.parent_path();
    const StagingOwner self = StagingOwner::Current();
    RemoveAbandonedStaging(parent.string(), self);
    const fs::path staging = parent / self.FolderName(++sentence_staging_sequence_);
    fs::create_directories(staging);
    try {
      memory->Save(staging.string());
      std::lock_guard<std::mutex> lock(sentence_mutex_);
      const fs::path old = parent / self.FolderName(++sentence_staging_sequence_);
      if (fs::exists(dir)) fs::rename(dir, old);
      fs::rename(staging, dir);
      fs::remove_all(old);
      sentence_memories_[dir.string()] = std::shared_ptr<const SentenceIndex>(std::move(memory));
    } catch (...) {
      fs::remove_all(staging);
      throw;
    }
    const auto& stored = *sentence_memories_.at(dir.string());
    response->set_version(bundle->version());
    response->set_sentences(stored.size());
    response->set_skipped(std::max<int64_t>(report.lines, read) - stored.size());
    response->set_seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::NearestSentences(grpc::ServerContext* context,
                                                 const v1::NearestSentencesRequest* request,
                                                 v1::NearestSentencesResponse* response) {
  return Handle("NearestSentences", context, [&] {
    auto bundle = Resolve(request->model(), request->version());
    auto memory = SentenceMemory(*bundle, request->name());
    const bool single = !request->sentence().empty();
    if (single == (request->sentences_size() > 0)) throw InvalidArgumentError("give a sentence or sentences (not both)");
    CheckQueryCount(request->sentences_size(), limits_.max_queries, "sentences");
    const int k = request->k() == 0 ? 5 : request->k();
    if (k < 1 || k > limits_.max_k) throw InvalidArgumentError("k must be in [1, " + std::to_string(limits_.max_k) + "]");
    std::vector<std::string> queries(request->sentences().begin(), request->sentences().end());
    if (single) queries.push_back(request->sentence());
    const auto pooling = memory->pooling() == "mean" ? ModelBundle::SentencePooling::kMeanStates
                                                     : ModelBundle::SentencePooling::kFinalState;
    torch::Tensor vectors;
    engine_->RunOnWorker([&] { vectors = bundle->SentenceEmbeddings(queries, pooling); });
    std::vector<std::vector<float>> rows;
    for (int64_t i = 0; i < vectors.size(0); ++i) {
      auto row = vectors[i].contiguous();
      if (row.abs().sum().item<float>() == 0) {
        throw InvalidArgumentError("sentence '" + queries[i] + "' has no token the model knows");
      }
      rows.emplace_back(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
    }
    response->set_version(bundle->version());
    response->set_pooling(memory->pooling());
    const auto results = memory->Search(rows, k);
    auto add = [&](const std::vector<SentenceIndex::Hit>& hits, google::protobuf::RepeatedPtrField<v1::SentenceMatch>* out) {
      for (const auto& hit : hits) {
        auto* match = out->Add();
        match->set_source(memory->pairs()[hit.pair].source);
        match->set_target(memory->pairs()[hit.pair].target);
        match->set_score(hit.score);
        match->set_index(hit.pair);
      }
    };
    if (single) {
      add(results.front(), response->mutable_matches());
    } else {
      for (const auto& hits : results) add(hits, response->add_results()->mutable_matches());
    }
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::InspectEmbeddings(grpc::ServerContext* context,
                                                 const v1::InspectEmbeddingsRequest* request,
                                                 v1::InspectEmbeddingsResponse* response) {
  return Handle("InspectEmbeddings", context, [&] {
    auto bundle = Resolve(request->model(), request->version());
    DiagnosticsOptions options;
    options.projection_words = request->projection_words();
    options.Validate();
    const std::vector<Side> sides = request->side() == v1::SIDE_UNSPECIFIED
                                        ? std::vector<Side>{Side::kSource, Side::kTarget}
                                        : std::vector<Side>{SideFromProto(request->side())};
    response->set_model(bundle->name());
    response->set_version(bundle->version());
    const auto kind = KindFromProto(request->vector_kind());
    // Every side's vectors first, so a kind one side lacks fails the call before any work is done.
    std::vector<const WordSpace*> spaces;
    for (const Side side : sides) spaces.push_back(&bundle->Words(side, kind));
    // Norms over the word list and one SVD of at most 10,000 rows: well under a second for the
    // sizes this service trains, so it runs on the RPC thread like the other word queries.
    for (size_t i = 0; i < sides.size(); ++i) {
      DiagnosticsToProto(*bundle, sides[i], kind.value_or(bundle->DefaultVectorKind(sides[i])), *spaces[i], options,
                         DiagnoseWordSpace(*spaces[i], options), response->add_sides());
    }
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::ExportVectors(grpc::ServerContext* context, const v1::ExportVectorsRequest* request,
                                              grpc::ServerWriter<v1::ExportVectorsResponse>* writer) {
  return Handle("ExportVectors", context, [&] {
    return WriteExport(*request, [&](const v1::ExportVectorsResponse& message) {
      return !context->IsCancelled() && writer->Write(message);
    });
  });
}

grpc::Status WordBridgeService::WriteExport(const v1::ExportVectorsRequest& request,
                                            const std::function<bool(const v1::ExportVectorsResponse&)>& write) {
  auto bundle = Resolve(request.model(), request.version());
  const Side side = SideFromProto(request.side());
  if (request.restrict_vocab() < 0) throw InvalidArgumentError("restrict_vocab must not be negative");
  const auto kind = KindFromProto(request.vector_kind());
  const WordSpace& space = bundle->Words(side, kind);
  const int64_t total =
      request.restrict_vocab() > 0 ? std::min<int64_t>(request.restrict_vocab(), space.size()) : space.size();
  // At most export_words_per_message words and about 4 MiB of numbers per message, far below any
  // message limit.
  const int64_t per_message = std::clamp<int64_t>((int64_t{1} << 20) / std::max<int64_t>(1, space.dimension()), 1,
                                                  std::max(1, limits_.export_words_per_message));
  v1::ExportVectorsResponse message;
  message.set_model(bundle->name());
  message.set_version(bundle->version());
  message.set_vector_kind(VectorKindName(kind.value_or(bundle->DefaultVectorKind(side))));
  message.set_dimension(static_cast<int32_t>(space.dimension()));
  message.set_total_words(total);
  message.set_counted(bundle->HasCountedWords(side));
  int64_t next = 0;
  do {
    for (const int64_t end = std::min(total, next + per_message); next < end; ++next) {
      auto* out = message.add_words();
      out->set_word(space.words().word(next));
      out->set_count(space.words().count(next));
      const auto row = space.Row(next);
      out->mutable_vector()->Add(row.begin(), row.end());
    }
    if (!write(message)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away during the export");
    message.Clear();
  } while (next < total);
  return grpc::Status::OK;
}

grpc::Status WordBridgeService::ListModels(grpc::ServerContext* context, const v1::ListModelsRequest*,
                                           v1::ListModelsResponse* response) {
  return Handle("ListModels", context, [&] {
    for (const auto& summary : store_->List()) {
      auto* info = response->add_models();
      info->set_name(summary.name);
      info->set_version(summary.serving_version);
      for (const auto& v : summary.versions) info->add_versions(v);
      ConfigToProto(summary.serving->config(), info->mutable_config());
      info->set_source_vocab_size(summary.serving->config().source_vocab_size);
      info->set_target_vocab_size(summary.serving->config().target_vocab_size);
      for (const auto& [key, value] : summary.serving->metrics()) (*info->mutable_metrics())[key] = value;
      for (const auto& [key, value] : summary.serving->training()) (*info->mutable_training())[key] = value;
      info->set_pinned_version(summary.pinned_version);
      for (const auto& details : summary.details) {
        auto* version = info->add_version_infos();
        version->set_version(details.version);
        version->set_bytes(details.bytes);
        version->set_created_time(std::chrono::duration<double>(details.created.time_since_epoch()).count());
        for (const auto& [key, value] : details.metrics) (*version->mutable_metrics())[key] = value;
        version->set_serving(details.serving);
        version->set_pinned(details.pinned);
        version->set_refused_reason(details.refused);
      }
      for (const Side side : {Side::kSource, Side::kTarget}) {
        auto* words = info->add_word_spaces();
        words->set_side(side == Side::kSource ? v1::SOURCE : v1::TARGET);
        const auto& space = summary.serving->Words(side);
        words->set_words(space.size());
        words->set_counted(summary.serving->HasCountedWords(side));
        for (const auto kind : summary.serving->VectorKinds(side)) words->add_vector_kinds(VectorKindName(kind));
        words->set_default_vector_kind(VectorKindName(summary.serving->DefaultVectorKind(side)));
        words->set_dimension(static_cast<int32_t>(space.dimension()));
        const auto index = summary.serving->WordIndex(side, summary.serving->DefaultVectorKind(side));
        words->set_index_kind(IndexKindName(index.kind));
        words->set_recall_at_10(index.recall_at_10);
      }
    }
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::WatchJob(grpc::ServerContext* context, const v1::WatchJobRequest* request,
                                         grpc::ServerWriter<v1::TrainProgress>* writer) {
  return Handle("WatchJob", context, [&] {
    RequireJobId(request->job_id());
    if (auto job = jobs_->Find(request->job_id())) return Relay(context, *job, writer);
    // Not in this process's memory: a record on disk (an earlier run's, or another process's).
    const JobRecord record = jobs_->Get(request->job_id());
    if (!IsFinished(record.state)) {
      throw FailedPreconditionError("job " + record.id + " runs in another server process (pid " +
                                    std::to_string(record.owner.pid) + " on " + record.owner.host +
                                    "); watch it there");
    }
    // Its history stayed with the process that ran it; the record gives the outcome.
    if (auto done = DoneProgressOf(record)) writer->Write(ProgressToProto(record.id, *done));
    return ToGrpcStatus(record.FinalStatus());
  });
}

grpc::Status WordBridgeService::GetJob(grpc::ServerContext* context, const v1::GetJobRequest* request,
                                       v1::JobInfo* response) {
  return Handle("GetJob", context, [&] {
    RequireJobId(request->job_id());
    JobRecordToProto(jobs_->Get(request->job_id()), response);
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::ListJobs(grpc::ServerContext* context, const v1::ListJobsRequest* request,
                                         v1::ListJobsResponse* response) {
  return Handle("ListJobs", context, [&] {
    if (!request->model().empty()) ModelStore::ValidateName(request->model());
    for (const auto& record : jobs_->List(request->model())) JobRecordToProto(record, response->add_jobs());
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::CancelJob(grpc::ServerContext* context, const v1::CancelJobRequest* request,
                                          v1::JobInfo* response) {
  return Handle("CancelJob", context, [&] {
    RequireJobId(request->job_id());
    // The job stops at its next check (between batches); wait for that, within the call's deadline.
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(context->deadline() -
                                                                       std::chrono::system_clock::now()) -
                std::chrono::milliseconds(100);
    wait = std::clamp(wait, std::chrono::milliseconds(0), std::chrono::milliseconds(10000));
    JobRecordToProto(jobs_->Cancel(request->job_id(), wait), response);
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::SetServingVersion(grpc::ServerContext* context,
                                                  const v1::SetServingVersionRequest* request,
                                                  v1::SetServingVersionResponse* response) {
  return Handle("SetServingVersion", context, [&] {
    RequireModelName(request->model());
    if (request->newest() && !request->version().empty()) {
      throw InvalidArgumentError("give a version to pin or `newest`, not both");
    }
    const auto bundle = store_->SetServingVersion(request->model(), request->newest() ? "" : request->version());
    response->set_model(request->model());
    response->set_serving_version(bundle->version());
    response->set_pinned_version(request->newest() ? "" : request->version());
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::DeleteVersion(grpc::ServerContext* context, const v1::DeleteVersionRequest* request,
                                              v1::DeleteVersionResponse* response) {
  return Handle("DeleteVersion", context, [&] {
    RequireModelName(request->model());
    if (request->version().empty()) throw InvalidArgumentError("request names no version");
    const DeleteResult result = store_->DeleteVersion(request->model(), request->version(), request->force());
    response->set_serving_version(result.serving_version);
    response->set_pin_cleared(result.pin_cleared);
    return grpc::Status::OK;
  });
}

CorpusUploads& WordBridgeService::Uploads() const {
  if (!uploads_) {
    throw FailedPreconditionError(data_dir_.empty() ? "the server was started without --data-dir: it keeps no uploads"
                                                    : "the server's data directory " + data_dir_ + " does not exist");
  }
  return *uploads_;
}

v1::UploadedCorpus WordBridgeService::ReceiveUpload(const std::function<bool(v1::UploadCorpusRequest*)>& next,
                                                    const std::function<bool()>& cancelled) {
  CorpusUploads& uploads = Uploads();
  v1::UploadCorpusRequest message;
  if (!next(&message)) throw InvalidArgumentError("an upload needs a first message naming the file");
  CheckSha256Hex(message.sha256());
  std::string sha256 = message.sha256();
  const std::string name = message.name();
  auto upload = uploads.Begin(name, message.overwrite());
  upload->Append(message.chunk());
  while (next(&message)) {
    if (!message.name().empty() && message.name() != name) {
      throw InvalidArgumentError("only the first message of an upload names the file ('" + name + "', then '" +
                                 message.name().substr(0, CorpusUploads::kMaxNameBytes) + "')");
    }
    CheckSha256Hex(message.sha256());
    if (!message.sha256().empty()) sha256 = message.sha256();
    upload->Append(message.chunk());
  }
  // The stream also ends when the client cancels: then nothing may be stored.
  if (cancelled()) throw CancelledError("the client cancelled the upload of '" + name + "'; nothing was stored");
  v1::UploadedCorpus stored;
  UploadedCorpusToProto(upload->Commit(sha256), &stored);
  return stored;
}

grpc::Status WordBridgeService::UploadCorpus(grpc::ServerContext* context,
                                             grpc::ServerReader<v1::UploadCorpusRequest>* reader,
                                             v1::UploadCorpusResponse* response) {
  return Handle("UploadCorpus", context, [&] {
    *response->mutable_corpus() = ReceiveUpload([reader](v1::UploadCorpusRequest* message) { return reader->Read(message); },
                                                [context] { return context->IsCancelled(); });
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::ListCorpora(grpc::ServerContext* context, const v1::ListCorporaRequest*,
                                            v1::ListCorporaResponse* response) {
  return Handle("ListCorpora", context, [&] {
    const CorpusUploads& uploads = Uploads();
    int64_t total = 0;
    for (const auto& corpus : uploads.List()) {
      UploadedCorpusToProto(corpus, response->add_corpora());
      total += corpus.bytes;
    }
    response->set_total_bytes(total);
    response->set_max_file_bytes(uploads.limits().max_file_bytes);
    response->set_max_total_bytes(uploads.limits().max_total_bytes);
    return grpc::Status::OK;
  });
}

grpc::Status WordBridgeService::DeleteCorpus(grpc::ServerContext* context, const v1::DeleteCorpusRequest* request,
                                             v1::DeleteCorpusResponse*) {
  return Handle("DeleteCorpus", context, [&] {
    Uploads().Remove(request->name());
    return grpc::Status::OK;
  });
}

std::shared_ptr<TrainingJob> WordBridgeService::ResumeInterruptedJob(const std::string& job_id) {
  RequireJobId(job_id);
  v1::TrainRequest request;
  if (!request.ParseFromString(jobs_->StoredRequest(job_id))) {
    throw FailedPreconditionError("job " + job_id + ": its stored request is damaged; start it again");
  }
  // The corpus files must still be there. The stored request stays as it is (Resume keeps it).
  return jobs_->Resume(job_id, TrainJobSpec(request));
}

std::vector<std::string> WordBridgeService::ResumeInterruptedJobs() {
  std::vector<std::string> resumed;
  for (const auto& record : jobs_->Resumable()) {
    try {
      resumed.push_back(ResumeInterruptedJob(record.id)->id());
      std::cerr << "resumed training job " << record.id << " of " << record.model << " from its last checkpoint"
                << std::endl;
    } catch (const std::exception& e) {
      std::cerr << "training job " << record.id << " of " << record.model << " stays INTERRUPTED: " << e.what()
                << std::endl;
    }
  }
  return resumed;
}

grpc::Status WordBridgeService::ResumeJob(grpc::ServerContext* context, const v1::ResumeJobRequest* request,
                                          v1::JobInfo* response) {
  return Handle("ResumeJob", context, [&] {
    const auto job = ResumeInterruptedJob(request->job_id());
    JobRecordToProto(job->record(), response);
    return grpc::Status::OK;
  });
}

}  // namespace wordbridge
