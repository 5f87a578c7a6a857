// The WordBridge service in process (gRPC's in-process channel): every RPC and every error code.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <fstream>
#include <thread>

#include "client/vector_export.h"
#include "client/wordbridge_client.h"
#include "model/common/sha256.h"
#include "model/embed/diagnostics.h"
#include "model/embed/vector_io.h"
#include "model/embed/word_tables.h"
#include "model/nn/mixed_precision.h"
#include "model/store/staging.h"
#include "model/jobs/training_jobs.h"
#include "server/wordbridge_service.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;
using grpc::StatusCode;

class ServiceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new fs::path(fs::temp_directory_path() / ("wb_service_" + std::to_string(::getpid())));
    fs::remove_all(*root_);
    fs::create_directories(*root_ / "data" / "sub");
    std::ofstream(*root_ / "data" / "toy.tsv") << "我 爱 自然 语言 处理\tI love natural language processing\n"
                                                 "今天 天气 很 好\tToday weather is good\n";
    std::ofstream(*root_ / "data" / "src.txt") << "我 爱\n今天 好\n";
    std::ofstream(*root_ / "data" / "tgt.txt") << "I love\nToday good\n";
    std::ofstream(*root_ / "data" / "bad.tsv") << "no tab\n\t\n";
    std::ofstream(*root_ / "secret.tsv") << "a\tb\n";
    store_ = new ModelStore((*root_ / "models").string());
    const auto& toy = *SeedToy();
    store_->Publish("toy", ModelParts{toy.config(), std::shared_ptr<const Tokenizer>(LoadTokenizer("whitespace", "")),
                                      std::shared_ptr<const Tokenizer>(LoadTokenizer("whitespace", "")),
                                      toy.vocabulary(Side::kSource), toy.vocabulary(Side::kTarget),
                                      std::shared_ptr<Seq2SeqNet>(&toy.network(), [](Seq2SeqNet*) {}), toy.metrics()});
    metrics_ = new MetricsRegistry();
    EngineOptions engine_options;
    engine_options.workers = 2;
    engine_ = new TranslationEngine(engine_options, nullptr, metrics_);
    jobs_ = new TrainingJobs(store_, 1, nullptr, 1, metrics_);
    ServiceLimits limits;
    limits.max_sentences = 8;
    limits.export_words_per_message = 7;  // the toy's 18 target words come in three messages
    service_ = new WordBridgeService(store_, jobs_, engine_, (*root_ / "data").string(), limits, metrics_);
    no_data_service_ = new WordBridgeService(store_, jobs_, engine_, "", limits);
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.RegisterService(service_);
    server_ = builder.BuildAndStart().release();
    grpc::ServerBuilder no_data_builder;
    no_data_builder.RegisterService(no_data_service_);
    no_data_server_ = no_data_builder.BuildAndStart().release();
  }
  static void TearDownTestSuite() {
    server_->Shutdown();
    no_data_server_->Shutdown();
    delete jobs_;
    delete engine_;
    delete server_;
    delete no_data_server_;
    delete service_;
    delete no_data_service_;
    delete store_;
    delete metrics_;
    fs::remove_all(*root_);
    delete root_;
  }

  WordBridgeClient Client() { return WordBridgeClient(server_->InProcessChannel(grpc::ChannelArguments())); }

  // Runs Train to the end, collecting its messages.
  grpc::Status Train(const v1::TrainRequest& request, std::vector<v1::TrainProgress>* messages = nullptr) {
    return Client().Train(request, [&](const v1::TrainProgress& p) {
      if (messages) messages->push_back(p);
    });
  }

  static v1::TrainRequest ToyTrainRequest(const std::string& model, int epochs) {
    v1::TrainRequest request;
    request.set_model(model);
    request.mutable_config()->set_architecture("seed");
    request.mutable_options()->set_epochs(epochs);
    for (const auto& pair : SeedToyPairs()) {
      auto* p = request.mutable_corpus()->add_pairs();
      p->set_source(pair.source);
      p->set_target(pair.target);
    }
    return request;
  }

  static fs::path* root_;
  static ModelStore* store_;
  static TrainingJobs* jobs_;
  static MetricsRegistry* metrics_;
  static TranslationEngine* engine_;
  static WordBridgeService* service_;
  static WordBridgeService* no_data_service_;
  static grpc::Server* server_;
  static grpc::Server* no_data_server_;
};

fs::path* ServiceTest::root_;
ModelStore* ServiceTest::store_;
TrainingJobs* ServiceTest::jobs_;
MetricsRegistry* ServiceTest::metrics_;
TranslationEngine* ServiceTest::engine_;
WordBridgeService* ServiceTest::service_;
WordBridgeService* ServiceTest::no_data_service_;
grpc::Server* ServiceTest::server_;
grpc::Server* ServiceTest::no_data_server_;

TEST_F(ServiceTest, TranslateReturnsOneTranslationPerSentenceInOrder) {
  v1::TranslateRequest request;
  request.set_model("toy");
  request.add_sentences("今天 天气 很 好");
  request.add_sentences("我 爱 自然 语言 处理");
  v1::TranslateResponse response;
  auto status = Client().Translate(request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.translations_size(), 2);
  EXPECT_EQ(response.translations(0).hypotheses(0).text(), "Today weather is good");
  EXPECT_EQ(response.translations(1).hypotheses(0).text(), "I love natural language processing");
  EXPECT_EQ(response.version(), "1");
}

TEST_F(ServiceTest, TranslateBeamNBest) {
  v1::TranslateRequest request;
  request.set_model("toy");
  request.add_sentences("今天 天气 很 好");
  request.mutable_options()->set_beam_size(4);
  request.mutable_options()->set_n_best(3);
  v1::TranslateResponse response;
  ASSERT_TRUE(Client().Translate(request, &response).ok());
  EXPECT_EQ(response.translations(0).hypotheses_size(), 3);
  EXPECT_EQ(response.translations(0).hypotheses(0).text(), "Today weather is good");
}

TEST_F(ServiceTest, TranslateErrors) {
  auto call = [&](const v1::TranslateRequest& request) {
    v1::TranslateResponse response;
    return Client().Translate(request, &response).error_code();
  };
  v1::TranslateRequest request;
  request.add_sentences("今天");
  EXPECT_EQ(call(request), StatusCode::INVALID_ARGUMENT);  // no model
  request.set_model("missing");
  EXPECT_EQ(call(request), StatusCode::NOT_FOUND);
  request.set_model("toy");
  request.set_version("42");
  EXPECT_EQ(call(request), StatusCode::NOT_FOUND);
  request.set_version("");
  request.mutable_options()->set_beam_size(1000);
  EXPECT_EQ(call(request), StatusCode::INVALID_ARGUMENT);
  request.mutable_options()->set_beam_size(2);
  request.mutable_options()->set_n_best(3);
  EXPECT_EQ(call(request), StatusCode::INVALID_ARGUMENT);
  request.clear_options();
  for (int i = 0; i < 9; ++i) request.add_sentences("今天");
  EXPECT_EQ(call(request), StatusCode::RESOURCE_EXHAUSTED);
  request.clear_sentences();
  EXPECT_EQ(call(request), StatusCode::INVALID_ARGUMENT);  // nothing to translate
}

TEST_F(ServiceTest, TranslateWithAShortlistOnAVersionWithoutOneIsFailedPrecondition) {
  // The fixture's "toy" version was published without a vocabulary shortlist.
  ASSERT_EQ(store_->Get("toy")->shortlist(), nullptr);
  v1::TranslateRequest request;
  request.set_model("toy");
  request.add_sentences("今天 天气 很 好");
  request.mutable_options()->set_use_shortlist(true);
  v1::TranslateResponse response;
  auto status = Client().Translate(request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(status.error_message().find("has no vocabulary shortlist"), std::string::npos) << status.error_message();
  request.mutable_options()->set_beam_size(3);
  EXPECT_EQ(Client().Translate(request, &response).error_code(), StatusCode::FAILED_PRECONDITION);
  request.mutable_options()->set_use_shortlist(false);
  EXPECT_TRUE(Client().Translate(request, &response).ok());
}

TEST_F(ServiceTest, TranslateComputeTypes) {
  v1::TranslateRequest request;
  request.set_model("toy");
  request.add_sentences("我 爱 自然 语言 处理");
  request.add_sentences("今天 天气 很 好");
  v1::TranslateResponse server_default;
  ASSERT_TRUE(Client().Translate(request, &server_default).ok());
  // Every accepted compute type translates the toy sentences as the server's default does.
  for (const char* type : {"float32", "bfloat16", "int8", "default"}) {
    request.mutable_options()->set_compute_type(type);
    v1::TranslateResponse response;
    auto status = Client().Translate(request, &response);
    ASSERT_TRUE(status.ok()) << type << ": " << status.error_message();
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(response.translations(i).hypotheses(0).text(), server_default.translations(i).hypotheses(0).text())
          << type;
    }
  }
  // An unknown one is INVALID_ARGUMENT naming the accepted values.
  request.mutable_options()->set_compute_type("float16");
  v1::TranslateResponse response;
  auto status = Client().Translate(request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("float32, bfloat16, int8, default"), std::string::npos)
      << status.error_message();
}

TEST_F(ServiceTest, GetEmbeddingReturnsTheWeightRow) {
  v1::GetEmbeddingRequest request;
  request.set_model("toy");
  request.set_side(v1::TARGET);
  request.set_word("learning");
  v1::GetEmbeddingResponse response;
  ASSERT_TRUE(Client().GetEmbedding(request, &response).ok());
  EXPECT_TRUE(response.in_vocabulary());
  EXPECT_EQ(response.dimension(), 64);
  auto expected = SeedToy()->WordEmbedding(Side::kTarget, "learning");
  ASSERT_EQ(response.vector_size(), 64);
  for (int i = 0; i < 64; ++i) EXPECT_EQ(response.vector(i), expected.values[i]);

  // A word with no known token has no vector; as a piece it is the <UNK> row.
  request.set_word("zebra");
  auto status = Client().GetEmbedding(request, &response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("zebra"), std::string::npos);
  request.set_pieces(true);
  ASSERT_TRUE(Client().GetEmbedding(request, &response).ok());
  EXPECT_FALSE(response.in_vocabulary());
  EXPECT_EQ(response.token_id(), 3);

  v1::GetEmbeddingRequest sentence;
  sentence.set_model("toy");
  sentence.set_sentence("今天 天气 很 好");
  ASSERT_TRUE(Client().GetEmbedding(sentence, &response).ok());
  EXPECT_EQ(response.dimension(), 128);
}

