// Model files and the versioned store: round trips, publishing, crash leftovers, damaged versions.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/common/errors.h"
#include "model/store/model_store.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("wb_store_" + std::to_string(::getpid()) + "_" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  static ModelParts PartsOf(const ModelBundle& b) {
    return ModelParts{b.config(),
                      std::shared_ptr<const Tokenizer>(LoadTokenizer(b.config().tokenizer, "")),
                      std::shared_ptr<const Tokenizer>(LoadTokenizer(b.config().tokenizer, "")),
                      b.vocabulary(Side::kSource),
                      b.vocabulary(Side::kTarget),
                      std::shared_ptr<Seq2SeqNet>(&b.network(), [](Seq2SeqNet*) {}),
                      b.metrics()};
  }

  fs::path root_;
};

TEST_F(StoreTest, SaveLoadRoundTripTranslatesIdentically) {
  auto bundle = SeedToy();
  fs::create_directories(root_);
  bundle->Save(root_.string());
  auto loaded = ModelBundle::Load("toy", "1", root_.string());
  const std::vector<std::string> sentences = {"我 爱 自然 语言 处理", "今天 天气 很 好", "机器 学习 很 强大"};
  TranslationOptions options;
  options.beam_size = 3;
  auto a = bundle->Translate(sentences, options, nullptr);
  auto b = loaded->Translate(sentences, options, nullptr);
  for (size_t i = 0; i < sentences.size(); ++i) {
    EXPECT_EQ(a[i].hypotheses[0].text, b[i].hypotheses[0].text);
    EXPECT_DOUBLE_EQ(a[i].hypotheses[0].score, b[i].hypotheses[0].score);
  }
  EXPECT_TRUE(torch::equal(bundle->network().target_embedding(), loaded->network().target_embedding()));
  EXPECT_EQ(loaded->metrics().at("epochs"), 50);
}

TEST_F(StoreTest, PublishCreatesVersionsAndServesNewest) {
  ModelStore store(root_.string());
  auto v1 = store.Publish("toy", PartsOf(*SeedToy()));
  auto v2 = store.Publish("toy", PartsOf(*SeedToy()));
  EXPECT_EQ(v1->version(), "1");
  EXPECT_EQ(v2->version(), "2");
  EXPECT_EQ(store.Get("toy")->version(), "2");
  EXPECT_EQ(store.Get("toy", "1")->version(), "1");
  EXPECT_THROW(store.Get("toy", "7"), NotFoundError);
  EXPECT_THROW(store.Get("nope"), NotFoundError);
  auto list = store.List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].versions, (std::vector<std::string>{"1", "2"}));

  // A second store on the same directory (another replica) loads the newest version.
  ModelStore replica(root_.string());
  EXPECT_TRUE(replica.LoadAll().empty());
  EXPECT_EQ(replica.Get("toy")->version(), "2");
}

TEST_F(StoreTest, CrashLeftoversAndDamagedVersionsAreSkipped) {
  ModelStore store(root_.string());
  store.Publish("toy", PartsOf(*SeedToy()));
  store.Publish("toy", PartsOf(*SeedToy()));
  // Version 2 is damaged, and a crash left a staging folder behind.
  { std::ofstream(root_ / "toy" / "2" / "weights.pt", std::ios::trunc) << "garbage"; }
  fs::create_directories(root_ / "toy" / ".staging-3-1");
  ModelStore restarted(root_.string());
  auto problems = restarted.LoadAll();
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("version 2"), std::string::npos);
  EXPECT_EQ(restarted.Get("toy")->version(), "1");
  EXPECT_FALSE(fs::exists(root_ / "toy" / ".staging-3-1"));
}

// Found by fuzz/model_files_fuzzer.cc: a float where config.json has a size was cast to int64 with
// undefined behaviour (1e300). Sizes must be 64-bit integers; anything else is a damaged version.
TEST(ModelConfigJsonTest, NonIntegerSizesAreDamage) {
  const std::string valid = ModelConfig::ForArchitecture("seed").ToJson();
  EXPECT_NO_THROW(ModelConfig::FromJson(valid));
  for (const std::string& value : {"1e+300", "-1e300", "64.5", "18446744073709551615", "\"64\""}) {
    std::string damaged = valid;
    const std::string field = "\"embed_dim\": 64";
    damaged.replace(damaged.find(field), field.size(), "\"embed_dim\": " + value);
    EXPECT_THROW(ModelConfig::FromJson(damaged), FailedPreconditionError) << value;
  }
}

TEST_F(StoreTest, RejectsBadNames) {
  ModelStore store(root_.string());
  for (const std::string& name : std::vector<std::string>{"", "../etc", ".hidden", "a/b", std::string(65, 'x')}) {
    EXPECT_THROW(ModelStore::ValidateName(name), InvalidArgumentError) << name;
  }
  EXPECT_NO_THROW(ModelStore::ValidateName("es-en_v2.1"));
}

}  // namespace
}  // namespace wordbridge
