#include "model/text/vocabulary.h"

#include <algorithm>
#include <fstream>

#include "model/common/errors.h"
#include "model/common/file_util.h"

namespace wordbridge {

Vocabulary::Vocabulary() {
  for (const char* special : {"<PAD>", "<SOS>", "<EOS>", "<UNK>"}) Add(special);
}

void Vocabulary::Add(const std::string& token) {
  if (ids_.count(token)) return;
  ids_.emplace(token, size());
  tokens_.push_back(token);
}

Vocabulary Vocabulary::Build(const std::vector<std::vector<std::string>>& sentences,
                             const BuildOptions& options) {
  std::vector<std::string> order;
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& sentence : sentences) {
    for (const auto& token : sentence) {
      if (counts[token]++ == 0) order.push_back(token);
    }
  }
  std::vector<std::string> kept;
  for (const auto& token : order) {
    if (counts[token] >= options.min_frequency) kept.push_back(token);
  }
  if (options.max_size > 0 && static_cast<int64_t>(kept.size()) > options.max_size) {
    // Choose the most frequent tokens, then restore first-appearance order among them.
    std::vector<size_t> rank(kept.size());
    for (size_t i = 0; i < rank.size(); ++i) rank[i] = i;
    std::stable_sort(rank.begin(), rank.end(), [&](size_t a, size_t b) {
      return counts[kept[a]] > counts[kept[b]];
    });
    rank.resize(options.max_size);
    std::sort(rank.begin(), rank.end());
    std::vector<std::string> capped;
    for (size_t i : rank) capped.push_back(kept[i]);
    kept.swap(capped);
  }
  return FromTokens(kept);
}

Vocabulary Vocabulary::FromTokens(const std::vector<std::string>& tokens) {
  Vocabulary vocab;
  for (const auto& token : tokens) vocab.Add(token);
  return vocab;
}

int64_t Vocabulary::Id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? kUnk : it->second;
}

const std::string& Vocabulary::Token(int64_t id) const {
  if (id < 0 || id >= size()) {
    throw InvalidArgumentError("token id " + std::to_string(id) + " is outside the vocabulary of " +
                               std::to_string(size()));
  }
  return tokens_[id];
}

std::vector<int64_t> Vocabulary::Encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& token : tokens) ids.push_back(Id(token));
  return ids;
}

std::vector<std::string> Vocabulary::Decode(const std::vector<int64_t>& ids) const {
  std::vector<std::string> tokens;
  for (int64_t id : ids) {
    if (id == kPad || id == kSos || id == kEos) continue;
    tokens.push_back(Token(id));
  }
  return tokens;
}

void Vocabulary::Save(const std::string& path) const {
  std::string text;
  for (const auto& token : tokens_) text += token + "\n";
  WriteFileAtomically(path, text);
}

Vocabulary Vocabulary::Load(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw NotFoundError("cannot read vocabulary " + path);
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  const std::vector<std::string> specials = {"<PAD>", "<SOS>", "<EOS>", "<UNK>"};
  if (lines.size() < specials.size() || !std::equal(specials.begin(), specials.end(), lines.begin())) {
    throw FailedPreconditionError("vocabulary " + path + " does not start with the special tokens");
  }
  Vocabulary vocab;
  for (size_t i = specials.size(); i < lines.size(); ++i) {
    vocab.Add(lines[i]);
  }
  if (vocab.size() != static_cast<int64_t>(lines.size())) {
    throw FailedPreconditionError("vocabulary " + path + " has duplicate tokens");
  }
  return vocab;
}

}  // namespace wordbridge
