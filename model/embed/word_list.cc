#include "model/embed/word_list.h"

#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <sstream>

#include "model/common/errors.h"
#include "model/text/split.h"
#include "model/text/tokenizer.h"

namespace wordbridge {

bool IsWordToken(const std::string& token) {
  const icu::UnicodeString text = icu::UnicodeString::fromUTF8(token);
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    if (u_isalnum(text.char32At(i))) return true;
  }
  return false;
}

WordList WordList::Count(const std::vector<std::string>& sentences, const WordListOptions& options) {
  const auto tokenizer = CreateTokenizer("word", {}, {});
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& sentence : sentences) {
    for (auto& token : tokenizer->Tokenize(sentence)) {
      auto it = counts.find(token);
      if (it != counts.end()) {
        ++it->second;
      } else if (IsWordToken(token)) {
        counts.emplace(std::move(token), 1);
      }
    }
  }
  std::vector<std::pair<std::string, int64_t>> kept;
  for (auto& [word, count] : counts) {
    if (count >= options.min_count) kept.emplace_back(word, count);
  }
  WordList list = FromCounts(std::move(kept));
  if (options.max_words > 0 && list.size() > options.max_words) {
    std::vector<std::pair<std::string, int64_t>> top;
    for (int64_t i = 0; i < options.max_words; ++i) top.emplace_back(list.words_[i], list.counts_[i]);
    list = FromCounts(std::move(top));
  }
  return list;
}

WordList WordList::FromCounts(std::vector<std::pair<std::string, int64_t>> counts) {
  std::sort(counts.begin(), counts.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  WordList list;
  for (auto& [word, count] : counts) {
    if (list.index_.count(word)) continue;
    list.index_.emplace(word, list.size());
    list.words_.push_back(std::move(word));
    list.counts_.push_back(count);
  }
  return list;
}

std::string WordList::Serialize() const {
  std::string text;
  for (int64_t i = 0; i < size(); ++i) text += words_[i] + "\t" + std::to_string(counts_[i]) + "\n";
  return text;
}

WordList WordList::Parse(const std::string& text, const std::string& what) {
  std::vector<std::pair<std::string, int64_t>> counts;
  std::istringstream in(text);
  std::string line;
  for (int64_t number = 1; std::getline(in, line); ++number) {
    const auto tab = line.find('\t');
    auto fail = [&](const std::string& why) {
      return FailedPreconditionError(what + " line " + std::to_string(number) + ": " + why);
    };
    if (tab == std::string::npos || tab == 0) throw fail("expected word<TAB>count");
    std::string word = line.substr(0, tab);
    if (!IsValidUtf8(word)) throw fail("the word is not valid UTF-8");
    int64_t count = 0;
    try {
      size_t used = 0;
      count = std::stoll(line.substr(tab + 1), &used);
      if (used != line.size() - tab - 1) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw fail("the count is not an integer");
    }
    if (count < 1) throw fail("the count must be positive");
    counts.emplace_back(std::move(word), count);
  }
  return FromCounts(std::move(counts));
}

int64_t WordList::Find(const std::string& word) const {
  auto it = index_.find(word);
  return it == index_.end() ? -1 : it->second;
}

}  // namespace wordbridge
