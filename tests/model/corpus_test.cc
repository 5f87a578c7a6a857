#include "model/train/corpus.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/common/errors.h"
#include "model/text/split.h"

namespace wordbridge {
namespace {

std::string WriteTemp(const std::string& name, const std::string& text) {
  auto path = (std::filesystem::temp_directory_path() / name).string();
  std::ofstream(path) << text;
  return path;
}

TEST(CorpusTest, TsvCountsEmptyMisalignedAndLongLines) {
  std::string long_line(100, 'x');
  auto path = WriteTemp("wb_corpus.tsv", "a b\tA B\n\tonly target\nno tab here\n\n" + long_line +
                                             "\tL\nx\ty\tz\nc\tC\r\n");
  CorpusReport report;
  CorpusLimits limits;
  limits.max_line_bytes = 50;
  auto pairs = ReadTsv(path, limits, &report);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[1].target, "C");
  EXPECT_EQ(report.lines, 7);
  EXPECT_EQ(report.kept, 2);
  EXPECT_EQ(report.empty, 2);
  EXPECT_EQ(report.misaligned, 2);
  EXPECT_EQ(report.too_long, 1);
}

TEST(CorpusTest, ParallelFilesCountExtraLinesAsMisaligned) {
  auto s = WriteTemp("wb_corpus.src", "uno\ndos\ntres\n");
  auto t = WriteTemp("wb_corpus.tgt", "one\ntwo\n");
  CorpusReport report;
  auto pairs = ReadParallelFiles(s, t, {}, &report);
  ASSERT_EQ(pairs.size(), 2u);
  EXPECT_EQ(pairs[1].source, "dos");
  EXPECT_EQ(report.misaligned, 1);
}

TEST(CorpusTest, MissingFileIsNotFound) {
  CorpusReport report;
  EXPECT_THROW(ReadTsv("/nonexistent/corpus.tsv", {}, &report), NotFoundError);
}

TEST(CorpusTest, SplitIsDeterministicAndDisjoint) {
  std::vector<SentencePair> pairs;
  for (int i = 0; i < 2000; ++i) pairs.push_back({"s" + std::to_string(i), "t" + std::to_string(i)});
  auto a = SplitCorpus(pairs, 0.1, 0.1, 7);
  auto b = SplitCorpus(pairs, 0.1, 0.1, 7);
  EXPECT_EQ(a.train.size(), b.train.size());
  EXPECT_EQ(a.dev.size() + a.test.size() + a.train.size(), pairs.size());
  EXPECT_NEAR(static_cast<double>(a.test.size()) / pairs.size(), 0.1, 0.03);
  EXPECT_NEAR(static_cast<double>(a.dev.size()) / pairs.size(), 0.1, 0.03);
  for (size_t i = 0; i < a.test.size(); ++i) EXPECT_EQ(a.test[i].source, b.test[i].source);
  // A pair's part depends only on its text: adding pairs never moves existing ones.
  pairs.push_back({"new", "pair"});
  auto c = SplitCorpus(pairs, 0.1, 0.1, 7);
  for (const auto& p : a.test) {
    EXPECT_TRUE(std::any_of(c.test.begin(), c.test.end(), [&](const SentencePair& q) { return q.source == p.source; }));
  }
  EXPECT_THROW(SplitCorpus(pairs, 0.6, 0.5, 1), InvalidArgumentError);
}

TEST(Utf8Test, AcceptsWellFormedTextOnly) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("plain ascii"));
  EXPECT_TRUE(IsValidUtf8("año, 我爱学习, \xF0\x9F\x98\x80"));  // 2-, 3- and 4-byte sequences
  EXPECT_TRUE(IsValidUtf8("\xF4\x8F\xBF\xBF"));                  // U+10FFFF, the last code point
  EXPECT_FALSE(IsValidUtf8("\xC3"));                              // truncated
  EXPECT_FALSE(IsValidUtf8("\x80" "abc"));                           // continuation byte first
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));                          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xE0\x80\xAF"));                      // overlong, 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));                      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));                  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xFF"));
  EXPECT_FALSE(IsValidUtf8("ok \xE6\x88 then"));                   // truncated in the middle
}

TEST(CorpusTest, LinesThatAreNotUtf8AreCountedAndSkipped) {
  CorpusReport report;
  auto kept = CleanPairs({{"hola", "hello"}, {"\xFF\xFE", "bytes"}, {"bien", "fine \xC3"}, {"sí", "yes"}},
                         CorpusLimits{}, &report);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[1].source, "sí");
  EXPECT_EQ(report.bad_encoding, 2);
  EXPECT_EQ(report.skipped(), 2);
  EXPECT_NE(report.Summary().find("2 not UTF-8"), std::string::npos) << report.Summary();
}

TEST(CorpusTest, AFileOfRandomBytesYieldsNoPairs) {
  const auto path = std::filesystem::temp_directory_path() / "wb_random_bytes.tsv";
  {
    std::ofstream out(path, std::ios::binary);
    uint32_t state = 12345;
    for (int i = 0; i < 20000; ++i) {
      state = state * 1664525u + 1013904223u;
      out.put(static_cast<char>(state >> 24));
    }
  }
  CorpusReport report;
  auto pairs = ReadTsv(path.string(), CorpusLimits{}, &report);
  std::filesystem::remove(path);
  for (const auto& p : pairs) {
    EXPECT_TRUE(IsValidUtf8(p.source) && IsValidUtf8(p.target));
  }
  EXPECT_LE(pairs.size(), 1u);  // random bytes are almost never valid UTF-8 over a whole line
}

}  // namespace
}  // namespace wordbridge