TEST_F(ServiceTest, GetEmbeddingErrors) {
  v1::GetEmbeddingResponse response;
  v1::GetEmbeddingRequest request;
  request.set_model("toy");
  EXPECT_EQ(Client().GetEmbedding(request, &response).error_code(), StatusCode::INVALID_ARGUMENT);  // no query
  request.set_sentence("今天");
  request.set_side(v1::TARGET);
  EXPECT_EQ(Client().GetEmbedding(request, &response).error_code(), StatusCode::INVALID_ARGUMENT);
  request.set_side(v1::SOURCE);
  request.set_sentence("   ");
  EXPECT_EQ(Client().GetEmbedding(request, &response).error_code(), StatusCode::INVALID_ARGUMENT);
  request.set_model("missing");
  EXPECT_EQ(Client().GetEmbedding(request, &response).error_code(), StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, NearestWordsByWordAndByVector) {
  v1::NearestWordsRequest request;
  request.set_model("toy");
  request.set_word("学习");
  request.set_k(3);
  v1::NearestWordsResponse response;
  ASSERT_TRUE(Client().NearestWords(request, &response).ok());
  ASSERT_EQ(response.neighbors_size(), 3);
  for (const auto& n : response.neighbors()) EXPECT_NE(n.word(), "学习");
  EXPECT_GE(response.neighbors(0).score(), response.neighbors(1).score());

  auto vector = SeedToy()->WordEmbedding(Side::kSource, "学习");
  v1::NearestWordsRequest by_vector;
  by_vector.set_model("toy");
  by_vector.mutable_vector()->mutable_values()->Add(vector.values.begin(), vector.values.end());
  by_vector.set_k(1);
  ASSERT_TRUE(Client().NearestWords(by_vector, &response).ok());
  EXPECT_EQ(response.neighbors(0).word(), "学习");
}

TEST_F(ServiceTest, NearestWordsBatchEqualsOneQueryAtATime) {
  const std::vector<std::string> words = {"学习", "我", "自然", "今天"};
  v1::NearestWordsRequest batch;
  batch.set_model("toy");
  batch.set_k(3);
  for (const auto& w : words) batch.add_words(w);
  v1::NearestWordsResponse batched;
  ASSERT_TRUE(Client().NearestWords(batch, &batched).ok());
  ASSERT_EQ(batched.results_size(), static_cast<int>(words.size()));
  EXPECT_EQ(batched.neighbors_size(), 0);
  v1::NearestWordsRequest by_vectors;
  by_vectors.set_model("toy");
  by_vectors.set_k(4);
  for (size_t i = 0; i < words.size(); ++i) {
    v1::NearestWordsRequest one;
    one.set_model("toy");
    one.set_k(3);
    one.set_word(words[i]);
    v1::NearestWordsResponse alone;
    ASSERT_TRUE(Client().NearestWords(one, &alone).ok());
    ASSERT_EQ(batched.results(i).neighbors_size(), alone.neighbors_size()) << words[i];
    for (int j = 0; j < alone.neighbors_size(); ++j) {
      EXPECT_EQ(batched.results(i).neighbors(j).word(), alone.neighbors(j).word()) << words[i];
      EXPECT_FLOAT_EQ(batched.results(i).neighbors(j).score(), alone.neighbors(j).score());
    }
    auto vector = SeedToy()->WordEmbedding(Side::kSource, words[i]);
    by_vectors.add_vectors()->mutable_values()->Add(vector.values.begin(), vector.values.end());
  }
  // By vector, each word is its own nearest neighbour.
  ASSERT_TRUE(Client().NearestWords(by_vectors, &batched).ok());
  for (size_t i = 0; i < words.size(); ++i) EXPECT_EQ(batched.results(i).neighbors(0).word(), words[i]);
}

TEST_F(ServiceTest, NearestWordsBatchErrors) {
  v1::NearestWordsResponse response;
  v1::NearestWordsRequest unknown;
  unknown.set_model("toy");
  unknown.add_words("学习");
  unknown.add_words("不存在");
  auto status = Client().NearestWords(unknown, &response);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("不存在"), std::string::npos) << status.error_message();
  v1::NearestWordsRequest mixed;
  mixed.set_model("toy");
  mixed.set_word("学习");
  mixed.add_words("我");
  EXPECT_EQ(Client().NearestWords(mixed, &response).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::NearestWordsRequest too_many;
  too_many.set_model("toy");
  for (int i = 0; i < 1025; ++i) too_many.add_words("我");
  EXPECT_EQ(Client().NearestWords(too_many, &response).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::NearestWordsRequest bad_dimension;
  bad_dimension.set_model("toy");
  bad_dimension.add_vectors()->add_values(1.0f);
  EXPECT_EQ(Client().NearestWords(bad_dimension, &response).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, NearestWordsErrors) {
  v1::NearestWordsResponse response;
  v1::NearestWordsRequest request;
  request.set_model("toy");
  request.set_word("不存在");
  EXPECT_EQ(Client().NearestWords(request, &response).error_code(), StatusCode::NOT_FOUND);
  request.set_word("学习");
  request.set_k(100000);
  EXPECT_EQ(Client().NearestWords(request, &response).error_code(), StatusCode::INVALID_ARGUMENT);
  request.set_k(-1);
  EXPECT_EQ(Client().NearestWords(request, &response).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::NearestWordsRequest wrong_dim;
  wrong_dim.set_model("toy");
  wrong_dim.mutable_vector()->add_values(1.0f);
  EXPECT_EQ(Client().NearestWords(wrong_dim, &response).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::NearestWordsRequest empty;
  empty.set_model("toy");
  EXPECT_EQ(Client().NearestWords(empty, &response).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, NonFiniteZeroAndSpecialQueriesAreRefused) {
  v1::NearestWordsResponse response;
  v1::GetEmbeddingRequest row_request;
  row_request.set_model("toy");
  row_request.set_word("学习");
  v1::GetEmbeddingResponse row;
  ASSERT_TRUE(Client().GetEmbedding(row_request, &row).ok());
  auto query = [&](float fill, int poisoned) {
    v1::NearestWordsRequest r;
    r.set_model("toy");
    auto* values = r.mutable_vector()->mutable_values();
    for (int i = 0; i < row.dimension(); ++i) values->Add(i == poisoned ? fill : (fill == 0.0f ? 0.0f : 0.5f));
    return Client().NearestWords(r, &response);
  };
  auto status = query(std::nanf(""), 3);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("NaN"), std::string::npos) << status.error_message();
  EXPECT_EQ(query(std::numeric_limits<float>::infinity(), 0).error_code(), StatusCode::INVALID_ARGUMENT);
  status = query(0.0f, -1);
  EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("zeros"), std::string::npos) << status.error_message();
  EXPECT_TRUE(query(0.25f, 1).ok());  // a finite non-zero vector of the right width is answered

  // Special tokens are not words: <PAD>'s row is zero and the others are markers.
  for (const char* special : {"<PAD>", "<UNK>", "<SOS>", "<EOS>"}) {
    v1::NearestWordsRequest r;
    r.set_model("toy");
    r.set_word(special);
    status = Client().NearestWords(r, &response);
    EXPECT_EQ(status.error_code(), StatusCode::INVALID_ARGUMENT) << special << ": " << status.error_message();
  }

  // NaN numeric options fail with INVALID_ARGUMENT instead of passing range checks.
  v1::TranslateRequest translate;
  translate.set_model("toy");
  translate.add_sentences("我 爱 学习");
  translate.mutable_options()->set_length_penalty(std::nanf(""));
  v1::TranslateResponse translated;
  EXPECT_EQ(Client().Translate(translate, &translated).error_code(), StatusCode::INVALID_ARGUMENT);
  for (auto poison : {+[](v1::TrainRequest* r) { r->mutable_options()->set_max_minutes(std::nanf("")); },
                      +[](v1::TrainRequest* r) { r->mutable_options()->set_clip_norm(std::nanf("")); },
                      +[](v1::TrainRequest* r) { r->mutable_options()->set_label_smoothing(std::nanf("")); },
                      +[](v1::TrainRequest* r) { r->mutable_options()->set_dev_fraction(std::nanf("")); },
                      +[](v1::TrainRequest* r) { r->mutable_config()->set_dropout(std::nanf("")); }}) {
    v1::TrainRequest train = ToyTrainRequest("nan-options", 1);
    poison(&train);
    EXPECT_EQ(Train(train).error_code(), StatusCode::INVALID_ARGUMENT);
  }
}

// The settings a model was trained with, from ListModels.
std::map<std::string, double> TrainingSettings(WordBridgeClient client, const std::string& model) {
  v1::ListModelsResponse response;
  EXPECT_TRUE(client.ListModels(&response).ok());
  for (const auto& m : response.models()) {
    if (m.name() == model) return {m.training().begin(), m.training().end()};
  }
  ADD_FAILURE() << "no model " << model;
  return {};
}

TEST_F(ServiceTest, TrainWithoutOptionsUsesTheArchitecturesDefaults) {
  // Seed: the seed program's settings exactly.
  ASSERT_TRUE(Train(ToyTrainRequest("defaults-seed", 3)).ok());
  auto seed = TrainingSettings(Client(), "defaults-seed");
  EXPECT_EQ(seed["epochs"], 3);
  EXPECT_EQ(seed["batch_size"], 2);
  EXPECT_EQ(seed["batch_tokens"], 0);
  EXPECT_DOUBLE_EQ(seed["learning_rate"], 1e-3);
  EXPECT_EQ(seed["clip_norm"], 0);
  EXPECT_EQ(seed["label_smoothing"], 0);
  EXPECT_EQ(seed["seed"], 42);
  EXPECT_EQ(seed["init_range"], 0);       // LibTorch's initialisation, as the seed program
  EXPECT_EQ(seed["mixed_precision"], 0);
  EXPECT_EQ(seed["dev_fraction"], 0);

  // Attention (the default architecture): token batches, a higher rate, clipping, smoothing, patience.
  v1::TrainRequest attention = ToyTrainRequest("defaults-attention", 2);
  attention.mutable_config()->set_architecture("");
  attention.mutable_config()->set_tokenizer("whitespace");
  attention.mutable_config()->set_embed_dim(16);
  attention.mutable_config()->set_hidden_dim(16);
  ASSERT_TRUE(Train(attention).ok());
  auto defaults = TrainingSettings(Client(), "defaults-attention");
  EXPECT_EQ(defaults["epochs"], 2);
  EXPECT_EQ(defaults["batch_tokens"], 2500);
  EXPECT_EQ(defaults["batch_size"], 0);
  EXPECT_DOUBLE_EQ(defaults["learning_rate"], 2e-3);
  EXPECT_DOUBLE_EQ(defaults["clip_norm"], 5);
  EXPECT_DOUBLE_EQ(defaults["label_smoothing"], 0.1);
  EXPECT_EQ(defaults["patience"], 4);
  EXPECT_DOUBLE_EQ(defaults["init_range"], 0.1);
  EXPECT_DOUBLE_EQ(defaults["dev_fraction"], 0.02);
  // Mixed precision runs where the CPU has fast bfloat16 products; ListModels reports what ran.
  EXPECT_EQ(defaults["mixed_precision"], FastBf16MatmulAvailable() ? 1 : 0);

  // Sentence batches asked for replace the default token batches.
  attention.set_model("defaults-attention-sentences");
  attention.mutable_options()->set_batch_size(4);
  ASSERT_TRUE(Train(attention).ok());
  auto sentences = TrainingSettings(Client(), "defaults-attention-sentences");
  EXPECT_EQ(sentences["batch_size"], 4);
  EXPECT_EQ(sentences["batch_tokens"], 0);

  // Single settings override their default and nothing else.
  attention.set_model("defaults-attention-float32");
  attention.mutable_options()->set_precision(v1::TrainingOptions::FLOAT32);
  attention.mutable_options()->set_init_range(0.05f);
  ASSERT_TRUE(Train(attention).ok());
  auto float32 = TrainingSettings(Client(), "defaults-attention-float32");
  EXPECT_EQ(float32["mixed_precision"], 0);
  EXPECT_NEAR(float32["init_range"], 0.05, 1e-7);
  EXPECT_DOUBLE_EQ(float32["label_smoothing"], 0.1);

  // A precision outside the enum, or a NaN init range, is refused.
  attention.set_model("defaults-attention-bad");
  attention.mutable_options()->set_precision(static_cast<v1::TrainingOptions::Precision>(9));
  EXPECT_EQ(Train(attention).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  attention.mutable_options()->set_precision(v1::TrainingOptions::MIXED);
  attention.mutable_options()->set_init_range(std::nanf(""));
  EXPECT_EQ(Train(attention).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, TrainRefusesModelsTooLargeForTheMemoryBudget) {
  // hidden 4096, embed 4096, 8 layers: ~1.6 billion parameters, ~25 GB to train. Refused before
  // anything is allocated, with the estimate and the flag in the message.
  v1::TrainRequest huge = ToyTrainRequest("huge", 1);
  huge.mutable_config()->set_architecture("attention");
  huge.mutable_config()->set_tokenizer("sentencepiece");
  huge.mutable_config()->set_max_vocab_size(8000);
  huge.mutable_config()->set_hidden_dim(4096);
  huge.mutable_config()->set_embed_dim(4096);
  huge.mutable_config()->set_num_layers(8);
  const auto start = std::chrono::steady_clock::now();
  auto status = Train(huge);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(status.error_message().find("--max-model-bytes"), std::string::npos) << status.error_message();
  EXPECT_NE(status.error_message().find("GiB"), std::string::npos) << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // refused at once, not trained

  // An uncapped vocabulary is checked by the job once its vocabularies exist, still before allocating.
  huge.set_model("huge-words");
  huge.mutable_config()->set_tokenizer("whitespace");
  huge.mutable_config()->set_max_vocab_size(0);
  status = Train(huge);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  v1::ListModelsResponse models;
  ASSERT_TRUE(Client().ListModels(&models).ok());
  for (const auto& m : models.models()) EXPECT_NE(m.name(), "huge-words");

  // The same small request trains.
  v1::TrainRequest small = ToyTrainRequest("small-enough", 1);
  EXPECT_TRUE(Train(small).ok());
}

// The seed toy model published with word lists counted from the toy pairs (every word kept).
void PublishCountedWords(ModelStore* store) {
  const auto& toy = *SeedToy();
  WordListOptions words;
  words.min_count = 1;
  auto tables = BuildWordTables(toy.network(), toy.tokenizer(Side::kSource), toy.vocabulary(Side::kSource),
                                toy.tokenizer(Side::kTarget), toy.vocabulary(Side::kTarget), SeedToyPairs(), words,
                                ContextualOptions{});
  toy.network().eval();
  ModelParts parts{toy.config(), std::shared_ptr<const Tokenizer>(LoadTokenizer("whitespace", "")),
                   std::shared_ptr<const Tokenizer>(LoadTokenizer("whitespace", "")), toy.vocabulary(Side::kSource),
                   toy.vocabulary(Side::kTarget), std::shared_ptr<Seq2SeqNet>(&toy.network(), [](Seq2SeqNet*) {}),
                   toy.metrics(), {}, nullptr, std::move(tables)};
  store->Publish("counted", std::move(parts));
}

TEST_F(ServiceTest, NearestWordsAnswersWordsWithCountsAndClampsK) {
  PublishCountedWords(store_);
  v1::NearestWordsRequest request;
  request.set_model("counted");
  request.set_side(v1::TARGET);
  request.set_word("learning");
  request.set_k(1000);
  v1::NearestWordsResponse response;
  ASSERT_TRUE(Client().NearestWords(request, &response).ok());
  // The toy targets have 18 distinct words; the query is never its own neighbour.
  EXPECT_TRUE(response.k_clamped());
  EXPECT_EQ(response.k(), 18);
  EXPECT_EQ(response.neighbors_size(), 17);
  EXPECT_EQ(response.vector_kind(), "input");
  for (const auto& n : response.neighbors()) {
    EXPECT_NE(n.word(), "learning");
    EXPECT_GE(n.count(), 1) << n.word();
  }
  request.set_restrict_vocab(3);  // "is" (3), "learning" (2), then the first word seen once
  ASSERT_TRUE(Client().NearestWords(request, &response).ok());
  EXPECT_EQ(response.k(), 3);
  ASSERT_EQ(response.neighbors_size(), 2);
  for (const auto& n : response.neighbors()) EXPECT_LT(n.token_id(), 3);

  // pieces: the token table, as before word lists.
  request.set_restrict_vocab(0);
  request.set_pieces(true);
  request.set_k(2);
  ASSERT_TRUE(Client().NearestWords(request, &response).ok());
  ASSERT_EQ(response.neighbors_size(), 2);
  EXPECT_EQ(response.neighbors(0).count(), 0);
  EXPECT_GE(response.neighbors(0).token_id(), Vocabulary::kNumSpecial);
}

TEST_F(ServiceTest, AnalogiesSimilarityAndDoesntMatchOverGrpc) {
  PublishCountedWords(store_);
  v1::NearestWordsRequest analogy;
  analogy.set_model("counted");
  analogy.set_side(v1::TARGET);
  analogy.add_positive("learning");
  analogy.add_positive("Deep");
  analogy.add_negative("Machine");
  analogy.set_k(5);
  v1::NearestWordsResponse response;
  for (auto scoring : {v1::COS_ADD, v1::COS_MUL}) {
    analogy.set_scoring(scoring);
    ASSERT_TRUE(Client().NearestWords(analogy, &response).ok());
    ASSERT_EQ(response.neighbors_size(), 5);
    for (const auto& n : response.neighbors()) {
      EXPECT_TRUE(n.word() != "learning" && n.word() != "Deep" && n.word() != "Machine") << n.word();
    }
  }
  v1::NearestWordsRequest batch;
  batch.set_model("counted");
  batch.set_side(v1::TARGET);
  *batch.add_analogies() = v1::Analogy();
  batch.mutable_analogies(0)->add_positive("learning");
  batch.add_analogies()->add_positive("Deep");
  ASSERT_TRUE(Client().NearestWords(batch, &response).ok());
  EXPECT_EQ(response.results_size(), 2);

  v1::SimilarityRequest similarity;
  similarity.set_model("counted");
  similarity.set_side(v1::TARGET);
  similarity.set_word_a("learning");
  similarity.set_word_b("learning");
  v1::SimilarityResponse similar;
  ASSERT_TRUE(Client().Similarity(similarity, &similar).ok());
  EXPECT_NEAR(similar.similarity(), 1.0, 1e-5);
  similarity.set_word_b("zzz");
  auto status = Client().Similarity(similarity, &similar);
  EXPECT_EQ(status.error_code(), StatusCode::NOT_FOUND);
  EXPECT_NE(status.error_message().find("zzz"), std::string::npos) << status.error_message();

  v1::DoesntMatchRequest odd;
  odd.set_model("counted");
  odd.set_side(v1::TARGET);
  for (const char* w : {"learning", "Deep", "Machine", "weather"}) odd.add_words(w);
  v1::DoesntMatchResponse odd_one;
  ASSERT_TRUE(Client().DoesntMatch(odd, &odd_one).ok());
  EXPECT_NE(std::find(odd.words().begin(), odd.words().end(), odd_one.word()), odd.words().end());
  odd.clear_words();
  odd.add_words("learning");
  EXPECT_EQ(Client().DoesntMatch(odd, &odd_one).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, WordRetrievalRefusesBadQueriesWithTheRightStatus) {
  PublishCountedWords(store_);
  auto nearest = [&](const std::function<void(v1::NearestWordsRequest*)>& edit) {
    v1::NearestWordsRequest request;
    request.set_model("counted");
    request.set_word("learning");
    request.set_side(v1::TARGET);
    edit(&request);
    v1::NearestWordsResponse response;
    return Client().NearestWords(request, &response).error_code();
  };
  EXPECT_EQ(nearest([](auto* r) { r->set_vector_kind("bogus"); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nearest([](auto* r) { r->set_side(v1::SOURCE); r->set_word("学习"); r->set_vector_kind("contextual"); }),
            StatusCode::FAILED_PRECONDITION);  // the seed's encoder keeps no per-token states
  EXPECT_EQ(nearest([](auto* r) { r->set_vector_kind("output"); r->set_side(v1::SOURCE); r->set_word("学习"); }),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(nearest([](auto* r) { r->set_word("<PAD>"); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nearest([](auto* r) { r->set_word("zzz"); }), StatusCode::NOT_FOUND);
  EXPECT_EQ(nearest([](auto* r) { r->add_positive("Deep"); }), StatusCode::INVALID_ARGUMENT);  // two kinds of query
  EXPECT_EQ(nearest([](auto* r) { r->clear_word(); r->add_negative("Deep"); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nearest([](auto* r) { r->set_restrict_vocab(-1); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nearest([](auto* r) { r->set_pieces(true); r->set_restrict_vocab(2); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nearest([](auto* r) {
              r->clear_word();
              r->mutable_vector()->add_values(std::nanf(""));
            }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(nearest([](auto* r) {
              r->clear_word();
              r->mutable_vector()->add_values(1.0f);  // wrong dimension
            }),
            StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, InspectEmbeddingsReportsBothSidesAndTheirMaps) {
  PublishCountedWords(store_);
  v1::InspectEmbeddingsRequest request;
  request.set_model("counted");
  request.set_projection_words(10);
  v1::InspectEmbeddingsResponse response;
  ASSERT_TRUE(Client().InspectEmbeddings(request, &response).ok());
  const auto bundle = store_->Get("counted", "");
  EXPECT_EQ(response.model(), "counted");
  EXPECT_EQ(response.version(), bundle->version());
  ASSERT_EQ(response.sides_size(), 2);  // no side: both, source first
  for (const Side side : {Side::kSource, Side::kTarget}) {
    const auto& d = response.sides(side == Side::kSource ? 0 : 1);
    const WordSpace& space = bundle->Words(side);
    EXPECT_EQ(d.side(), side == Side::kSource ? v1::SOURCE : v1::TARGET);
    EXPECT_EQ(d.vector_kind(), "input");  // the seed's default on both sides
    EXPECT_EQ(d.vocabulary_size(), bundle->vocabulary(side).size());
    EXPECT_EQ(d.words(), space.size());
    EXPECT_TRUE(d.counted());
    EXPECT_EQ(d.dimension(), space.dimension());
    int64_t corpus_words = 0;
    for (int64_t w = 0; w < space.size(); ++w) corpus_words += space.words().count(w);
    EXPECT_EQ(d.corpus_words(), corpus_words);
    // The library's numbers, unchanged on the way.
    DiagnosticsOptions options;
    options.projection_words = 10;
    const auto expected = DiagnoseWordSpace(space, options);
    EXPECT_DOUBLE_EQ(d.norm_mean(), expected.norms.stats.mean);
    EXPECT_DOUBLE_EQ(d.norm_std(), expected.norms.stats.std);
    EXPECT_LE(d.norm_min(), d.norm_mean());
    EXPECT_GE(d.norm_max(), d.norm_mean());
    EXPECT_EQ(d.outlier_sigmas(), 3.0);
    EXPECT_EQ(d.outlier_count(), expected.norms.outlier_count);
    EXPECT_EQ(d.outliers_size(), static_cast<int>(expected.norms.outliers.size()));
    ASSERT_EQ(d.projection_size(), std::min<int64_t>(10, space.size()));
    for (int i = 0; i < d.projection_size(); ++i) {
      EXPECT_EQ(d.projection(i).word(), space.words().word(i));  // the most frequent, in order
      EXPECT_EQ(d.projection(i).count(), space.words().count(i));
      EXPECT_NEAR(d.projection(i).x(), expected.projection[i].x, 1e-9);
      EXPECT_NEAR(d.projection(i).y(), expected.projection[i].y, 1e-9);
    }
    ASSERT_EQ(d.explained_variance_size(), 2);
    EXPECT_GE(d.explained_variance(0), d.explained_variance(1));
    EXPECT_LE(d.explained_variance(0) + d.explained_variance(1), 1.0 + 1e-9);
  }
  EXPECT_EQ(response.sides(1).projection(0).word(), "is");  // the toy targets' most frequent word (3)

  // One side, a named kind, no projection; a projection larger than the list covers every word.
  request.set_side(v1::TARGET);
  request.set_vector_kind("contextual");
  request.set_projection_words(0);
  ASSERT_TRUE(Client().InspectEmbeddings(request, &response).ok());
  ASSERT_EQ(response.sides_size(), 1);
  EXPECT_EQ(response.sides(0).vector_kind(), "contextual");
  EXPECT_EQ(response.sides(0).dimension(), bundle->Words(Side::kTarget, VectorKind::kContextual).dimension());
  EXPECT_EQ(response.sides(0).projection_size(), 0);
  EXPECT_EQ(response.sides(0).explained_variance_size(), 0);
  request.set_projection_words(DiagnosticsOptions::kMaxProjectionWords);
  ASSERT_TRUE(Client().InspectEmbeddings(request, &response).ok());
  EXPECT_EQ(response.sides(0).projection_size(), 18);
}

TEST_F(ServiceTest, InspectEmbeddingsRefusesBadRequestsWithTheRightStatus) {
  PublishCountedWords(store_);
  auto inspect = [&](const std::function<void(v1::InspectEmbeddingsRequest*)>& edit) {
    v1::InspectEmbeddingsRequest request;
    request.set_model("counted");
    request.set_projection_words(5);
    edit(&request);
    v1::InspectEmbeddingsResponse response;
    return Client().InspectEmbeddings(request, &response).error_code();
  };
  EXPECT_EQ(inspect([](auto*) {}), StatusCode::OK);
  EXPECT_EQ(inspect([](auto* r) { r->set_vector_kind("bogus"); }), StatusCode::INVALID_ARGUMENT);
  // Kinds a side lacks: the seed's encoder keeps no states; the source has no output layer (both
  // sides asked for, so the source's lack fails the call).
  EXPECT_EQ(inspect([](auto* r) { r->set_side(v1::SOURCE); r->set_vector_kind("contextual"); }),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(inspect([](auto* r) { r->set_vector_kind("output"); }), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(inspect([](auto* r) { r->set_side(v1::TARGET); r->set_vector_kind("output"); }), StatusCode::OK);
  EXPECT_EQ(inspect([](auto* r) { r->set_model("nope"); }), StatusCode::NOT_FOUND);
  EXPECT_EQ(inspect([](auto* r) { r->set_version("999"); }), StatusCode::NOT_FOUND);
  EXPECT_EQ(inspect([](auto* r) { r->clear_model(); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(inspect([](auto* r) { r->set_projection_words(-1); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(inspect([](auto* r) { r->set_projection_words(DiagnosticsOptions::kMaxProjectionWords + 1); }),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(inspect([](auto* r) { r->set_side(static_cast<v1::Side>(7)); }), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, GetEmbeddingOfManyWordsComposesUnseenOnesAndListModelsShowsWordSpaces) {
  PublishCountedWords(store_);
  v1::GetEmbeddingRequest request;
  request.set_model("counted");
  request.set_side(v1::TARGET);
  request.add_words("learning");
  request.add_words("Deep learning");  // not a word of the list: the mean of its tokens' rows
  v1::GetEmbeddingResponse response;
  ASSERT_TRUE(Client().GetEmbedding(request, &response).ok());
  ASSERT_EQ(response.embeddings_size(), 2);
  EXPECT_TRUE(response.embeddings(0).in_vocabulary());
  EXPECT_EQ(response.embeddings(0).count(), 2);
  EXPECT_FALSE(response.embeddings(1).in_vocabulary());
  const auto& toy = *SeedToy();
  auto deep = toy.WordEmbedding(Side::kTarget, "Deep").values, learning = toy.WordEmbedding(Side::kTarget, "learning").values;
  for (size_t i = 0; i < deep.size(); ++i) {
    EXPECT_NEAR(response.embeddings(1).vector(i), (deep[i] + learning[i]) / 2, 1e-5);
  }
  request.set_word("learning");  // a single word and a batch at once
  EXPECT_EQ(Client().GetEmbedding(request, &response).error_code(), StatusCode::INVALID_ARGUMENT);

  v1::ListModelsResponse models;
  ASSERT_TRUE(Client().ListModels(&models).ok());
  bool seen = false;
  for (const auto& model : models.models()) {
    if (model.name() != "counted") continue;
    seen = true;
    ASSERT_EQ(model.word_spaces_size(), 2);
    EXPECT_TRUE(model.word_spaces(1).counted());
    EXPECT_EQ(model.word_spaces(1).words(), 18);
    EXPECT_EQ(model.word_spaces(1).default_vector_kind(), "input");
    EXPECT_EQ(model.word_spaces(0).vector_kinds_size(), 1);  // the seed: input only on the source side
  }
  EXPECT_TRUE(seen);
}

// IndexSentences of the seed's toy pairs, inline, with the toy model, under `name`.
v1::IndexSentencesRequest ToyMemoryRequest(const std::string& name) {
  v1::IndexSentencesRequest index;
  index.set_model("toy");
  index.set_name(name);
  for (const auto& pair : SeedToyPairs()) {
    auto* p = index.mutable_corpus()->add_pairs();
    p->set_source(pair.source);
    p->set_target(pair.target);
  }
  return index;
}

TEST_F(ServiceTest, IndexSentencesRemovesTheStagingFoldersOfGoneWriters) {
  const v1::IndexSentencesRequest index = ToyMemoryRequest("memo");
  v1::IndexSentencesResponse indexed;
  ASSERT_TRUE(Client().IndexSentences(index, &indexed).ok());
  const fs::path folder = *root_ / "models" / "toy" / ".sentences" / indexed.version();
  // What a writer on another machine left two hours ago (its process cannot be checked, so its age
  // decides), and a staging folder of this process, which still runs.
  StagingOwner elsewhere = StagingOwner::Current();
  elsewhere.boot_id = "0123456789abcdef0123456789abcdef";
  const std::string gone = elsewhere.FolderName(1), mine = StagingOwner::Current().FolderName(1000000);
  for (const auto& name : {gone, mine}) {
    fs::create_directories(folder / name);
    std::ofstream(folder / name / "sentences.tsv") << "half\n";
  }
  fs::last_write_time(folder / gone, fs::file_time_type::clock::now() - std::chrono::hours(2));

  ASSERT_TRUE(Client().IndexSentences(index, &indexed).ok());  // replaces "memo"
  EXPECT_FALSE(fs::exists(folder / gone));
  EXPECT_TRUE(fs::exists(folder / mine));
  std::set<std::string> entries;
  for (const auto& entry : fs::directory_iterator(folder)) entries.insert(entry.path().filename().string());
  EXPECT_EQ(entries, (std::set<std::string>{"memo", mine}));  // no staging folder of its own left behind
  v1::NearestSentencesRequest query;
  query.set_model("toy");
  query.set_name("memo");
  query.set_sentence("今天 天气 很 好");
  v1::NearestSentencesResponse found;
  ASSERT_TRUE(Client().NearestSentences(query, &found).ok());
  ASSERT_GE(found.matches_size(), 1);
  EXPECT_EQ(found.matches(0).source(), "今天 天气 很 好");
}

TEST_F(ServiceTest, TranslationMemoryFindsASentenceFromALightParaphrase) {
  const v1::IndexSentencesRequest index = ToyMemoryRequest("toy-memory");
  v1::IndexSentencesResponse indexed;
  ASSERT_TRUE(Client().IndexSentences(index, &indexed).ok());
  EXPECT_EQ(indexed.sentences(), 5);
  EXPECT_EQ(indexed.skipped(), 0);

  v1::NearestSentencesRequest query;
  query.set_model("toy");
  query.set_name("toy-memory");
  query.set_sentence("机器 学习 有趣");  // "机器 学习 很 有趣" with a word dropped
  query.set_k(2);
  v1::NearestSentencesResponse found;
  ASSERT_TRUE(Client().NearestSentences(query, &found).ok());
  ASSERT_EQ(found.matches_size(), 2);
  EXPECT_EQ(found.matches(0).source(), "机器 学习 很 有趣");
  EXPECT_EQ(found.matches(0).target(), "Machine learning is interesting");
  EXPECT_EQ(found.pooling(), "final");
  query.clear_sentence();
  query.add_sentences("今天 天气 很 好");
  query.add_sentences("深度 学习 很 强大");
  ASSERT_TRUE(Client().NearestSentences(query, &found).ok());
  ASSERT_EQ(found.results_size(), 2);
  EXPECT_EQ(found.results(0).matches(0).source(), "今天 天气 很 好");
  EXPECT_NEAR(found.results(0).matches(0).score(), 1.0, 1e-4);
  EXPECT_EQ(found.results(1).matches(0).source(), "深度 学习 很 强大");
}

TEST_F(ServiceTest, TranslationMemoryErrors) {
  v1::IndexSentencesRequest index;
  index.set_model("toy");
  index.set_name("../escape");
  index.mutable_corpus()->set_tsv_path("toy.tsv");
  v1::IndexSentencesResponse indexed;
  EXPECT_EQ(Client().IndexSentences(index, &indexed).error_code(), StatusCode::INVALID_ARGUMENT);
  index.set_name("ok");
  index.clear_corpus();
  EXPECT_EQ(Client().IndexSentences(index, &indexed).error_code(), StatusCode::INVALID_ARGUMENT);
  index.mutable_corpus()->set_tsv_path("toy.tsv");
  index.set_pooling(v1::MEAN_STATES);  // the seed keeps no per-token encoder outputs
  EXPECT_EQ(Client().IndexSentences(index, &indexed).error_code(), StatusCode::FAILED_PRECONDITION);
  index.set_pooling(v1::FINAL_STATE);
  ASSERT_TRUE(Client().IndexSentences(index, &indexed).ok());  // from the data directory
  EXPECT_EQ(indexed.sentences(), 2);

  v1::NearestSentencesRequest query;
  query.set_model("toy");
  query.set_name("missing");
  query.set_sentence("今天");
  v1::NearestSentencesResponse found;
  EXPECT_EQ(Client().NearestSentences(query, &found).error_code(), StatusCode::NOT_FOUND);
  query.set_name("ok");
  query.set_sentence("   ");  // no token at all
  EXPECT_EQ(Client().NearestSentences(query, &found).error_code(), StatusCode::INVALID_ARGUMENT);
  query.set_sentence("");
  EXPECT_EQ(Client().NearestSentences(query, &found).error_code(), StatusCode::INVALID_ARGUMENT);
  query.set_sentence("今天");
  query.set_k(-1);
  EXPECT_EQ(Client().NearestSentences(query, &found).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, ListModelsShowsVersionsConfigAndMetrics) {
  v1::ListModelsResponse response;
  ASSERT_TRUE(Client().ListModels(&response).ok());
  auto it = std::find_if(response.models().begin(), response.models().end(),
                         [](const v1::ModelInfo& m) { return m.name() == "toy"; });
  ASSERT_NE(it, response.models().end());
  EXPECT_EQ(it->config().architecture(), "seed");
  EXPECT_EQ(it->source_vocab_size(), 22);
  EXPECT_GT(it->metrics().count("train_loss"), 0u);
}

TEST_F(ServiceTest, TrainStreamsEpochsAndPublishesAServingModel) {
  std::vector<v1::TrainProgress> messages;
  auto status = Train(ToyTrainRequest("inline-toy", 50), &messages);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(messages.empty());
  EXPECT_FALSE(messages.front().job_id().empty());
  EXPECT_EQ(messages.front().stage(), v1::TrainProgress::STARTED);
  int epochs = 0;
  for (const auto& m : messages) {
    EXPECT_EQ(m.job_id(), messages.front().job_id());
    if (m.stage() == v1::TrainProgress::EPOCH) {
      ++epochs;
      EXPECT_GT(m.tokens_per_second(), 0);
      EXPECT_GT(m.loss(), 0);
    }
  }
  EXPECT_EQ(epochs, 50);
  EXPECT_EQ(messages.back().stage(), v1::TrainProgress::DONE);
  EXPECT_EQ(messages.back().version(), "1");

  v1::TranslateRequest request;
  request.set_model("inline-toy");
  request.add_sentences("我 爱 自然 语言 处理");
  v1::TranslateResponse response;
  ASSERT_TRUE(Client().Translate(request, &response).ok());
  EXPECT_EQ(response.translations(0).hypotheses(0).text(), "I love natural language processing");
}

TEST_F(ServiceTest, TrainReadsFilesUnderTheDataDirectory) {
  v1::TrainRequest request = ToyTrainRequest("file-toy", 2);
  request.mutable_corpus()->clear_pairs();
  request.mutable_corpus()->set_tsv_path("toy.tsv");
  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(Train(request, &messages).ok());
  EXPECT_EQ(messages.back().training_pairs(), 2);

  request.set_model("moses-toy");
  request.mutable_corpus()->clear_tsv_path();
  request.mutable_corpus()->set_source_path("src.txt");
  request.mutable_corpus()->set_target_path("tgt.txt");
  ASSERT_TRUE(Train(request).ok());
}

TEST_F(ServiceTest, TrainWithDevSetReportsDevBleu) {
  // A dev set from a Moses-style pair under the data directory.
  v1::TrainRequest request = ToyTrainRequest("dev-toy", 3);
  request.mutable_dev()->set_source_path("src.txt");
  request.mutable_dev()->set_target_path("tgt.txt");
  std::vector<v1::TrainProgress> messages;
  ASSERT_TRUE(Train(request, &messages).ok());
  int epochs_with_bleu = 0;
  for (const auto& m : messages) {
    if (m.stage() == v1::TrainProgress::EPOCH && m.dev_bleu() >= 0) ++epochs_with_bleu;
  }
  EXPECT_EQ(epochs_with_bleu, 3);

  // Or held out from the corpus: 5 pairs minus a deterministic dev part.
  v1::TrainRequest held_out = ToyTrainRequest("held-out-toy", 2);
  held_out.mutable_options()->set_dev_fraction(0.4f);
  messages.clear();
  ASSERT_TRUE(Train(held_out, &messages).ok());
  EXPECT_LT(messages.back().training_pairs(), 5);
  EXPECT_GE(messages.back().dev_bleu(), 0);
  held_out.mutable_options()->set_dev_fraction(0.9f);
  EXPECT_EQ(Train(held_out).error_code(), StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, TrainErrors) {
  auto with_path = [](const std::string& path) {
    v1::TrainRequest request = ToyTrainRequest("x", 1);
    request.mutable_corpus()->clear_pairs();
    request.mutable_corpus()->set_tsv_path(path);
    return request;
  };
  EXPECT_EQ(Train(with_path("../secret.tsv")).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Train(with_path("sub/../../secret.tsv")).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Train(with_path((*root_ / "secret.tsv").string())).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Train(with_path("missing.tsv")).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(Train(with_path("bad.tsv")).error_code(), StatusCode::INVALID_ARGUMENT);  // no usable pairs

  v1::TrainRequest no_corpus = ToyTrainRequest("x", 1);
  no_corpus.clear_corpus();
  EXPECT_EQ(Train(no_corpus).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::TrainRequest bad_name = ToyTrainRequest("../evil", 1);
  EXPECT_EQ(Train(bad_name).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::TrainRequest bad_arch = ToyTrainRequest("x", 1);
  bad_arch.mutable_config()->set_architecture("transformer");
  EXPECT_EQ(Train(bad_arch).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::TrainRequest bad_epochs = ToyTrainRequest("x", -3);
  EXPECT_EQ(Train(bad_epochs).error_code(), StatusCode::INVALID_ARGUMENT);

  WordBridgeClient no_data(no_data_server_->InProcessChannel(grpc::ChannelArguments()));
  EXPECT_EQ(no_data.Train(with_path("toy.tsv"), nullptr).error_code(), StatusCode::FAILED_PRECONDITION);
}

// Starts a detached job; returns its id (empty on failure, with the failure recorded).
std::string StartDetached(WordBridgeClient client, v1::TrainRequest request) {
  request.set_detach(true);
  std::vector<v1::TrainProgress> messages;
  auto status = client.Train(request, [&](const v1::TrainProgress& p) { messages.push_back(p); });
  EXPECT_TRUE(status.ok()) << status.error_message();
  // Only the first message: the job id.
  EXPECT_EQ(messages.size(), 1u);
  if (!status.ok() || messages.size() != 1) return "";
  EXPECT_EQ(messages[0].stage(), v1::TrainProgress::STARTED);
  return messages[0].job_id();
}

// WatchJob to the end: the messages and the final status.
grpc::Status Watch(WordBridgeClient client, const std::string& job_id, std::vector<v1::TrainProgress>* messages) {
  return client.WatchJob(job_id, [&](const v1::TrainProgress& p) { messages->push_back(p); });
}

std::vector<int> Epochs(const std::vector<v1::TrainProgress>& messages) {
  std::vector<int> epochs;
  for (const auto& m : messages) {
    if (m.stage() == v1::TrainProgress::EPOCH) epochs.push_back(m.epoch());
  }
  return epochs;
}

TEST_F(ServiceTest, ADetachedJobFinishesAndPublishes) {
  const std::string id = StartDetached(Client(), ToyTrainRequest("detached", 5));
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(id.rfind("job-", 0), 0u) << id;
  std::vector<v1::TrainProgress> messages;
  auto status = Watch(Client(), id, &messages);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(messages.empty());
  EXPECT_EQ(messages.front().stage(), v1::TrainProgress::STARTED);
  EXPECT_EQ(messages.back().stage(), v1::TrainProgress::DONE);
  EXPECT_EQ(Epochs(messages), (std::vector<int>{1, 2, 3, 4, 5}));
  for (const auto& m : messages) EXPECT_EQ(m.job_id(), id);
  EXPECT_TRUE(store_->Has("detached"));

  v1::JobInfo job;
  ASSERT_TRUE(Client().GetJob(id, &job).ok());
  EXPECT_EQ(job.state(), v1::JobInfo::SUCCEEDED);
  EXPECT_EQ(job.model(), "detached");
  EXPECT_EQ(job.version(), messages.back().version());
  EXPECT_EQ(job.epoch(), 5);
  EXPECT_EQ(job.total_epochs(), 5);
  EXPECT_GT(job.start_time(), 0);
  EXPECT_GE(job.end_time(), job.start_time());
  EXPECT_TRUE(job.error_code().empty());
  // Its record is on disk, next to the model.
  EXPECT_TRUE(fs::exists(*root_ / "models" / "detached" / ".jobs" / (id + ".json")));
  // Finished jobs cannot be cancelled, or resumed: their request and checkpoints are gone.
  EXPECT_EQ(Client().CancelJob(id, &job).error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Client().ResumeJob(id, &job).error_code(), StatusCode::NOT_FOUND);
  EXPECT_FALSE(fs::exists(*root_ / "models" / "detached" / ".jobs" / (id + ".request")));
  EXPECT_FALSE(fs::exists(*root_ / "models" / ".checkpoints" / "detached" / "LATEST"));
}

TEST_F(ServiceTest, WatchersSeeTheSameEpochsAndALateOneTheWholeHistory) {
  const std::string id = StartDetached(Client(), ToyTrainRequest("watched", 30));
  ASSERT_FALSE(id.empty());
  std::vector<v1::TrainProgress> first, second;
  grpc::Status first_status, second_status;
  std::thread a([&] { first_status = Watch(Client(), id, &first); });
  std::thread b([&] { second_status = Watch(Client(), id, &second); });
  a.join();
  b.join();
  ASSERT_TRUE(first_status.ok()) << first_status.error_message();
  ASSERT_TRUE(second_status.ok()) << second_status.error_message();
  EXPECT_EQ(Epochs(first).size(), 30u);
  EXPECT_EQ(Epochs(first), Epochs(second));
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(first[i].SerializeAsString(), second[i].SerializeAsString());
  // After the end: the same history, then OK.
  std::vector<v1::TrainProgress> late;
  ASSERT_TRUE(Watch(Client(), id, &late).ok());
  ASSERT_EQ(late.size(), first.size());
  for (size_t i = 0; i < late.size(); ++i) EXPECT_EQ(late[i].SerializeAsString(), first[i].SerializeAsString());
}

TEST_F(ServiceTest, ClientGoingAwayNoLongerCancelsTheJob) {
  grpc::ClientContext context;
  auto stub = v1::WordBridge::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  auto reader = stub->Train(&context, ToyTrainRequest("abandoned", 40));
  v1::TrainProgress first;
  ASSERT_TRUE(reader->Read(&first));
  const std::string id = first.job_id();
  ASSERT_FALSE(id.empty());
  context.TryCancel();
  v1::TrainProgress ignored;
  while (reader->Read(&ignored)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), StatusCode::CANCELLED);
  // The job runs on and publishes.
  std::vector<v1::TrainProgress> messages;
  auto status = Watch(Client(), id, &messages);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Epochs(messages).size(), 40u);
  EXPECT_TRUE(store_->Has("abandoned"));
}

TEST_F(ServiceTest, CancelJobStopsItAndPublishesNothing) {
  const std::string id = StartDetached(Client(), ToyTrainRequest("slow", 100000));
  ASSERT_FALSE(id.empty());
  // While it trains: its model has no version, and a second job for it (or any other, at the limit
  // of one job) is refused.
  v1::TranslateRequest request;
  request.set_model("slow");
  request.add_sentences("今天");
  v1::TranslateResponse response;
  EXPECT_EQ(Client().Translate(request, &response).error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Train(ToyTrainRequest("slow", 1)).error_code(), StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Train(ToyTrainRequest("another", 1)).error_code(), StatusCode::RESOURCE_EXHAUSTED);

  v1::JobInfo job;
  // QUEUED lasts until the job's thread starts, which a loaded machine can delay.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    ASSERT_TRUE(Client().GetJob(id, &job).ok());
  } while (job.state() == v1::JobInfo::QUEUED && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(job.state(), v1::JobInfo::RUNNING);
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(Client().ListJobs("slow", &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 1);
  EXPECT_EQ(jobs.jobs(0).job_id(), id);

  auto status = Client().CancelJob(id, &job);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(job.state(), v1::JobInfo::CANCELLED);
  EXPECT_EQ(job.error_code(), "CANCELLED");
  EXPECT_FALSE(jobs_->IsTraining("slow"));
  EXPECT_FALSE(store_->Has("slow"));
  EXPECT_FALSE(fs::exists(*root_ / "models" / "slow" / "1"));
  // Again: the same answer (idempotent). Watching it ends CANCELLED.
  ASSERT_TRUE(Client().CancelJob(id, &job).ok());
  EXPECT_EQ(job.state(), v1::JobInfo::CANCELLED);
  std::vector<v1::TrainProgress> messages;
  EXPECT_EQ(Watch(Client(), id, &messages).error_code(), StatusCode::CANCELLED);
  EXPECT_TRUE(messages.empty() || messages.back().stage() != v1::TrainProgress::DONE);
}

TEST_F(ServiceTest, UnknownJobsAreNotFound) {
  v1::JobInfo job;
  std::vector<v1::TrainProgress> messages;
  for (const std::string id : {"job-20000101T000000Z-000000000000", "../../etc/passwd", "x"}) {
    EXPECT_EQ(Client().GetJob(id, &job).error_code(), StatusCode::NOT_FOUND) << id;
    EXPECT_EQ(Client().CancelJob(id, &job).error_code(), StatusCode::NOT_FOUND) << id;
    EXPECT_EQ(Watch(Client(), id, &messages).error_code(), StatusCode::NOT_FOUND) << id;
    EXPECT_EQ(Client().ResumeJob(id, &job).error_code(), StatusCode::NOT_FOUND) << id;
  }
  EXPECT_EQ(Client().GetJob("", &job).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Client().ResumeJob("", &job).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::ListJobsResponse jobs;
  EXPECT_EQ(Client().ListJobs("../evil", &jobs).error_code(), StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Client().ListJobs("never-trained", &jobs).ok());
  EXPECT_EQ(jobs.jobs_size(), 0);
}

TEST_F(ServiceTest, ListJobsShowsFinishedJobsNewestFirst) {
  const std::string older = StartDetached(Client(), ToyTrainRequest("listed", 1));
  std::vector<v1::TrainProgress> ignored;
  ASSERT_TRUE(Watch(Client(), older, &ignored).ok());
  v1::TrainRequest bad = ToyTrainRequest("listed", 1);
  bad.mutable_corpus()->clear_pairs();
  bad.mutable_corpus()->add_pairs()->set_source("only a source");  // no usable pair: the job fails
  const std::string newer = StartDetached(Client(), bad);
  EXPECT_EQ(Watch(Client(), newer, &ignored).error_code(), StatusCode::INVALID_ARGUMENT);
  v1::ListJobsResponse jobs;
  ASSERT_TRUE(Client().ListJobs("listed", &jobs).ok());
  ASSERT_EQ(jobs.jobs_size(), 2);
  EXPECT_EQ(jobs.jobs(0).job_id(), newer);
  EXPECT_EQ(jobs.jobs(0).state(), v1::JobInfo::FAILED);
  EXPECT_EQ(jobs.jobs(0).error_code(), "INVALID_ARGUMENT");
  EXPECT_FALSE(jobs.jobs(0).error_message().empty());
  EXPECT_EQ(jobs.jobs(1).job_id(), older);
  EXPECT_EQ(jobs.jobs(1).state(), v1::JobInfo::SUCCEEDED);
  EXPECT_EQ(jobs.jobs(1).version(), "1");
  ASSERT_TRUE(Client().ListJobs("", &jobs).ok());
  EXPECT_GE(jobs.jobs_size(), 2);
}

// ExportVectors to the end: its messages and status.
grpc::Status Export(WordBridgeClient client, const v1::ExportVectorsRequest& request,
                    std::vector<v1::ExportVectorsResponse>* messages) {
  return client.ExportVectors(request, [&](const v1::ExportVectorsResponse& m) { messages->push_back(m); });
}

TEST_F(ServiceTest, ExportVectorsStreamsEveryWordOnceInOrderWithCounts) {
  PublishCountedWords(store_);
  v1::ExportVectorsRequest request;
  request.set_model("counted");
  request.set_side(v1::TARGET);
  std::vector<v1::ExportVectorsResponse> messages;
  auto status = Export(Client(), request, &messages);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(messages.size(), 3u);  // 7 + 7 + 4 words
  EXPECT_EQ(messages[0].model(), "counted");
  EXPECT_FALSE(messages[0].version().empty());
  EXPECT_EQ(messages[0].vector_kind(), "input");
  EXPECT_EQ(messages[0].total_words(), 18);
  EXPECT_TRUE(messages[0].counted());
  EXPECT_EQ(messages[1].total_words(), 0);  // the header fields come once
  auto bundle = store_->Get("counted", "");
  const WordSpace& space = bundle->Words(Side::kTarget);
  EXPECT_EQ(messages[0].dimension(), space.dimension());
  int64_t next = 0;
  for (const auto& m : messages) {
    for (const auto& w : m.words()) {
      ASSERT_LT(next, space.size());
      EXPECT_EQ(w.word(), space.words().word(next));
      EXPECT_EQ(w.count(), space.words().count(next));
      if (next > 0) EXPECT_LE(w.count(), space.words().count(next - 1));  // most frequent first
      const auto row = space.Row(next);
      ASSERT_EQ(w.vector_size(), static_cast<int>(row.size()));
      for (size_t i = 0; i < row.size(); ++i) EXPECT_EQ(w.vector(static_cast<int>(i)), row[i]);
      ++next;
    }
  }
  EXPECT_EQ(next, 18);

  request.set_restrict_vocab(3);
  messages.clear();
  ASSERT_TRUE(Export(Client(), request, &messages).ok());
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_EQ(messages[0].total_words(), 3);
  ASSERT_EQ(messages[0].words_size(), 3);
  EXPECT_EQ(messages[0].words(0).word(), "is");
  EXPECT_EQ(messages[0].words(0).count(), 3);
}

TEST_F(ServiceTest, ExportVectorsErrorsAsTheOtherWordRpcs) {
  PublishCountedWords(store_);
  auto code = [&](const std::function<void(v1::ExportVectorsRequest*)>& edit) {
    v1::ExportVectorsRequest request;
    request.set_model("counted");
    request.set_side(v1::TARGET);
    edit(&request);
    std::vector<v1::ExportVectorsResponse> messages;
    auto status = Export(Client(), request, &messages);
    if (!status.ok()) EXPECT_TRUE(messages.empty());
    return status.error_code();
  };
  EXPECT_EQ(code([](auto*) {}), StatusCode::OK);
  EXPECT_EQ(code([](auto* r) { r->set_vector_kind("bogus"); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code([](auto* r) { r->set_side(v1::SOURCE); r->set_vector_kind("contextual"); }),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(code([](auto* r) { r->set_side(v1::SOURCE); r->set_vector_kind("output"); }),
            StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(code([](auto* r) { r->set_restrict_vocab(-1); }), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code([](auto* r) { r->set_model("no-such-model"); }), StatusCode::NOT_FOUND);
  EXPECT_EQ(code([](auto* r) { r->set_version("999"); }), StatusCode::NOT_FOUND);
  EXPECT_EQ(code([](auto* r) { r->clear_model(); }), StatusCode::INVALID_ARGUMENT);
}

// The counted toy's target words exported as word2vec text to `file`, the way `wordbridge export`
// writes them; returns the path.
std::string ExportCountedTargets(ModelStore* store, WordBridgeClient& client, const fs::path& file,
                                 ExportSummary* summary) {
  PublishCountedWords(store);
  v1::ExportVectorsRequest request;
  request.set_model("counted");
  request.set_side(v1::TARGET);
  const std::string path = file.string();
  auto status = ExportVectorsToFile(client, request, ExportFormat::kWord2Vec, path, summary);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return path;
}

TEST_F(ServiceTest, ExportedFilesReadBackAsTheServedVectors) {
  auto client = Client();
  ExportSummary summary;
  const std::string w2v = ExportCountedTargets(store_, client, *root_ / "export.vec", &summary);
  v1::ExportVectorsRequest request;
  request.set_model("counted");
  request.set_side(v1::TARGET);
  EXPECT_EQ(summary.words, 18);
  EXPECT_TRUE(summary.metadata_path.empty());
  EXPECT_FALSE(fs::exists(w2v + ".partial"));
  const auto vectors = ReadWordVectorsFile(w2v);
  const WordSpace& space = store_->Get("counted", "")->Words(Side::kTarget);
  ASSERT_EQ(vectors.size(), space.size());
  EXPECT_TRUE(vectors.had_header);
  for (int64_t w = 0; w < space.size(); ++w) {
    EXPECT_EQ(vectors.words[w], space.words().word(w));
    const auto row = space.Row(w);
    for (int64_t i = 0; i < vectors.dimension; ++i) {
      EXPECT_NEAR(vectors.row(w)[i], row[i], 5e-6 * std::max(1e-3f, std::abs(row[i])));
    }
  }
  // TensorBoard projector: vectors.tsv and metadata.tsv next to it, rows in the same order.
  fs::create_directories(*root_ / "projector");
  const std::string tsv = (*root_ / "projector" / "vectors.tsv").string();
  ExportSummary projector;
  ASSERT_TRUE(ExportVectorsToFile(client, request, ExportFormat::kProjectorTsv, tsv, &projector).ok());
  EXPECT_EQ(projector.metadata_path, (*root_ / "projector" / "metadata.tsv").string());
  std::ifstream metadata(projector.metadata_path), numbers(tsv);
  std::string line;
  ASSERT_TRUE(std::getline(metadata, line));
  EXPECT_EQ(line, "word\tcount");
  for (int64_t w = 0; w < space.size(); ++w) {
    ASSERT_TRUE(std::getline(metadata, line));
    EXPECT_EQ(line, space.words().word(w) + "\t" + std::to_string(space.words().count(w)));
    ASSERT_TRUE(std::getline(numbers, line));
    EXPECT_EQ(std::count(line.begin(), line.end(), '\t'), space.dimension() - 1);
  }
  EXPECT_FALSE(std::getline(metadata, line));
  EXPECT_EQ(ProjectorMetadataPath("out/target.tsv"), "out/target.metadata.tsv");
  EXPECT_EQ(ProjectorMetadataPath("en-vectors.tsv"), "en-metadata.tsv");

  // A failed export leaves no file behind.
  request.set_vector_kind("bogus");
  const std::string failed = (*root_ / "failed.vec").string();
  EXPECT_EQ(ExportVectorsToFile(client, request, ExportFormat::kWord2Vec, failed, &summary).error_code(),
            StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(fs::exists(failed));
  EXPECT_FALSE(fs::exists(failed + ".partial"));
}

// Runs `command` and returns its standard output; sets *exit_code.
std::string RunCommand(const std::string& command, int* exit_code) {
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    *exit_code = -1;
    return output;
  }
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) output.append(buffer, n);
  *exit_code = pclose(pipe);
  return output;
}

TEST_F(ServiceTest, GensimLoadsTheExportAndFindsTheSameNearestWords) {
  int code = 0;
  RunCommand("/usr/bin/python3 -c 'import gensim' 2>/dev/null", &code);
  if (code != 0) GTEST_SKIP() << "python3-gensim is not installed (/usr/bin/python3 cannot import gensim)";
  auto client = Client();
  ExportSummary summary;
  const std::string path = ExportCountedTargets(store_, client, *root_ / "gensim.vec", &summary);
  const std::string script = (*root_ / "neighbours.py").string();
  std::ofstream(script) << "import sys\n"
                           "from gensim.models import KeyedVectors\n"
                           "kv = KeyedVectors.load_word2vec_format(sys.argv[1], binary=False)\n"
                           "for word in kv.index_to_key:\n"
                           "    best, score = kv.most_similar(word, topn=1)[0]\n"
                           "    print(f'{word}\\t{best}\\t{score:.6f}')\n";
  const std::string output = RunCommand("/usr/bin/python3 " + script + " " + path, &code);
  ASSERT_EQ(code, 0) << output;
  std::map<std::string, std::string> gensim_best;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    const auto tab = line.find('\t'), second = line.find('\t', tab + 1);
    gensim_best[line.substr(0, tab)] = line.substr(tab + 1, second - tab - 1);
  }
  ASSERT_EQ(gensim_best.size(), 18u) << output;
  int compared = 0;
  for (const auto& [word, best] : gensim_best) {
    v1::NearestWordsRequest nearest;
    nearest.set_model("counted");
    nearest.set_side(v1::TARGET);
    nearest.set_word(word);
    nearest.set_k(2);
    v1::NearestWordsResponse response;
    ASSERT_TRUE(client.NearestWords(nearest, &response).ok());
    ASSERT_EQ(response.neighbors_size(), 2);
    // A near tie may fall either way after the text format's rounding: only clear winners count.
    if (response.neighbors(0).score() - response.neighbors(1).score() < 1e-4) continue;
    EXPECT_EQ(best, response.neighbors(0).word()) << word;
    ++compared;
  }
  EXPECT_GE(compared, 12);
}

TEST_F(ServiceTest, TrainStartsFromImportedVectorsAndFreezesThem) {
  // Vectors for three target words of the toy corpus and one it lacks, 8 dimensions like the model.
  const std::vector<std::string> words = {"love", "learning", "good", "zebra"};
  std::ofstream file(*root_ / "data" / "target.vec");
  file << words.size() << " 8\n";
  std::map<std::string, std::vector<float>> expected;
  for (size_t w = 0; w < words.size(); ++w) {
    file << words[w];
    for (int i = 0; i < 8; ++i) {
      const float v = 0.125f * static_cast<float>(i + 1) * (w % 2 ? -1.0f : 1.0f) + 0.5f * static_cast<float>(w);
      expected[words[w]].push_back(v);
      file << ' ' << v;
    }
    file << '\n';
  }
  file.close();
  v1::TrainRequest request = ToyTrainRequest("imported", 3);
  request.mutable_config()->set_embed_dim(8);
  request.mutable_options()->set_target_vectors("target.vec");
  request.mutable_options()->set_freeze_target_embeddings(true);
  std::vector<v1::TrainProgress> messages;
  auto status = Train(request, &messages);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // The first message after the job's acceptance carries the corpus and the counts.
  ASSERT_GE(messages.size(), 2u);
  EXPECT_EQ(messages[1].stage(), v1::TrainProgress::STARTED);
  EXPECT_NE(messages[1].message().find("target vectors: 3 of "), std::string::npos) << messages[1].message();
  EXPECT_NE(messages[1].message().find("frozen embeddings: target"), std::string::npos) << messages[1].message();

  auto bundle = store_->Get("imported", "");
  EXPECT_EQ(bundle->metrics().at("target_vectors_matched"), 3);
  EXPECT_EQ(bundle->metrics().at("target_vectors_tokens"),
            bundle->vocabulary(Side::kTarget).size() - Vocabulary::kNumSpecial);
  EXPECT_EQ(bundle->training().at("freeze_target_embeddings"), 1);
  // Frozen: after three epochs the rows are still the file's vectors.
  for (const std::string word : {"love", "learning", "good"}) {
    v1::GetEmbeddingRequest embedding;
    embedding.set_model("imported");
    embedding.set_side(v1::TARGET);
    embedding.set_pieces(true);
    embedding.set_word(word);
    v1::GetEmbeddingResponse response;
    ASSERT_TRUE(Client().GetEmbedding(embedding, &response).ok());
    ASSERT_TRUE(response.in_vocabulary()) << word;
    ASSERT_EQ(response.vector_size(), 8);
    for (int i = 0; i < 8; ++i) EXPECT_FLOAT_EQ(response.vector(i), expected[word][i]) << word << " " << i;
  }
}

TEST_F(ServiceTest, TrainRefusesBadVectorFiles) {
  std::ofstream(*root_ / "data" / "three.vec") << "love 1 2 3\n";
  std::ofstream(*root_ / "data" / "broken.vec") << "love 1 2 3 4 5 6 7 8\nlearning 1 2 x 4 5 6 7 8\n";
  std::ofstream(*root_ / "secret.vec") << "love 1 2 3 4 5 6 7 8\n";
  auto train = [&](const std::string& path, std::string* message = nullptr) {
    v1::TrainRequest request = ToyTrainRequest("vectors-refused", 1);
    request.mutable_config()->set_embed_dim(8);
    request.mutable_options()->set_source_vectors(path);
    auto status = Train(request);
    if (message) *message = status.error_message();
    return status.error_code();
  };
  std::string message;
  EXPECT_EQ(train("three.vec", &message), StatusCode::INVALID_ARGUMENT);  // 3 dimensions, embed_dim 8
  EXPECT_NE(message.find("embed_dim is 8"), std::string::npos) << message;
  EXPECT_EQ(train("../secret.vec"), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(train("sub/../../secret.vec"), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(train((*root_ / "secret.vec").string()), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(train("missing.vec"), StatusCode::NOT_FOUND);
  // Malformed past its first row: the job reads the whole file and fails naming the line.
  EXPECT_EQ(train("broken.vec", &message), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(message.find("broken.vec, line 2"), std::string::npos) << message;
  EXPECT_FALSE(store_->Has("vectors-refused"));
}

TEST_F(ServiceTest, HealthIsServing) {
  grpc::health::v1::HealthCheckResponse::ServingStatus serving;
  ASSERT_TRUE(Client().Health("", &serving).ok());
  EXPECT_EQ(serving, grpc::health::v1::HealthCheckResponse::SERVING);
}


// Pins, rollbacks and deletes over gRPC, with the status of each error, and ListModels' version table.
TEST_F(ServiceTest, SetServingVersionAndDeleteVersionWithTheirErrors) {
  for (int i = 0; i < 3; ++i) store_->Publish("lifecycle", PartsOf(*SeedToy()));
  auto client = Client();
  v1::SetServingVersionResponse pinned;
  auto status = client.SetServingVersion("lifecycle", "1", &pinned);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(pinned.serving_version(), "1");
  EXPECT_EQ(pinned.pinned_version(), "1");

  v1::ListModelsResponse models;
  ASSERT_TRUE(client.ListModels(&models).ok());
  auto it = std::find_if(models.models().begin(), models.models().end(),
                         [](const v1::ModelInfo& m) { return m.name() == "lifecycle"; });
  ASSERT_NE(it, models.models().end());
  EXPECT_EQ(it->version(), "1");
  EXPECT_EQ(it->pinned_version(), "1");
  EXPECT_EQ(it->versions_size(), 3);  // the old field still lists every version
  ASSERT_EQ(it->version_infos_size(), 3);
  EXPECT_TRUE(it->version_infos(0).serving() && it->version_infos(0).pinned());
  EXPECT_FALSE(it->version_infos(2).serving() || it->version_infos(2).pinned());
  EXPECT_EQ(it->version_infos(2).version(), "3");
  EXPECT_GT(it->version_infos(2).bytes(), 0);
  EXPECT_GT(it->version_infos(2).created_time(), 1.7e9);
  EXPECT_EQ(it->version_infos(2).metrics().at("epochs"), 50);
  EXPECT_TRUE(it->version_infos(2).refused_reason().empty());

  v1::TranslateRequest translate;
  translate.set_model("lifecycle");
  translate.add_sentences("今天 天气 很 好");
  v1::TranslateResponse translated;
  ASSERT_TRUE(client.Translate(translate, &translated).ok());
  EXPECT_EQ(translated.version(), "1");

  EXPECT_EQ(client.SetServingVersion("lifecycle", "9", &pinned).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(client.SetServingVersion("nope", "1", &pinned).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(client.SetServingVersion("", "1", &pinned).error_code(), StatusCode::INVALID_ARGUMENT);
  {
    auto stub = v1::WordBridge::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
    grpc::ClientContext context;
    v1::SetServingVersionRequest both;
    both.set_model("lifecycle");
    both.set_version("2");
    both.set_newest(true);
    EXPECT_EQ(stub->SetServingVersion(&context, both, &pinned).error_code(), StatusCode::INVALID_ARGUMENT);
  }
  const fs::path weights = *root_ / "models" / "lifecycle" / "2" / "weights.pt";
  fs::resize_file(weights, fs::file_size(weights) / 2);
  status = client.SetServingVersion("lifecycle", "2", &pinned);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_EQ(store_->Get("lifecycle")->version(), "1");

  v1::DeleteVersionResponse deleted;
  status = client.DeleteVersion("lifecycle", "1", /*force=*/false, &deleted);
  EXPECT_EQ(status.error_code(), StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_NE(status.error_message().find("is pinned"), std::string::npos) << status.error_message();
  EXPECT_EQ(client.DeleteVersion("lifecycle", "9", false, &deleted).error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(client.DeleteVersion("lifecycle", "", false, &deleted).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(client.DeleteVersion("nope", "1", false, &deleted).error_code(), StatusCode::NOT_FOUND);
  status = client.DeleteVersion("lifecycle", "1", /*force=*/true, &deleted);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(deleted.pin_cleared());
  EXPECT_EQ(deleted.serving_version(), "3");

  ASSERT_TRUE(client.SetServingVersion("lifecycle", "", &pinned).ok());  // unpinning twice is fine
  EXPECT_EQ(pinned.serving_version(), "3");
  EXPECT_EQ(pinned.pinned_version(), "");
}

TEST_F(ServiceTest, AnUploadedCorpusTrainsAModelAndCanBeListedAndDeleted) {
  const fs::path local = *root_ / "local-upload.tsv";
  {
    std::ofstream out(local);
    for (const auto& pair : SeedToyPairs()) out << pair.source << "\t" << pair.target << "\n";
  }
  auto client = Client();
  v1::UploadCorpusResponse uploaded;
  // Small chunks: the file arrives in many messages.
  auto status = client.UploadCorpus(local.string(), "toy-upload.tsv", false, &uploaded, /*chunk_bytes=*/16);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(uploaded.corpus().path(), "uploads/toy-upload.tsv");
  EXPECT_EQ(uploaded.corpus().bytes(), static_cast<int64_t>(fs::file_size(local)));
  EXPECT_EQ(uploaded.corpus().lines(), static_cast<int64_t>(SeedToyPairs().size()));
  EXPECT_EQ(uploaded.corpus().sha256(), Sha256OfFile(local.string()).sha256);

  v1::TrainRequest request = ToyTrainRequest("uploaded-toy", 2);
  request.mutable_corpus()->clear_pairs();
  request.mutable_corpus()->set_tsv_path(uploaded.corpus().path());
  std::vector<v1::TrainProgress> messages;
  status = Train(request, &messages);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(messages.back().training_pairs(), static_cast<int64_t>(SeedToyPairs().size()));

  // The same name again: ALREADY_EXISTS unless overwriting.
  status = client.UploadCorpus(local.string(), "toy-upload.tsv", false, &uploaded);
  EXPECT_EQ(status.error_code(), StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_TRUE(client.UploadCorpus(local.string(), "toy-upload.tsv", true, &uploaded).ok());

  v1::ListCorporaResponse listed;
  ASSERT_TRUE(client.ListCorpora(&listed).ok());
  ASSERT_EQ(listed.corpora_size(), 1);
  EXPECT_EQ(listed.corpora(0).path(), "uploads/toy-upload.tsv");
  EXPECT_EQ(listed.total_bytes(), static_cast<int64_t>(fs::file_size(local)));
  EXPECT_EQ(listed.max_file_bytes(), UploadLimits{}.max_file_bytes);

  ASSERT_TRUE(client.DeleteCorpus("toy-upload.tsv").ok());
  EXPECT_EQ(client.DeleteCorpus("toy-upload.tsv").error_code(), StatusCode::NOT_FOUND);
  EXPECT_EQ(client.DeleteCorpus("../toy.tsv").error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(fs::exists(*root_ / "data" / "toy.tsv"));
  ASSERT_TRUE(client.ListCorpora(&listed).ok());
  EXPECT_EQ(listed.corpora_size(), 0);
}

TEST_F(ServiceTest, UploadErrorsStoreNothing) {
  auto stub = v1::WordBridge::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  // Sends `messages` as one upload; returns its status.
  const auto upload = [&](const std::vector<v1::UploadCorpusRequest>& messages) {
    grpc::ClientContext context;
    v1::UploadCorpusResponse response;
    auto writer = stub->UploadCorpus(&context, &response);
    for (const auto& message : messages) {
      if (!writer->Write(message)) break;
    }
    writer->WritesDone();
    return writer->Finish();
  };
  v1::UploadCorpusRequest first;
  first.set_name("errors.tsv");
  first.set_chunk("a\tb\n");
  v1::UploadCorpusRequest renamed;
  renamed.set_name("other.tsv");
  renamed.set_chunk("c\td\n");
  v1::UploadCorpusRequest wrong_sum;
  wrong_sum.set_sha256(Sha256Hex("something else"));
  v1::UploadCorpusRequest bad_hex;
  bad_hex.set_sha256("xyz");
  v1::UploadCorpusRequest unnamed;
  unnamed.set_chunk("a\tb\n");
  v1::UploadCorpusRequest escaping = first;
  escaping.set_name("../escape.tsv");

  EXPECT_EQ(upload({}).error_code(), StatusCode::INVALID_ARGUMENT);  // not even a name
  EXPECT_EQ(upload({unnamed}).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(upload({escaping}).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(upload({first, renamed}).error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(upload({first, bad_hex}).error_code(), StatusCode::INVALID_ARGUMENT);
  const auto mismatch = upload({first, wrong_sum});
  EXPECT_EQ(mismatch.error_code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(mismatch.error_message().find("SHA-256"), std::string::npos) << mismatch.error_message();
  EXPECT_FALSE(fs::exists(*root_ / "escape.tsv"));
  std::error_code error;
  EXPECT_TRUE(fs::is_empty(*root_ / "data" / "uploads", error) || !fs::exists(*root_ / "data" / "uploads"));

  // Train refuses a staging file as a corpus: it may be half-written.
  v1::TrainRequest request = ToyTrainRequest("staging-toy", 1);
  request.mutable_corpus()->clear_pairs();
  request.mutable_corpus()->set_tsv_path("uploads/.staging-1-2-3-4-5-host");
  EXPECT_EQ(Train(request).error_code(), StatusCode::INVALID_ARGUMENT);

  // Without a data directory there is nowhere to store uploads.
  WordBridgeClient no_data(no_data_server_->InProcessChannel(grpc::ChannelArguments()));
  v1::UploadCorpusResponse response;
  const fs::path local = *root_ / "data" / "toy.tsv";
  EXPECT_EQ(no_data.UploadCorpus(local.string(), "x.tsv", false, &response).error_code(),
            StatusCode::FAILED_PRECONDITION);
  v1::ListCorporaResponse listed;
  EXPECT_EQ(no_data.ListCorpora(&listed).error_code(), StatusCode::FAILED_PRECONDITION);
}

TEST_F(ServiceTest, UploadsOverTheLimitsAreResourceExhaustedAndTheServerStaysUp) {
  const fs::path data = *root_ / "limited-data";
  fs::create_directories(data);
  ServiceLimits limits;
  limits.uploads.max_file_bytes = 1000;
  limits.uploads.max_total_bytes = 1500;
  WordBridgeService limited(store_, jobs_, engine_, data.string(), limits);
  grpc::ServerBuilder builder;
  builder.RegisterService(&limited);
  auto server = builder.BuildAndStart();
  WordBridgeClient client(server->InProcessChannel(grpc::ChannelArguments()));

  const fs::path big = *root_ / "big.tsv", medium = *root_ / "medium.tsv";
  std::ofstream(big) << std::string(1001, 'x');
  std::ofstream(medium) << std::string(800, 'y');
  v1::UploadCorpusResponse response;
  auto status = client.UploadCorpus(big.string(), "big.tsv", false, &response, 100);
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("--max-upload-bytes"), std::string::npos) << status.error_message();
  ASSERT_TRUE(client.UploadCorpus(medium.string(), "m1.tsv", false, &response).ok());
  status = client.UploadCorpus(medium.string(), "m2.tsv", false, &response);  // 1,600 > 1,500 in all
  EXPECT_EQ(status.error_code(), StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_NE(status.error_message().find("--max-upload-total-bytes"), std::string::npos) << status.error_message();
  EXPECT_EQ(std::vector<fs::path>(fs::directory_iterator(data / "uploads"), fs::directory_iterator()),
            std::vector<fs::path>{data / "uploads" / "m1.tsv"});
  v1::ListModelsResponse models;
  EXPECT_TRUE(client.ListModels(&models).ok());  // still serving
  server->Shutdown();
}

}  // namespace
}  // namespace wordbridge
