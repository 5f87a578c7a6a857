#include "model/text/vocabulary.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/common/errors.h"
#include "model/text/tokenizer.h"

namespace wordbridge {
namespace {

TEST(VocabularyTest, SpecialTokensComeFirst) {
  Vocabulary vocab;
  ASSERT_EQ(vocab.size(), 4);
  EXPECT_EQ(vocab.Token(0), "<PAD>");
  EXPECT_EQ(vocab.Token(1), "<SOS>");
  EXPECT_EQ(vocab.Token(2), "<EOS>");
  EXPECT_EQ(vocab.Token(3), "<UNK>");
}

TEST(VocabularyTest, IdsFollowFirstAppearance) {
  auto vocab = Vocabulary::Build({SplitWhitespace("b a b"), SplitWhitespace("c a")}, {});
  EXPECT_EQ(vocab.Id("b"), 4);
  EXPECT_EQ(vocab.Id("a"), 5);
  EXPECT_EQ(vocab.Id("c"), 6);
  EXPECT_EQ(vocab.Id("missing"), Vocabulary::kUnk);
}

TEST(VocabularyTest, EncodeDecodeRoundTripDropsPadSosEos) {
  auto vocab = Vocabulary::Build({SplitWhitespace("I love natural language processing")}, {});
  auto ids = vocab.Encode(SplitWhitespace("I love language"));
  EXPECT_EQ(ids, (std::vector<int64_t>{4, 5, 7}));
  std::vector<int64_t> framed = {Vocabulary::kSos, 4, 5, 7, Vocabulary::kEos, Vocabulary::kPad};
  EXPECT_EQ(vocab.Decode(framed), SplitWhitespace("I love language"));
  EXPECT_EQ(vocab.Decode({4, Vocabulary::kUnk}), (std::vector<std::string>{"I", "<UNK>"}));
}

TEST(VocabularyTest, CapKeepsMostFrequentInFirstAppearanceOrder) {
  Vocabulary::BuildOptions options;
  options.max_size = 2;
  auto vocab = Vocabulary::Build({SplitWhitespace("x y z z y y")}, options);
  ASSERT_EQ(vocab.size(), 6);
  EXPECT_EQ(vocab.Token(4), "y");
  EXPECT_EQ(vocab.Token(5), "z");
  EXPECT_FALSE(vocab.Contains("x"));
}

TEST(VocabularyTest, MinimumFrequencyDropsRareTokens) {
  Vocabulary::BuildOptions options;
  options.min_frequency = 2;
  auto vocab = Vocabulary::Build({SplitWhitespace("a b a c")}, options);
  EXPECT_TRUE(vocab.Contains("a"));
  EXPECT_FALSE(vocab.Contains("b"));
  EXPECT_EQ(vocab.size(), 5);
}

TEST(VocabularyTest, SaveLoadRoundTrip) {
  auto path = (std::filesystem::temp_directory_path() / "wb_vocab_test.vocab").string();
  auto vocab = Vocabulary::Build({SplitWhitespace("我 爱 自然 语言 处理")}, {});
  vocab.Save(path);
  auto loaded = Vocabulary::Load(path);
  EXPECT_EQ(loaded.tokens(), vocab.tokens());
  std::filesystem::remove(path);
}

TEST(VocabularyTest, LoadRejectsFileWithoutSpecials) {
  auto path = (std::filesystem::temp_directory_path() / "wb_vocab_bad.vocab").string();
  { std::ofstream(path) << "hello\nworld\n"; }
  EXPECT_THROW(Vocabulary::Load(path), FailedPreconditionError);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace wordbridge
