// Vocabulary::Load (model/text/vocabulary.h) on arbitrary files, as a damaged source.vocab or
// target.vocab of a model version would be. A file it accepts must be a bijection that survives
// Save and Load unchanged, and Encode / Decode must stay inside it for any id.
#include "fuzz/fuzz_util.h"
#include "model/common/errors.h"
#include "model/text/vocabulary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wordbridge;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  Vocabulary vocab;
  try {
    vocab = Vocabulary::Load(fuzz::WriteScratch("fuzz.vocab", bytes));
  } catch (const FailedPreconditionError&) {
    return 0;  // refused: the version would be skipped with a warning
  }
  FUZZ_CHECK(vocab.size() >= Vocabulary::kNumSpecial);
  for (int64_t id = 0; id < vocab.size(); ++id) FUZZ_CHECK(vocab.Id(vocab.Token(id)) == id);

  const std::string saved = fuzz::ScratchDir() + "/saved.vocab";
  vocab.Save(saved);
  FUZZ_CHECK(Vocabulary::Load(saved).tokens() == vocab.tokens());

  // Ids from the input's bytes, some outside the vocabulary: Decode refuses those, never reads them.
  std::vector<int64_t> ids;
  for (size_t i = 0; i < size && i < 64; ++i) ids.push_back(static_cast<int8_t>(data[i]));
  try {
    const auto tokens = vocab.Decode(ids);
    const auto again = vocab.Encode(tokens);
    FUZZ_CHECK(again.size() == tokens.size());
  } catch (const InvalidArgumentError&) {
  }
  return 0;
}
