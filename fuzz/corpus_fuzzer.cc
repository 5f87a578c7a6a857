// The corpus readers (model/train/corpus.h) on arbitrary files: ReadTsv on the whole input, and
// ReadParallelFiles on the input cut in two at its first NUL byte (source file, target file), then
// SplitCorpus on what was kept. Checks what the trainer relies on: every kept pair is trimmed,
// non-empty, within the byte limit and valid UTF-8, the report's counts add up, and a split is a
// partition that does not depend on the order of the pairs.
#include <algorithm>

#include "fuzz/fuzz_util.h"
#include "model/common/errors.h"
#include "model/text/split.h"
#include "model/train/corpus.h"

namespace {

using namespace wordbridge;

bool IsTrimmed(const std::string& s) {
  const std::string blank = " \t\r\n\v\f";
  return !s.empty() && blank.find(s.front()) == std::string::npos && blank.find(s.back()) == std::string::npos;
}

void CheckKept(const std::vector<SentencePair>& pairs, const CorpusLimits& limits, const CorpusReport& report) {
  FUZZ_CHECK(static_cast<int64_t>(pairs.size()) == report.kept);
  FUZZ_CHECK(report.kept + report.skipped() == report.lines);
  for (const auto& pair : pairs) {
    FUZZ_CHECK(IsTrimmed(pair.source) && IsTrimmed(pair.target));
    FUZZ_CHECK(static_cast<int64_t>(pair.source.size()) <= limits.max_line_bytes);
    FUZZ_CHECK(static_cast<int64_t>(pair.target.size()) <= limits.max_line_bytes);
    FUZZ_CHECK(IsValidUtf8(pair.source) && IsValidUtf8(pair.target));
  }
}

void CheckSplit(const std::vector<SentencePair>& pairs) {
  const auto split = SplitCorpus(pairs, 0.2, 0.2, 7);
  FUZZ_CHECK(split.train.size() + split.dev.size() + split.test.size() == pairs.size());
  // A pair's part depends on its text only: the reversed corpus splits into the same parts.
  std::vector<SentencePair> reversed(pairs.rbegin(), pairs.rend());
  const auto again = SplitCorpus(reversed, 0.2, 0.2, 7);
  FUZZ_CHECK(again.train.size() == split.train.size() && again.dev.size() == split.dev.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  CorpusLimits limits;
  limits.max_line_bytes = 64;  // small, so fuzzed lines cross it
  limits.max_pairs = 100;
  try {
    CorpusReport report;
    auto pairs = ReadTsv(fuzz::WriteScratch("corpus.tsv", bytes), limits, &report);
    CheckKept(pairs, limits, report);
    CheckSplit(pairs);
  } catch (const ResourceExhaustedError&) {
    // more than max_pairs: refused, as documented
  }
  const size_t cut = std::min(bytes.find('\0'), bytes.size());
  const std::string source = bytes.substr(0, cut), target = cut < bytes.size() ? bytes.substr(cut + 1) : "";
  try {
    CorpusReport report;
    auto pairs = ReadParallelFiles(fuzz::WriteScratch("corpus.src", source), fuzz::WriteScratch("corpus.tgt", target),
                                   limits, &report);
    CheckKept(pairs, limits, report);
  } catch (const ResourceExhaustedError&) {
  }
  return 0;
}
