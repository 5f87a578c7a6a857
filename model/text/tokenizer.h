// Tokenizers turn raw text into the tokens a Vocabulary numbers, and tokens back into text.
//   whitespace     - the seed's: split on whitespace, join with one space.
//   word           - Unicode-aware (ICU word breaks): splits punctuation, segments Chinese, and
//                    detokenizes with the spacing rules of the script.
//   sentencepiece  - a subword model trained on the training side (libsentencepiece).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/text/split.h"

namespace wordbridge {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> Tokenize(const std::string& text) const = 0;
  virtual std::string Detokenize(const std::vector<std::string>& tokens) const = 0;
  // Writes whatever the tokenizer learned to `path_prefix` + an extension; stateless ones write nothing.
  virtual void Save(const std::string& path_prefix) const {}
};

// Options for building a tokenizer; only trained tokenizers use them.
struct TokenizerOptions {
  // sentencepiece: target vocabulary size.
  int vocab_size = 8000;
  // sentencepiece: threads used for training.
  int threads = 1;
};

// True for "whitespace", "word" and "sentencepiece".
bool IsKnownTokenizer(const std::string& name);
// Builds a tokenizer; trained ones learn from `training_text`. Throws InvalidArgumentError on an
// unknown name.
std::unique_ptr<Tokenizer> CreateTokenizer(const std::string& name,
                                           const std::vector<std::string>& training_text,
                                           const TokenizerOptions& options);
// Loads a tokenizer saved with Save(path_prefix).
std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& name, const std::string& path_prefix);

}  // namespace wordbridge
