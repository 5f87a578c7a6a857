// Vocabulary: the bijection between tokens and ids, exactly as the seed builds it: ids 0-3 are
// <PAD> <SOS> <EOS> <UNK>, then tokens in order of first appearance (optionally capped by frequency).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace wordbridge {

class Vocabulary {
 public:
  static constexpr int64_t kPad = 0;
  static constexpr int64_t kSos = 1;
  static constexpr int64_t kEos = 2;
  static constexpr int64_t kUnk = 3;
  static constexpr int64_t kNumSpecial = 4;

  // Options for Build. The defaults keep every token, as the seed does.
  struct BuildOptions {
    // Keep at most this many tokens besides the specials; 0 = no cap. The most frequent win; ties keep
    // first-appearance order.
    int64_t max_size = 0;
    // Drop tokens seen fewer times than this.
    int64_t min_frequency = 1;
  };

  Vocabulary();  // only the specials

  // Builds from tokenized sentences; ids follow first appearance.
  static Vocabulary Build(const std::vector<std::vector<std::string>>& sentences,
                          const BuildOptions& options);
  // Builds from an ordered token list (specials excluded), e.g. a SentencePiece vocabulary.
  static Vocabulary FromTokens(const std::vector<std::string>& tokens);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  // Id of a token, kUnk when unknown.
  int64_t Id(const std::string& token) const;
  bool Contains(const std::string& token) const { return ids_.count(token) > 0; }
  const std::string& Token(int64_t id) const;
  static bool IsSpecial(int64_t id) { return id < kNumSpecial; }

  // Token ids of a sentence; unknown tokens become kUnk. No <SOS>/<EOS> added.
  std::vector<int64_t> Encode(const std::vector<std::string>& tokens) const;
  // Tokens of ids, dropping <PAD>, <SOS> and <EOS> as the seed does (<UNK> is kept).
  std::vector<std::string> Decode(const std::vector<int64_t>& ids) const;

  // One token per line, specials included, in id order.
  void Save(const std::string& path) const;
  static Vocabulary Load(const std::string& path);

  const std::vector<std::string>& tokens() const { return tokens_; }

 private:
  void Add(const std::string& token);

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace wordbridge
