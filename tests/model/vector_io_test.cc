// Word-vector text files: the word2vec/GloVe reader against the writers, and every malformed file
// refused with its line number.
#include "model/embed/vector_io.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "model/common/errors.h"

namespace wordbridge {
namespace {

WordVectors Parse(const std::string& text, const VectorFileLimits& limits = {}) {
  std::istringstream in(text);
  return ReadWordVectors(in, "vecs.txt", limits);
}

// The message of the InvalidArgumentError that `text` gets (empty when it parses).
std::string Refusal(const std::string& text, const VectorFileLimits& limits = {}) {
  try {
    Parse(text, limits);
  } catch (const InvalidArgumentError& e) {
    return e.what();
  }
  return "";
}

TEST(VectorIoTest, ReadsWord2VecTextAndGloveAlike) {
  auto w2v = Parse("2 3\nthe 0.1 -0.2 3e-1\nniño 1 2 +3 \r\n");
  EXPECT_TRUE(w2v.had_header);
  EXPECT_EQ(w2v.dimension, 3);
  ASSERT_EQ(w2v.size(), 2);
  EXPECT_EQ(w2v.words[1], "niño");
  EXPECT_FLOAT_EQ(w2v.row(0)[2], 0.3f);
  EXPECT_FLOAT_EQ(w2v.row(1)[2], 3.0f);
  EXPECT_EQ(w2v.Find("niño"), 1);
  EXPECT_EQ(w2v.Find("absent"), -1);

  auto glove = Parse("the 0.1 -0.2 3e-1\nniño\t1 2 3\n\n");  // tabs and a trailing blank line are fine
  EXPECT_FALSE(glove.had_header);
  EXPECT_EQ(glove.dimension, 3);
  EXPECT_EQ(glove.words, w2v.words);
  EXPECT_EQ(glove.values, w2v.values);
}

TEST(VectorIoTest, WriterOutputReadsBackWithinTheFormatsPrecision) {
  const std::vector<std::string> words = {"king", "queen", "ñandú", "3"};
  const int64_t dim = 5;
  std::vector<float> values;
  for (int64_t i = 0; i < static_cast<int64_t>(words.size()) * dim; ++i) {
    values.push_back(std::sin(0.7f * static_cast<float>(i)) * std::pow(10.0f, static_cast<float>(i % 7 - 3)));
  }
  std::ostringstream text, vectors_tsv, metadata_tsv;
  Word2VecTextWriter writer(text, static_cast<int64_t>(words.size()), dim);
  ProjectorTsvWriter projector(vectors_tsv, metadata_tsv, dim);
  for (size_t w = 0; w < words.size(); ++w) {
    writer.Add(words[w], values.data() + w * dim, dim);
    projector.Add(words[w], static_cast<int64_t>(10 - w), values.data() + w * dim, dim);
  }
  auto back = Parse(text.str());
  ASSERT_EQ(back.words, words);
  for (size_t i = 0; i < values.size(); ++i) EXPECT_NEAR(back.values[i], values[i], 5e-6 * std::abs(values[i])) << i;
  // The projector's pair: numbers only, and a metadata file with a header row.
  EXPECT_EQ(metadata_tsv.str(), "word\tcount\nking\t10\nqueen\t9\nñandú\t8\n3\t7\n");
  std::istringstream rows(vectors_tsv.str());
  std::string line;
  int lines = 0;
  while (std::getline(rows, line)) {
    ++lines;
    EXPECT_EQ(std::count(line.begin(), line.end(), '\t'), dim - 1) << line;
  }
  EXPECT_EQ(lines, 4);

  EXPECT_THROW(writer.Add("one-too-many", values.data(), dim), InvalidArgumentError);
  Word2VecTextWriter other(text, 3, dim);
  EXPECT_THROW(other.Add("two words", values.data(), dim), InvalidArgumentError);
  EXPECT_THROW(other.Add("", values.data(), dim), InvalidArgumentError);
  EXPECT_THROW(other.Add("short", values.data(), dim - 1), InvalidArgumentError);
}

TEST(VectorIoTest, MalformedFilesAreRefusedWithTheirLineNumber) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "line 1: the file is empty"},
      {"\n\n", "line 1: the file is empty"},
      {"a 1 2\nb 1\n", "line 2: 'b' has 1 values, expected 2 (as the first row)"},
      {"2 2\na 1 2\nb 1 2 3\n", "line 3: 'b' has 3 values, expected 2 (the header's dimension)"},
      {"a 1 2\nb 1 x\n", "line 2: value 2 of 'b' (x) is not a number"},
      {"a 1 2\nb 1 2.5.1\n", "line 2: value 2 of 'b' (2.5.1) is not a number"},
      {"a 1 2\nb nan 2\n", "line 2: value 1 of 'b' is nan (NaN and infinities are refused)"},
      {"a 1 2\nb 1 -inf\n", "line 2: value 2 of 'b' is -inf"},
      {"a 1 2\nb 1 1e999\n", "line 2: value 2 of 'b' (1e999) is out of float range"},
      {"3 2\na 1 2\nb 1 2\n", "line 1: the header announces 3 words, but the file has 2"},
      {"1 2\na 1 2\nb 1 2\n", "line 3: more rows than the 1 words the header (line 1) announces"},
      {"a 1 2\nb 3 4\na 5 6\n", "line 3: the word 'a' appears twice (first on line 1)"},
      {"2 2\na 1 2\na 5 6\n", "line 3: the word 'a' appears twice (first on line 2)"},
      {"a 1 2\n\xff\xfe 1 2\n", "line 2: the word is not valid UTF-8"},
      {"a 1 2\n\nb 1 2\n", "line 2: a blank line"},
      {"a 1 2\nlonely\n", "line 2: the word 'lonely' has no values"},
      {"2 0\n", "line 1: the header's dimension is 0"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string message = Refusal(text);
    EXPECT_NE(message.find("vecs.txt, " + expected), std::string::npos)
        << "input: " << text << "\nmessage: " << message << "\nexpected: " << expected;
  }
}

TEST(VectorIoTest, SizesAreCapped) {
  VectorFileLimits limits;
  limits.max_dimension = 3;
  EXPECT_NE(Refusal("a 1 2 3 4\n", limits).find("line 1: the first row has 4 values per word; at most 3"),
            std::string::npos);
  EXPECT_NE(Refusal("1 4\na 1 2 3 4\n", limits).find("line 1: the header gives 4 values per word"), std::string::npos);
  limits.max_words = 2;
  EXPECT_THROW(Parse("3 2\na 1 2\nb 1 2\nc 1 2\n", limits), ResourceExhaustedError);
  EXPECT_THROW(Parse("a 1 2\nb 1 2\nc 1 2\n", limits), ResourceExhaustedError);
  // max_rows: the dimension from the first row, without reading (or checking) the rest.
  VectorFileLimits first;
  first.max_rows = 1;
  auto head = Parse("9 2\na 1 2\nb oops\n", first);
  EXPECT_EQ(head.dimension, 2);
  EXPECT_EQ(head.size(), 1);
  EXPECT_THROW(ReadWordVectorsFile("/nonexistent/vectors.txt"), NotFoundError);
}

TEST(VectorIoTest, TokenWordDropsTheWordStartMark) {
  EXPECT_EQ(TokenWord("\xE2\x96\x81the"), "the");
  EXPECT_EQ(TokenWord("ing"), "ing");
  EXPECT_EQ(TokenWord("\xE2\x96\x81"), "");
}

}  // namespace
}  // namespace wordbridge
