// The whitespace and ICU word tokenizers (model/text/tokenizer.h) on arbitrary bytes. The first byte
// picks the tokenizer; the rest is tokenized as a sentence, and also cut at '\n' into a token list
// for Detokenize (tokens from a model's vocabulary file, which need not be valid UTF-8).
#include "fuzz/fuzz_util.h"
#include "model/text/split.h"
#include "model/text/tokenizer.h"

namespace {

using namespace wordbridge;

std::vector<std::string> CutLines(const std::string& text) {
  std::vector<std::string> out;
  fuzz::Bytes bytes(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  while (!bytes.empty()) out.push_back(bytes.Until('\n'));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto whitespace = LoadTokenizer("whitespace", "");
  static const auto word = LoadTokenizer("word", "");
  fuzz::Bytes bytes(data, size);
  const bool use_word = bytes.Byte() & 1;
  const std::string text = bytes.Rest();
  const Tokenizer& tokenizer = use_word ? *word : *whitespace;

  const auto tokens = tokenizer.Tokenize(text);
  for (const auto& token : tokens) {
    FUZZ_CHECK(!token.empty());
    // ICU replaces ill-formed input with U+FFFD, so word tokens are always valid UTF-8.
    if (use_word) FUZZ_CHECK(IsValidUtf8(token));
  }
  const std::string detokenized = tokenizer.Detokenize(tokens);
  // Whitespace tokens survive a round trip exactly (the seed relies on it for BLEU).
  if (!use_word) FUZZ_CHECK(tokenizer.Tokenize(detokenized) == tokens);
  tokenizer.Detokenize(CutLines(text));
  return 0;
}
