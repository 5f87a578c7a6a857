#include "model/train/corpus.h"

#include <fstream>

#include "model/common/errors.h"
#include "model/text/split.h"

namespace wordbridge {
namespace {

std::string Trim(const std::string& s) {
  const char* blank = " \t\r\n\v\f";
  auto begin = s.find_first_not_of(blank);
  if (begin == std::string::npos) return "";
  auto end = s.find_last_not_of(blank);
  return s.substr(begin, end - begin + 1);
}

// FNV-1a: stable across platforms and runs, unlike std::hash.
uint64_t StableHash(const std::string& text, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ (seed * 0x9E3779B97F4A7C15ULL);
  for (unsigned char ch : text) {
    h ^= ch;
    h *= 1099511628211ULL;
  }
  return h;
}

void CheckSize(const std::vector<SentencePair>& pairs, const CorpusLimits& limits) {
  if (static_cast<int64_t>(pairs.size()) > limits.max_pairs) {
    throw ResourceExhaustedError("corpus has more than " + std::to_string(limits.max_pairs) + " pairs");
  }
}

}  // namespace

std::string CorpusReport::Summary() const {
  return std::to_string(kept) + " of " + std::to_string(lines) + " pairs kept; skipped " +
         std::to_string(empty) + " empty, " + std::to_string(misaligned) + " misaligned, " +
         std::to_string(too_long) + " over-long, " + std::to_string(bad_encoding) + " not UTF-8";
}

std::vector<SentencePair> CleanPairs(std::vector<SentencePair> pairs, const CorpusLimits& limits,
                                     CorpusReport* report) {
  std::vector<SentencePair> kept;
  kept.reserve(pairs.size());
  for (auto& pair : pairs) {
    ++report->lines;
    pair.source = Trim(pair.source);
    pair.target = Trim(pair.target);
    if (pair.source.empty() || pair.target.empty()) {
      ++report->empty;
    } else if (static_cast<int64_t>(pair.source.size()) > limits.max_line_bytes ||
               static_cast<int64_t>(pair.target.size()) > limits.max_line_bytes) {
      ++report->too_long;
    } else if (!IsValidUtf8(pair.source) || !IsValidUtf8(pair.target)) {
      ++report->bad_encoding;
    } else {
      kept.push_back(std::move(pair));
      ++report->kept;
    }
  }
  CheckSize(kept, limits);
  return kept;
}

std::vector<SentencePair> ReadTsv(const std::string& path, const CorpusLimits& limits,
                                  CorpusReport* report) {
  std::ifstream in(path);
  if (!in) throw NotFoundError("cannot open corpus file " + path);
  std::vector<SentencePair> pairs;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto tab = line.find('\t');
    if (tab == std::string::npos || line.find('\t', tab + 1) != std::string::npos) {
      if (Trim(line).empty()) {
        ++report->lines;
        ++report->empty;
      } else {
        ++report->lines;
        ++report->misaligned;
      }
      continue;
    }
    pairs.push_back({line.substr(0, tab), line.substr(tab + 1)});
    CheckSize(pairs, limits);
  }
  return CleanPairs(std::move(pairs), limits, report);
}

std::vector<SentencePair> ReadParallelFiles(const std::string& source_path, const std::string& target_path,
                                            const CorpusLimits& limits, CorpusReport* report) {
  std::ifstream source(source_path), target(target_path);
  if (!source) throw NotFoundError("cannot open source file " + source_path);
  if (!target) throw NotFoundError("cannot open target file " + target_path);
  std::vector<SentencePair> pairs;
  std::string s, t;
  while (true) {
    bool has_s = static_cast<bool>(std::getline(source, s));
    bool has_t = static_cast<bool>(std::getline(target, t));
    if (!has_s && !has_t) break;
    if (has_s != has_t) {
      ++report->lines;
      ++report->misaligned;
      continue;
    }
    pairs.push_back({s, t});
    CheckSize(pairs, limits);
  }
  return CleanPairs(std::move(pairs), limits, report);
}

CorpusSplit SplitCorpus(const std::vector<SentencePair>& pairs, double dev_fraction,
                        double test_fraction, uint64_t seed) {
  if (dev_fraction < 0 || test_fraction < 0 || dev_fraction + test_fraction >= 1.0) {
    throw InvalidArgumentError("split fractions must be >= 0 and leave some training data");
  }
  CorpusSplit split;
  for (const auto& pair : pairs) {
    double u = (StableHash(pair.source + '\t' + pair.target, seed) >> 11) * (1.0 / 9007199254740992.0);
    if (u < test_fraction) {
      split.test.push_back(pair);
    } else if (u < test_fraction + dev_fraction) {
      split.dev.push_back(pair);
    } else {
      split.train.push_back(pair);
    }
  }
  return split;
}

}  // namespace wordbridge
