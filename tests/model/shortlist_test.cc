// The vocabulary shortlist: what the table learns, its file round trip (alone and with a model
// version), the union a batch decodes over, and decoding with it: on the toy models, with a table
// that holds the full-vocabulary output's tokens, greedy output with the shortlist equals without.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cmath>
#include <numeric>
#include <random>
#include <set>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/decode/shortlist.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kWords = 21;
// The synthetic corpus' dictionary: source id 4 + i translates to target id 4 + (5 i mod 21), so the
// translation is not the same id.
int64_t TranslationOf(int64_t source_id) { return Vocabulary::kNumSpecial + (5 * (source_id - 4)) % kWords; }

struct Corpus {
  std::vector<std::vector<int64_t>> sources, targets;
};

// Sentences of 2-6 distinct dictionary words in random order; the last word (the "the" of both sides)
// is in every sentence, and targets are shuffled translations.
Corpus Synthetic(int pairs) {
  std::mt19937 random(11);
  Corpus corpus;
  for (int i = 0; i < pairs; ++i) {
    std::vector<int64_t> words(kWords - 1);
    std::iota(words.begin(), words.end(), Vocabulary::kNumSpecial);
    std::shuffle(words.begin(), words.end(), random);
    words.resize(2 + random() % 5);
    words.push_back(Vocabulary::kNumSpecial + kWords - 1);
    std::shuffle(words.begin(), words.end(), random);
    std::vector<int64_t> target;
    for (int64_t w : words) target.push_back(TranslationOf(w));
    std::shuffle(target.begin(), target.end(), random);
    corpus.sources.push_back(words);
    corpus.targets.push_back(target);
  }
  return corpus;
}

std::shared_ptr<const LexicalShortlist> LearnFrom(const Corpus& corpus, int64_t source_vocab, int64_t target_vocab,
                                                  const ShortlistOptions& options) {
  return LexicalShortlist::Learn(
      corpus.sources.size(), [&](size_t i) -> const std::vector<int64_t>& { return corpus.sources[i]; },
      [&](size_t i) -> const std::vector<int64_t>& { return corpus.targets[i]; }, source_vocab, target_vocab,
      options);
}

TEST(ShortlistTest, LearnsTheObviousTranslationFirst) {
  const auto corpus = Synthetic(300);
  ShortlistOptions options;
  options.per_source = 5;
  options.frequent = 2;
  options.align = 1;
  auto table = LearnFrom(corpus, Vocabulary::kNumSpecial + kWords, Vocabulary::kNumSpecial + kWords, options);
  for (int64_t s = Vocabulary::kNumSpecial; s < Vocabulary::kNumSpecial + kWords; ++s) {
    auto candidates = table->CandidatesOf(s);
    ASSERT_EQ(candidates.size(), 5u) << "source " << s;
    EXPECT_EQ(candidates[0], TranslationOf(s)) << "source " << s;
  }
  EXPECT_TRUE(table->CandidatesOf(0).empty());
  EXPECT_TRUE(table->CandidatesOf(1000).empty());
  // Always in: the specials and the two most frequent targets (the "the" first).
  auto always = table->AlwaysIn();
  ASSERT_EQ(always.size(), 6u);
  EXPECT_EQ(std::vector<int64_t>(always.begin(), always.begin() + 4), (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_NE(std::find(always.begin(), always.end(), TranslationOf(Vocabulary::kNumSpecial + kWords - 1)), always.end());

  // A batch's union: sorted, distinct, the always-in ids and every candidate of its source ids.
  auto source = torch::tensor({{5, 6, 0}, {7, 0, 0}}, torch::kInt64);  // padded with <PAD>
  auto ids = table->Union(source);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), ids.size());
  std::set<int64_t> expected(always.begin(), always.end());
  for (int64_t s : {5, 6, 7}) {
    for (int64_t t : table->CandidatesOf(s)) expected.insert(t);
  }
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()), expected);
  EXPECT_LT(static_cast<int64_t>(ids.size()), table->target_vocab_size());
  const std::vector<int64_t> a = {5, 6}, b = {7};
  EXPECT_EQ(table->Union(std::vector<const std::vector<int64_t>*>{&a, &b}), ids);
}

