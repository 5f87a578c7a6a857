// A side's word vocabulary: the words of its training corpus, split by the Unicode word tokenizer
// (ICU word breaks, case kept), with their counts. A model's token vocabulary may hold subword pieces
// (SentencePiece); this list is what a user means by "words", whatever the tokenizer.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace wordbridge {

struct WordListOptions {
  int64_t min_count = 2;        // words seen fewer times are left out
  int64_t max_words = 1000000;  // the most frequent this many (bounds memory on huge corpora)
};

class WordList {
 public:
  static constexpr const char* kSourceFile = "source.words.tsv";
  static constexpr const char* kTargetFile = "target.words.tsv";

  WordList() = default;
  // Counts the words of `sentences`. Tokens without a letter or digit (punctuation) are not words.
  static WordList Count(const std::vector<std::string>& sentences, const WordListOptions& options);
  // Words given with their counts; sorted here, most frequent first (ties by byte order).
  static WordList FromCounts(std::vector<std::pair<std::string, int64_t>> counts);

  // "word<TAB>count" lines, most frequent first.
  std::string Serialize() const;
  // Parses Serialize's text; FailedPreconditionError naming `what` and the line on a damaged file
  // (a stored file, not a request).
  static WordList Parse(const std::string& text, const std::string& what);

  int64_t size() const { return static_cast<int64_t>(words_.size()); }
  bool empty() const { return words_.empty(); }
  // Index of `word` (0 = the most frequent), or -1.
  int64_t Find(const std::string& word) const;
  const std::string& word(int64_t i) const { return words_[i]; }
  int64_t count(int64_t i) const { return counts_[i]; }
  const std::vector<std::string>& words() const { return words_; }

 private:
  std::vector<std::string> words_;
  std::vector<int64_t> counts_;
  std::unordered_map<std::string, int64_t> index_;
};

// True when `token` holds at least one letter or digit (UTF-8).
bool IsWordToken(const std::string& token);

}  // namespace wordbridge
