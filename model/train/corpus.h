// Parallel corpora: reading TSV and Moses-style files, counting the lines that cannot be trusted,
// and a deterministic train/dev/test split.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wordbridge {

struct SentencePair {
  std::string source;
  std::string target;
};

// What reading (and later tokenizing) a corpus kept and dropped.
struct CorpusReport {
  int64_t lines = 0;       // pairs seen
  int64_t kept = 0;        // pairs used
  int64_t empty = 0;       // a side is empty or blank
  int64_t misaligned = 0;  // TSV line without exactly one tab; extra lines in one Moses file
  int64_t too_long = 0;    // a side longer than the byte or token limit
  int64_t bad_encoding = 0;  // a side that is not valid UTF-8

  int64_t skipped() const { return empty + misaligned + too_long + bad_encoding; }
  std::string Summary() const;
};

struct CorpusLimits {
  // Lines longer than this many bytes are dropped before tokenization.
  int64_t max_line_bytes = 8192;
  // A corpus with more pairs than this is refused.
  int64_t max_pairs = 5000000;
};

// Drops empty and over-long pairs from `pairs` (counted in `report`); trims surrounding whitespace.
std::vector<SentencePair> CleanPairs(std::vector<SentencePair> pairs, const CorpusLimits& limits,
                                     CorpusReport* report);
// Reads `source<TAB>target` lines. Throws NotFoundError if the file cannot be opened.
std::vector<SentencePair> ReadTsv(const std::string& path, const CorpusLimits& limits,
                                  CorpusReport* report);
// Reads two line-aligned files (Moses style).
std::vector<SentencePair> ReadParallelFiles(const std::string& source_path, const std::string& target_path,
                                            const CorpusLimits& limits, CorpusReport* report);

struct CorpusSplit {
  std::vector<SentencePair> train, dev, test;
};
// Splits deterministically: a pair's part depends only on its text and `seed`, so re-running (or
// appending lines) never moves a pair between parts. Fractions are of the whole.
CorpusSplit SplitCorpus(const std::vector<SentencePair>& pairs, double dev_fraction,
                        double test_fraction, uint64_t seed);

}  // namespace wordbridge
