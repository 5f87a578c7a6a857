// The SentencePiece tokenizer (model/text/tokenizer.h, through the dlmopen'ed shim) on arbitrary
// text: a small model is trained once on the seed's toy corpus, then each input is tokenized and
// detokenized, and also cut at '\n' into a piece list for Detokenize. The shim and libsentencepiece
// are not instrumented (a sanitizer runtime cannot load into the shim's link-map namespace); what is
// checked is wordbridge's side of the C interface, and that the library survives the input.
#include "fuzz/fuzz_util.h"
#include "model/common/errors.h"
#include "model/text/tokenizer.h"
#include "model/train/seed_corpus.h"

namespace {

using namespace wordbridge;

std::unique_ptr<Tokenizer>& Model() {
  static std::unique_ptr<Tokenizer> model;
  return model;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::vector<std::string> text;
  for (const auto& pair : SeedToyPairs()) {
    text.push_back(pair.source);
    text.push_back(pair.target);
  }
  TokenizerOptions options;
  options.vocab_size = 100;  // hard_vocab_limit=false: the toy corpus yields fewer
  Model() = CreateTokenizer("sentencepiece", text, options);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const Tokenizer& tokenizer = *Model();
  try {
    const auto pieces = tokenizer.Tokenize(text);
    for (const auto& piece : pieces) FUZZ_CHECK(!piece.empty() && piece.find('\n') == std::string::npos);
    tokenizer.Detokenize(pieces);
  } catch (const InvalidArgumentError&) {
    // text SentencePiece refuses comes back as InvalidArgumentError: a status, not a crash
  }
  std::vector<std::string> pieces;
  fuzz::Bytes bytes(data, size);
  while (!bytes.empty()) pieces.push_back(bytes.Until('\n'));
  tokenizer.Detokenize(pieces);
  return 0;
}
