#include "model/eval/bleu.h"

#include <cmath>
#include <map>
#include <regex>

#include "model/common/errors.h"
#include "model/text/split.h"

namespace wordbridge {
namespace {

void ReplaceAll(std::string* s, const std::string& from, const std::string& to) {
  for (size_t pos = 0; (pos = s->find(from, pos)) != std::string::npos; pos += to.size()) {
    s->replace(pos, from.size(), to);
  }
}

using NgramCounts = std::map<std::vector<std::string>, int64_t>;

NgramCounts CountNgrams(const std::vector<std::string>& tokens, size_t n) {
  NgramCounts counts;
  for (size_t i = 0; i + n <= tokens.size(); ++i) {
    ++counts[std::vector<std::string>(tokens.begin() + i, tokens.begin() + i + n)];
  }
  return counts;
}

}  // namespace

std::vector<std::string> Tokenize13a(const std::string& text) {
  static const std::regex kPunctuation(R"(([\{-\~\[-\` -\&\(-\+\:-\@\/]))");
  static const std::regex kPeriodCommaAfterNonDigit(R"(([^0-9])([\.,]))");
  static const std::regex kPeriodCommaBeforeNonDigit(R"(([\.,])([^0-9]))");
  static const std::regex kDashAfterDigit(R"(([0-9])(-))");
  std::string line = text;
  ReplaceAll(&line, "<skipped>", "");
  ReplaceAll(&line, "-\n", "");
  ReplaceAll(&line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    ReplaceAll(&line, "&quot;", "\"");
    ReplaceAll(&line, "&amp;", "&");
    ReplaceAll(&line, "&lt;", "<");
    ReplaceAll(&line, "&gt;", ">");
  }
  line = " " + line + " ";
  line = std::regex_replace(line, kPunctuation, " $1 ");
  line = std::regex_replace(line, kPeriodCommaAfterNonDigit, "$1 $2 ");
  line = std::regex_replace(line, kPeriodCommaBeforeNonDigit, " $1 $2");
  line = std::regex_replace(line, kDashAfterDigit, "$1 $2 ");
  return SplitWhitespace(line);
}

BleuScore CorpusBleu(const std::vector<std::string>& hypotheses, const std::vector<std::string>& references) {
  if (hypotheses.size() != references.size()) {
    throw InvalidArgumentError("BLEU needs one reference per hypothesis (" +
                               std::to_string(hypotheses.size()) + " vs " +
                               std::to_string(references.size()) + ")");
  }
  std::array<int64_t, 4> correct{}, total{};
  BleuScore result;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    auto hyp = Tokenize13a(hypotheses[i]);
    auto ref = Tokenize13a(references[i]);
    result.hypothesis_length += hyp.size();
    result.reference_length += ref.size();
    for (size_t n = 1; n <= 4; ++n) {
      auto hyp_counts = CountNgrams(hyp, n);
      auto ref_counts = CountNgrams(ref, n);
      for (const auto& [ngram, count] : hyp_counts) {
        total[n - 1] += count;
        auto it = ref_counts.find(ngram);
        if (it != ref_counts.end()) correct[n - 1] += std::min(count, it->second);
      }
    }
  }
  double smooth = 1.0;
  for (size_t n = 0; n < 4; ++n) {
    if (total[n] == 0) break;
    if (correct[n] == 0) {
      smooth *= 2;
      result.precisions[n] = 100.0 / (smooth * total[n]);
    } else {
      result.precisions[n] = 100.0 * correct[n] / total[n];
    }
  }
  const double c = static_cast<double>(result.hypothesis_length);
  const double r = static_cast<double>(result.reference_length);
  result.brevity_penalty = c >= r ? 1.0 : (c > 0 ? std::exp(1.0 - r / c) : 0.0);
  double log_sum = 0.0;
  for (double p : result.precisions) log_sum += p > 0 ? std::log(p) : -9999999999.0;
  result.score = result.brevity_penalty * std::exp(log_sum / 4.0);
  return result;
}

}  // namespace wordbridge