TEST(ShortlistTest, UnionsAreRoundedUpWithFrequentIdsAndNeverExceedTheVocabulary) {
  const auto corpus = Synthetic(300);
  ShortlistOptions options;
  options.per_source = 2;
  options.frequent = 0;
  options.align = 8;
  auto table = LearnFrom(corpus, Vocabulary::kNumSpecial + kWords, Vocabulary::kNumSpecial + kWords, options);
  table->ResetStats();
  auto ids = table->Union(torch::tensor({{5}}, torch::kInt64));  // 4 specials + 2 candidates -> 8
  EXPECT_EQ(ids.size(), 8u);
  options.align = 64;  // more than the vocabulary: the whole vocabulary
  auto wide = LearnFrom(corpus, Vocabulary::kNumSpecial + kWords, Vocabulary::kNumSpecial + kWords, options);
  EXPECT_EQ(static_cast<int64_t>(wide->Union(torch::tensor({{5}}, torch::kInt64)).size()), wide->target_vocab_size());
  EXPECT_EQ(table->stats().unions, 1);
  EXPECT_EQ(table->stats().ids, 8);
}

TEST(ShortlistTest, SerializeParseRoundTripAndDamageIsRefused) {
  const auto corpus = Synthetic(200);
  ShortlistOptions options;
  options.per_source = 4;
  options.frequent = 3;
  options.align = 16;
  auto table = LearnFrom(corpus, Vocabulary::kNumSpecial + kWords, Vocabulary::kNumSpecial + kWords, options);
  const std::string bytes = table->Serialize();
  auto parsed = LexicalShortlist::Parse(bytes);
  EXPECT_EQ(parsed->source_vocab_size(), table->source_vocab_size());
  EXPECT_EQ(parsed->target_vocab_size(), table->target_vocab_size());
  EXPECT_EQ(parsed->options().per_source, 4);
  EXPECT_EQ(parsed->options().frequent, 3);
  EXPECT_EQ(parsed->options().align, 16);
  EXPECT_EQ(parsed->AlwaysIn(), table->AlwaysIn());
  for (int64_t s = 0; s < table->source_vocab_size(); ++s) EXPECT_EQ(parsed->CandidatesOf(s), table->CandidatesOf(s));
  EXPECT_EQ(parsed->Serialize(), bytes);

  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x10;
  EXPECT_THROW(LexicalShortlist::Parse(flipped), FailedPreconditionError);
  EXPECT_THROW(LexicalShortlist::Parse(bytes.substr(0, bytes.size() - 9)), FailedPreconditionError);
  EXPECT_THROW(LexicalShortlist::Parse(""), FailedPreconditionError);
}

TEST(ShortlistTest, LearningThirtyThousandPairsTakesAboutASecond) {
  // 30k pairs of 25 tokens over 8k-id vocabularies, Zipf-like ids (the Bible benchmark's shape).
  std::mt19937 random(3);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto draw = [&] { return Vocabulary::kNumSpecial + static_cast<int64_t>(std::pow(8000.0, uniform(random))) - 1; };
  Corpus corpus;
  for (int i = 0; i < 30000; ++i) {
    std::vector<int64_t> s, t;
    for (int k = 0; k < 25; ++k) {
      s.push_back(draw());
      t.push_back(draw());
    }
    corpus.sources.push_back(std::move(s));
    corpus.targets.push_back(std::move(t));
  }
  const auto start = std::chrono::steady_clock::now();
  auto table = LearnFrom(corpus, 8004, 8004, ShortlistOptions{});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 10.0) << "loose bound for slow machines; about 0.2 s on the benchmark machine";
  EXPECT_EQ(table->CandidatesOf(4).size(), 50u);
  EXPECT_EQ(table->AlwaysIn().size(), 204u);
}

TEST(ShortlistTest, PaddedRowsGiveTheSameProducts) {
  // A batch's shortlist copy pads its inputs to a multiple of rows; the padding never shows.
  torch::manual_seed(5);
  auto weight = torch::randn({70, 24});
  auto bias = torch::randn({70});
  for (ComputeType type : {ComputeType::kFloat32, ComputeType::kBFloat16, ComputeType::kInt8}) {
    PackedLinear plain(weight, bias, type);
    PackedLinear padded(weight, bias, type, kShortLivedRowMultiple);
    for (int64_t rows : {0, 1, 5, 16, 17, 40}) {
      auto x = torch::randn({rows, 24});
      auto got = padded.Forward(x);
      ASSERT_EQ(got.sizes().vec(), (std::vector<int64_t>{rows, 70}));
      EXPECT_TRUE(torch::allclose(got, plain.Forward(x), 1e-4, 1e-4)) << ComputeTypeName(type) << ", " << rows;
    }
  }
}

