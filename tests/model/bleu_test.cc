#include "model/eval/bleu.h"

#include <gtest/gtest.h>

#include <cmath>

#include "model/common/errors.h"

namespace wordbridge {
namespace {

TEST(BleuTest, Tokenize13aSplitsPunctuationButNotNumbers) {
  EXPECT_EQ(Tokenize13a("Hello, world! It costs 3.50 dollars."),
            (std::vector<std::string>{"Hello", ",", "world", "!", "It", "costs", "3.50", "dollars", "."}));
  EXPECT_EQ(Tokenize13a("a &amp; b"), (std::vector<std::string>{"a", "&", "b"}));
}

TEST(BleuTest, IdenticalCorpusScoresHundred) {
  auto bleu = CorpusBleu({"the cat sat on the mat"}, {"the cat sat on the mat"});
  EXPECT_NEAR(bleu.score, 100.0, 1e-9);
  EXPECT_NEAR(bleu.brevity_penalty, 1.0, 1e-12);
}

// Hand-computed: hypothesis "the cat sat on mat" (5 tokens) vs reference "the cat sat on the mat" (6).
// Matches: 1-grams 5/5, 2-grams 3/4 (the cat, cat sat, sat on), 3-grams 2/3, 4-grams 1/2.
// BP = exp(1 - 6/5). BLEU = BP * (1 * 3/4 * 2/3 * 1/2)^(1/4) * 100.
TEST(BleuTest, HandComputedShortHypothesis) {
  auto bleu = CorpusBleu({"the cat sat on mat"}, {"the cat sat on the mat"});
  const double expected = std::exp(1.0 - 6.0 / 5.0) * std::pow(1.0 * 0.75 * (2.0 / 3.0) * 0.5, 0.25) * 100.0;
  EXPECT_NEAR(bleu.score, expected, 1e-9);
  EXPECT_NEAR(bleu.precisions[1], 75.0, 1e-9);
  EXPECT_EQ(bleu.hypothesis_length, 5);
  EXPECT_EQ(bleu.reference_length, 6);
}

// Zero 4-gram matches use sacreBLEU's "exp" smoothing: precision 100 / (2 * total).
// Hyp "a b c x" vs ref "a b c d": 1-grams 3/4, 2-grams 2/3, 3-grams 1/2, 4-grams 0/1 -> 100/(2*1) = 50.
TEST(BleuTest, ExpSmoothingOfZeroMatches) {
  auto bleu = CorpusBleu({"a b c x"}, {"a b c d"});
  EXPECT_NEAR(bleu.precisions[3], 50.0, 1e-9);
  const double expected = std::pow(0.75 * (2.0 / 3.0) * 0.5 * 0.5, 0.25) * 100.0;
  EXPECT_NEAR(bleu.score, expected, 1e-9);
}

// Counts add up over the corpus before the precisions are taken (not an average of sentence BLEUs).
TEST(BleuTest, CorpusLevelAggregation) {
  auto bleu = CorpusBleu({"a b c d", "x y"}, {"a b c d", "x z"});
  // 1-grams 5/6, 2-grams 3/4, 3-grams 2/2, 4-grams 1/1; lengths 6 vs 6.
  const double expected = std::pow((5.0 / 6.0) * 0.75 * 1.0 * 1.0, 0.25) * 100.0;
  EXPECT_NEAR(bleu.score, expected, 1e-9);
}

TEST(BleuTest, ClipsRepeatedWords) {
  auto bleu = CorpusBleu({"the the the the"}, {"the cat"});
  EXPECT_NEAR(bleu.precisions[0], 25.0, 1e-9);
}

TEST(BleuTest, EmptyHypothesisScoresZeroAndMismatchThrows) {
  EXPECT_EQ(CorpusBleu({""}, {"a b"}).score, 0.0);
  EXPECT_THROW(CorpusBleu({"a"}, {}), InvalidArgumentError);
}

}  // namespace
}  // namespace wordbridge
