#include "model/text/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "model/common/errors.h"

namespace wordbridge {
namespace {

using Tokens = std::vector<std::string>;

TEST(TokenizerTest, WhitespaceSplitsLikePythonSplit) {
  auto t = CreateTokenizer("whitespace", {}, {});
  EXPECT_EQ(t->Tokenize("  我 爱\t自然 \n"), (Tokens{"我", "爱", "自然"}));
  EXPECT_EQ(t->Detokenize({"I", "love", "NLP"}), "I love NLP");
}

TEST(TokenizerTest, WordSegmentsUnspacedChinese) {
  auto t = CreateTokenizer("word", {}, {});
  EXPECT_EQ(t->Tokenize("我爱自然语言处理"), (Tokens{"我", "爱", "自然", "语言", "处理"}));
  EXPECT_EQ(t->Detokenize({"我", "爱", "自然", "语言", "处理", "。"}), "我爱自然语言处理。");
}

TEST(TokenizerTest, WordSplitsSpanishPunctuationAndKeepsAccents) {
  auto t = CreateTokenizer("word", {}, {});
  auto tokens = t->Tokenize("¿Dónde está el niño?");
  EXPECT_EQ(tokens, (Tokens{"¿", "Dónde", "está", "el", "niño", "?"}));
  EXPECT_EQ(t->Detokenize(tokens), "¿Dónde está el niño?");
}

TEST(TokenizerTest, WordDetokenizesEnglishPunctuation) {
  auto t = CreateTokenizer("word", {}, {});
  auto tokens = t->Tokenize("In the beginning, God created (all) things.");
  EXPECT_EQ(tokens.back(), ".");
  EXPECT_EQ(t->Detokenize(tokens), "In the beginning, God created (all) things.");
}

TEST(TokenizerTest, SentencePieceTrainsSavesAndLoads) {
  std::vector<std::string> text;
  for (int i = 0; i < 50; ++i) {
    text.push_back("el niño está en la casa número " + std::to_string(i));
    text.push_back("la niña canta en el jardín");
  }
  TokenizerOptions options;
  options.vocab_size = 40;
  auto t = CreateTokenizer("sentencepiece", text, options);
  auto pieces = t->Tokenize("el niño canta");
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(t->Detokenize(pieces), "el niño canta");
  auto prefix = (std::filesystem::temp_directory_path() / "wb_sp_test").string();
  t->Save(prefix);
  auto loaded = LoadTokenizer("sentencepiece", prefix);
  EXPECT_EQ(loaded->Tokenize("el niño canta"), pieces);
  std::filesystem::remove(prefix + ".spm");
}

TEST(TokenizerTest, UnknownNameIsInvalidArgument) {
  EXPECT_THROW(CreateTokenizer("bpe-magic", {}, {}), InvalidArgumentError);
}

}  // namespace
}  // namespace wordbridge