// The toy model `base` with `table` as its shortlist.
std::shared_ptr<const ModelBundle> WithShortlist(const ModelBundle& base, std::shared_ptr<const LexicalShortlist> table) {
  ModelParts parts = PartsOf(base);
  parts.shortlist = std::move(table);
  return std::make_shared<const ModelBundle>("toy", "1", std::move(parts));
}

// A strict shortlist learned from the toy pairs with the model's own tokenizers and vocabularies, and
// from the model's own float32 full-vocabulary greedy outputs of their sources, so the fixture's
// premise holds for any toy model: every token of the reference output is in its sentence's union.
std::shared_ptr<const LexicalShortlist> ToyTable(const ModelBundle& bundle) {
  std::vector<SentencePair> pairs = SeedToyPairs();
  std::vector<std::string> sources;
  for (const auto& pair : SeedToyPairs()) sources.push_back(pair.source);
  TranslationOptions float32;
  float32.compute_type = ComputeType::kFloat32;
  const auto outputs = bundle.Translate(sources, float32, nullptr);
  for (size_t i = 0; i < sources.size(); ++i) pairs.push_back({sources[i], outputs[i].hypotheses[0].text});
  Corpus corpus;
  for (const auto& pair : pairs) {
    corpus.sources.push_back(bundle.vocabulary(Side::kSource).Encode(bundle.tokenizer(Side::kSource).Tokenize(pair.source)));
    corpus.targets.push_back(bundle.vocabulary(Side::kTarget).Encode(bundle.tokenizer(Side::kTarget).Tokenize(pair.target)));
  }
  ShortlistOptions options;
  options.per_source = 8;
  options.frequent = 0;
  options.align = 1;
  return LearnFrom(corpus, bundle.vocabulary(Side::kSource).size(), bundle.vocabulary(Side::kTarget).size(), options);
}

class ShortlistDecodeTest : public ::testing::TestWithParam<const char*> {
 protected:
  std::shared_ptr<const ModelBundle> Model() const {
    return std::string(GetParam()) == "seed" ? SeedToy() : AttentionToy();
  }
};

TEST_P(ShortlistDecodeTest, TrainingLearnsATableAndVersionsKeepIt) {
  auto model = Model();
  ASSERT_NE(model->shortlist(), nullptr) << "TrainModel learns a shortlist";
  EXPECT_EQ(model->shortlist()->target_vocab_size(), model->vocabulary(Side::kTarget).size());
  EXPECT_GE(model->metrics().at("shortlist_seconds"), 0.0);

  const fs::path dir = fs::temp_directory_path() / ("wb_shortlist_" + std::to_string(::getpid()) + GetParam());
  fs::remove_all(dir);
  fs::create_directories(dir);
  model->Save(dir.string());
  ASSERT_TRUE(fs::exists(dir / LexicalShortlist::kFileName));
  auto loaded = ModelBundle::Load("toy", "1", dir.string());
  ASSERT_NE(loaded->shortlist(), nullptr);
  EXPECT_EQ(loaded->shortlist()->Serialize(), model->shortlist()->Serialize());
  TranslationOptions options;
  options.use_shortlist = true;
  const std::vector<std::string> sentences = {"我 爱 自然 语言 处理", "今天 天气 很 好"};
  auto a = model->Translate(sentences, options, nullptr);
  auto b = loaded->Translate(sentences, options, nullptr);
  for (size_t i = 0; i < sentences.size(); ++i) EXPECT_EQ(a[i].hypotheses[0].text, b[i].hypotheses[0].text);

  // A version without the file has no shortlist and refuses to decode with one.
  fs::remove(dir / LexicalShortlist::kFileName);
  auto without = ModelBundle::Load("toy", "1", dir.string());
  EXPECT_EQ(without->shortlist(), nullptr);
  EXPECT_NO_THROW(without->Translate(sentences, {}, nullptr));
  try {
    without->Translate(sentences, options, nullptr);
    FAIL() << "use_shortlist was accepted without a shortlist";
  } catch (const FailedPreconditionError& e) {
    EXPECT_NE(std::string(e.what()).find("shortlist"), std::string::npos) << e.what();
  }
  // A damaged file fails the version like any other damaged file.
  WriteFileAtomically((dir / LexicalShortlist::kFileName).string(), "not a table");
  EXPECT_THROW(ModelBundle::Load("toy", "1", dir.string()), FailedPreconditionError);
  fs::remove_all(dir);
}

