// Corpus BLEU compatible with sacreBLEU's defaults: 13a tokenization, n-grams up to 4, clipped counts,
// "exp" smoothing of zero n-gram matches, brevity penalty exp(1 - r/c). One reference per sentence.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace wordbridge {

struct BleuScore {
  double score = 0.0;                   // 0-100
  std::array<double, 4> precisions{};   // 0-100, after smoothing
  double brevity_penalty = 0.0;
  int64_t hypothesis_length = 0;
  int64_t reference_length = 0;
};

// sacreBLEU's "13a" tokenizer (the mteval-v13a rules).
std::vector<std::string> Tokenize13a(const std::string& text);

// Throws InvalidArgumentError when the two lists differ in length.
BleuScore CorpusBleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references);

}  // namespace wordbridge
