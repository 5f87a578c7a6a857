// Word retrieval (model/embed): word lists, composed vectors, analogies, restrict_vocab, similarity,
// doesnt_match, and the word tables a trained version keeps.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <filesystem>
#include <sstream>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/embed/vector_io.h"
#include "model/embed/word_space.h"
#include "model/embed/word_tables.h"
#include "tests/model/test_util.h"

namespace wordbridge {
namespace {

TEST(WordListTest, CountsWordsKeepsFrequentOnesAndSkipsPunctuation) {
  WordListOptions options;
  options.min_count = 2;
  auto list = WordList::Count({"El oro, el oro y la plata.", "La plata; el oro!", "rey"}, options);
  ASSERT_EQ(list.size(), 3);  // oro 3, el 2 (case kept: "El" once), plata 2
  EXPECT_EQ(list.word(0), "oro");
  EXPECT_EQ(list.count(0), 3);
  EXPECT_EQ(list.Find("el"), 1);  // ties in byte order
  EXPECT_EQ(list.Find("plata"), 2);
  EXPECT_EQ(list.Find(","), -1);
  EXPECT_EQ(list.Find("rey"), -1);  // seen once
  EXPECT_EQ(list.Find("El"), -1);
  auto again = WordList::Parse(list.Serialize(), "words");
  EXPECT_EQ(again.words(), list.words());
  EXPECT_EQ(again.count(2), list.count(2));
}

TEST(WordListTest, DamagedFilesNameTheirLine) {
  try {
    WordList::Parse("oro\t3\nplata\tx\n", "source.words.tsv");
    FAIL() << "a bad count was accepted";
  } catch (const FailedPreconditionError& e) {
    EXPECT_NE(std::string(e.what()).find("source.words.tsv line 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(WordList::Parse("oro 3\n", "w"), FailedPreconditionError);
  EXPECT_THROW(WordList::Parse("oro\t0\n", "w"), FailedPreconditionError);
  EXPECT_THROW(WordList::Parse("\xff\t2\n", "w"), FailedPreconditionError);
}

TEST(WordListTest, TokenSpansPlaceSubwordPiecesInTheirText) {
  const std::string text = "el oro, puro";
  auto spans = TokenSpans(text, {"\xE2\x96\x81" "el", "\xE2\x96\x81" "o", "ro", ",", "\xE2\x96\x81" "puro"});
  ASSERT_EQ(spans.size(), 5u);
  EXPECT_EQ(text.substr(spans[1].first, spans[2].second - spans[1].first), "oro");
  EXPECT_EQ(text.substr(spans[4].first, spans[4].second - spans[4].first), "puro");
  EXPECT_TRUE(TokenSpans(text, {"el", "plata"}).empty());  // tokens that do not spell the text
}

// A tiny space over the ICU word tokenizer, which splits hyphenated words: "ab-cd" is three tokens,
// so it stands in for a word of several subword pieces.
struct SyntheticSpace {
  std::unique_ptr<Tokenizer> tokenizer = CreateTokenizer("word", {}, {});
  Vocabulary vocab;
  torch::Tensor table;
  std::unique_ptr<WordSpace> space;

  // Rows of `vectors` belong to `words` (most frequent first), which are also the vocabulary's tokens.
  SyntheticSpace(const std::vector<std::string>& words, const torch::Tensor& vectors) {
    vocab = Vocabulary::FromTokens(words);
    table = torch::zeros({vocab.size(), vectors.size(1)});
    std::vector<std::pair<std::string, int64_t>> counts;
    for (size_t i = 0; i < words.size(); ++i) {
      table[vocab.Id(words[i])] = vectors[i];
      counts.emplace_back(words[i], static_cast<int64_t>(100 - i));
    }
    auto list = std::make_shared<const WordList>(WordList::FromCounts(counts));
    space = std::make_unique<WordSpace>(list, WordSpace::ComposeAll(*list, table, *tokenizer, vocab), table,
                                        tokenizer.get(), &vocab, "test");
  }
};

TEST(WordSpaceTest, AWordOfSeveralPiecesIsTheMeanOfTheirRows) {
  torch::manual_seed(1);
  SyntheticSpace s({"ab", "cd", "-", "ef"}, torch::randn({4, 8}));
  auto resolved = s.space->Resolve("ab-cd");
  EXPECT_EQ(resolved.word, -1);  // not in the list: composed
  auto expected = (s.table[s.vocab.Id("ab")] + s.table[s.vocab.Id("-")] + s.table[s.vocab.Id("cd")]) / 3;
  EXPECT_TRUE(torch::allclose(torch::tensor(resolved.vector), expected));
  // A listed word is its own row; ComposeAll composed it from its single token.
  EXPECT_TRUE(torch::allclose(torch::tensor(s.space->Resolve("ef").vector), s.table[s.vocab.Id("ef")]));
  EXPECT_THROW(s.space->Resolve("zz"), NotFoundError);
  EXPECT_THROW(s.space->Resolve("<PAD>"), InvalidArgumentError);
  EXPECT_THROW(s.space->Resolve(""), InvalidArgumentError);
}

// king - man + woman = queen on orthogonal directions g (male), f (female), r (royal), plus noise words.
SyntheticSpace RoyalSpace() {
  torch::manual_seed(2);
  const int64_t d = 16;
  auto basis = std::get<0>(torch::linalg_qr(torch::randn({d, d})));
  auto g = basis[0], f = basis[1], r = basis[2];
  std::vector<std::string> words = {"man", "woman", "king", "queen", "royal"};
  std::vector<torch::Tensor> rows = {g, f, g + r, f + r, r};
  for (int i = 0; i < 20; ++i) {
    words.push_back("w" + std::to_string(i));
    rows.push_back(basis[3 + i % (d - 3)] + 0.1 * torch::randn({d}));
  }
  return SyntheticSpace(words, torch::stack(rows));
}

TEST(WordSpaceTest, AnalogiesFindTheKnownAnswerAndExcludeTheirWords) {
  auto s = RoyalSpace();
  for (auto scoring : {AnalogyScoring::kCosAdd, AnalogyScoring::kCosMul}) {
    auto hits = s.space->Analogy({"king", "woman"}, {"man"}, scoring, 3, 0);
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(s.space->words().word(hits[0].word), "queen");
    for (const auto& hit : hits) {
      const auto& w = s.space->words().word(hit.word);
      EXPECT_TRUE(w != "king" && w != "woman" && w != "man") << w;
    }
  }
  EXPECT_THROW(s.space->Analogy({}, {"man"}, AnalogyScoring::kCosAdd, 3, 0), InvalidArgumentError);
  EXPECT_THROW(s.space->Analogy({"king"}, {"king"}, AnalogyScoring::kCosAdd, 3, 0), InvalidArgumentError);
}

TEST(WordSpaceTest, NearestEqualsBruteForceCosineAndRestrictKeepsTheMostFrequent) {
  torch::manual_seed(3);
  std::vector<std::string> words;
  for (int i = 0; i < 60; ++i) words.push_back("w" + std::to_string(i));
  auto vectors = torch::randn({60, 12});
  SyntheticSpace s(words, vectors);
  auto query = torch::randn({12});
  auto hits = s.space->Nearest({std::vector<float>(query.data_ptr<float>(), query.data_ptr<float>() + 12)}, 5, {}, 0)[0];
  auto units = vectors / vectors.norm(2, 1, true);
  auto cosines = units.matmul(query / query.norm());
  auto expected = std::get<1>(cosines.topk(5));
  ASSERT_EQ(hits.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    // Rows are in frequency order, which is the order the words were given in.
    EXPECT_EQ(s.space->words().word(hits[i].word), words[expected[i].item<int64_t>()]);
    EXPECT_NEAR(hits[i].score, cosines[expected[i]].item<float>(), 1e-5);
  }
  auto restricted = s.space->Nearest({std::vector<float>(query.data_ptr<float>(), query.data_ptr<float>() + 12)}, 5, {}, 10)[0];
  ASSERT_EQ(restricted.size(), 5u);
  auto expected_restricted = std::get<1>(cosines.slice(0, 0, 10).topk(5));
  for (int i = 0; i < 5; ++i) {
    EXPECT_LT(restricted[i].word, 10);
    EXPECT_EQ(s.space->words().word(restricted[i].word), words[expected_restricted[i].item<int64_t>()]);
  }
}

TEST(WordSpaceTest, SimilarityAndDoesntMatch) {
  auto s = RoyalSpace();
  EXPECT_NEAR(s.space->Similarity("king", "queen"), 0.5, 1e-5);  // (g+r).(f+r) / 2
  EXPECT_NEAR(s.space->Similarity("man", "woman"), 0.0, 1e-5);
  EXPECT_EQ(s.space->DoesntMatch({"king", "queen", "royal", "w0"}).first, "w0");
  EXPECT_THROW(s.space->DoesntMatch({"king"}), InvalidArgumentError);
  EXPECT_THROW(s.space->Similarity("king", "nothing"), NotFoundError);
}

TEST(WordSpaceTest, Word2VecTextHoldsEveryWordAndVector) {
  auto s = RoyalSpace();
  std::ostringstream out;
  WriteWord2VecText(*s.space, out);
  std::istringstream in(out.str());
  int64_t n = 0, d = 0;
  in >> n >> d;
  EXPECT_EQ(n, s.space->size());
  EXPECT_EQ(d, 16);
  std::string word;
  in >> word;
  EXPECT_EQ(word, s.space->words().word(0));
  std::vector<float> first(d);
  for (auto& v : first) in >> v;
  auto row = s.space->Row(0);
  for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(first[i], row[i], 1e-5 * std::max(1.0f, std::abs(row[i])));

  // The reader gives back every word and vector (within %.6g's six digits).
  std::istringstream again(out.str());
  const auto vectors = ReadWordVectors(again, "royal.vec");
  ASSERT_EQ(vectors.size(), s.space->size());
  ASSERT_EQ(vectors.dimension, s.space->dimension());
  for (int64_t w = 0; w < vectors.size(); ++w) {
    EXPECT_EQ(vectors.words[w], s.space->words().word(w));
    const auto expected = s.space->Row(w);
    for (int64_t i = 0; i < d; ++i) EXPECT_NEAR(vectors.row(w)[i], expected[i], 5e-6 * std::abs(expected[i]) + 1e-30);
  }
}

TEST(WordTablesTest, ATrainedVersionKeepsWordListsAndStateAveragesThroughSaveAndLoad) {
  auto bundle = AttentionToy();
  // The toy pairs repeat "很", "学习", "is" and "learning": the words seen twice or more.
  const auto& source = bundle->Words(Side::kSource);
  EXPECT_GE(source.words().Find("学习"), 0);
  EXPECT_EQ(source.words().count(source.words().Find("很")), 3);
  EXPECT_TRUE(bundle->HasCountedWords(Side::kTarget));
  ASSERT_EQ(bundle->VectorKinds(Side::kSource).size(), 2u);  // input, contextual
  ASSERT_EQ(bundle->VectorKinds(Side::kTarget).size(), 3u);  // input, output, contextual
  EXPECT_EQ(bundle->DefaultVectorKind(Side::kSource), VectorKind::kContextual);
  EXPECT_EQ(bundle->DefaultVectorKind(Side::kTarget), VectorKind::kInput);
  EXPECT_THROW(bundle->Words(Side::kSource, VectorKind::kOutput), FailedPreconditionError);
  const auto& contextual = bundle->Words(Side::kTarget, VectorKind::kContextual);
  EXPECT_EQ(contextual.dimension(), bundle->config().hidden_dim);

  const auto dir = std::filesystem::temp_directory_path() / ("wb-words-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  bundle->Save(dir.string());
  auto loaded = ModelBundle::Load("toy", "1", dir.string());
  for (const Side side : {Side::kSource, Side::kTarget}) {
    for (const auto kind : bundle->VectorKinds(side)) {
      const auto& a = bundle->Words(side, kind);
      const auto& b = loaded->Words(side, kind);
      ASSERT_EQ(a.words().words(), b.words().words());
      for (int64_t w = 0; w < a.size(); ++w) EXPECT_EQ(a.Row(w), b.Row(w));
    }
  }
  // A version without the files (trained before word lists) derives its words from its vocabulary.
  std::filesystem::remove(dir / WordList::kSourceFile);
  std::filesystem::remove(dir / WordList::kTargetFile);
  std::filesystem::remove(dir / WordTables::kStatesFile);
  auto older = ModelBundle::Load("toy", "1", dir.string());
  EXPECT_FALSE(older->HasCountedWords(Side::kSource));
  EXPECT_EQ(older->Words(Side::kSource).size(), older->vocabulary(Side::kSource).size() - Vocabulary::kNumSpecial);
  EXPECT_EQ(older->DefaultVectorKind(Side::kSource), VectorKind::kInput);
  // Damaged word files fail the version.
  WriteFileAtomically((dir / WordList::kSourceFile).string(), "oro\tmany\n");
  EXPECT_THROW(ModelBundle::Load("toy", "1", dir.string()), FailedPreconditionError);
  std::filesystem::remove_all(dir);
}

TEST(WordTablesTest, TheSeedEncoderHasNoContextualSourceVectors) {
  auto seed = SeedToy();
  EXPECT_THROW(seed->Words(Side::kSource, VectorKind::kContextual), FailedPreconditionError);
  EXPECT_NO_THROW(seed->Words(Side::kTarget, VectorKind::kContextual));
  EXPECT_THROW(seed->SentenceEmbedding("今天 天气 很 好", ModelBundle::SentencePooling::kMeanStates),
               FailedPreconditionError);
}

}  // namespace
}  // namespace wordbridge