TEST_P(ShortlistDecodeTest, GreedyOutputWithTheShortlistEqualsWithout) {
  auto model = Model();
  auto shortlisted = WithShortlist(*model, ToyTable(*model));
  const auto& vocab = shortlisted->vocabulary(Side::kTarget);
  std::vector<std::string> sentences;
  for (const auto& pair : SeedToyPairs()) sentences.push_back(pair.source);
  // Each sentence's own union: a strict subset of the vocabulary.
  std::vector<std::vector<int64_t>> unions;
  for (size_t i = 0; i < sentences.size(); ++i) {
    auto source = shortlisted->PrepareSource(sentences[i], i, {});
    unions.push_back(shortlisted->shortlist()->Union(std::vector<const std::vector<int64_t>*>{&source.ids}));
    EXPECT_LT(static_cast<int64_t>(unions.back().size()), vocab.size()) << "sentence " << i;
  }
  const auto in_union = [&](size_t i, const TranslatedHypothesis& hyp) {
    return std::all_of(hyp.tokens.begin(), hyp.tokens.end(), [&](const std::string& token) {
      return std::binary_search(unions[i].begin(), unions[i].end(), vocab.Id(token));
    });
  };
  for (ComputeType type : {ComputeType::kFloat32, kDefaultComputeType}) {
    TranslationOptions full;
    full.compute_type = type;
    TranslationOptions with = full;
    with.use_shortlist = true;
    // One sentence at a time (its own union) and all together (one union).
    for (int batch : {1, 64}) {
      full.max_batch_size = with.max_batch_size = batch;
      auto reference = shortlisted->Translate(sentences, full, nullptr);
      auto got = shortlisted->Translate(sentences, with, nullptr);
      int compared = 0;
      for (size_t i = 0; i < sentences.size(); ++i) {
        // The premise (the table holds every token of the full-vocabulary output) holds by
        // construction for float32; another compute type's output is compared where it holds.
        if (type == ComputeType::kFloat32) {
          ASSERT_TRUE(in_union(i, reference[i].hypotheses[0])) << reference[i].hypotheses[0].text;
        } else if (!in_union(i, reference[i].hypotheses[0])) {
          continue;
        }
        ++compared;
        EXPECT_EQ(got[i].hypotheses[0].text, reference[i].hypotheses[0].text)
            << ComputeTypeName(type) << ", batch " << batch << ", sentence " << i;
        // Normalised over fewer tokens, a shortlisted score is never lower.
        EXPECT_GE(got[i].hypotheses[0].score, reference[i].hypotheses[0].score - 1e-4);
      }
      EXPECT_GT(compared, 0);
    }
  }
}

TEST_P(ShortlistDecodeTest, BeamSearchDecodesWithinTheShortlist) {
  auto model = Model();
  auto shortlisted = WithShortlist(*model, ToyTable(*model));
  std::vector<std::string> sentences;
  for (const auto& pair : SeedToyPairs()) sentences.push_back(pair.source);
  TranslationOptions options;
  options.beam_size = 3;
  options.n_best = 3;
  options.use_shortlist = true;
  auto got = shortlisted->Translate(sentences, options, nullptr);
  TranslationOptions full = options;
  full.use_shortlist = false;
  auto reference = shortlisted->Translate(sentences, full, nullptr);
  std::vector<const std::vector<int64_t>*> all;
  std::vector<SourceSentence> sources;
  for (size_t i = 0; i < sentences.size(); ++i) sources.push_back(shortlisted->PrepareSource(sentences[i], i, options));
  for (const auto& s : sources) all.push_back(&s.ids);
  auto ids = shortlisted->shortlist()->Union(all);
  const auto& vocab = shortlisted->vocabulary(Side::kTarget);
  for (size_t i = 0; i < sentences.size(); ++i) {
    ASSERT_FALSE(got[i].hypotheses.empty());
    for (const auto& hyp : got[i].hypotheses) {
      for (const auto& token : hyp.tokens) EXPECT_TRUE(std::binary_search(ids.begin(), ids.end(), vocab.Id(token))) << token;
    }
    // Where the table holds the full-vocabulary best hypothesis, the shortlist finds it too.
    const auto& best = reference[i].hypotheses[0].tokens;
    if (std::all_of(best.begin(), best.end(), [&](const std::string& token) {
          return std::binary_search(ids.begin(), ids.end(), vocab.Id(token));
        })) {
      EXPECT_EQ(got[i].hypotheses[0].text, reference[i].hypotheses[0].text) << "sentence " << i;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, ShortlistDecodeTest, ::testing::Values("seed", "attention"));

}  // namespace
}  // namespace wordbridge
