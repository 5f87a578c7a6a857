// The word2vec / GloVe text reader (model/embed/vector_io.h) on arbitrary bytes. Checks what Train's
// vector import relies on: a file is either read whole or refused with InvalidArgumentError or
// ResourceExhaustedError (nothing else); what is read has one row of the dimension per word, finite
// values, distinct valid UTF-8 words without separators; reading only the first row gives the same
// dimension; and the word2vec writer's output of it reads back as the same words and values (within
// the text format's precision).
#include <cmath>
#include <set>
#include <sstream>

#include "fuzz/fuzz_util.h"
#include "model/common/errors.h"
#include "model/embed/vector_io.h"
#include "model/text/split.h"

namespace {

using namespace wordbridge;

bool Near(float a, float b) { return std::abs(a - b) <= 1e-5f * std::abs(b) + 1e-37f; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  VectorFileLimits limits;
  limits.max_dimension = 64;  // small, so fuzzed files cross the caps
  limits.max_words = 200;
  WordVectors vectors;
  try {
    std::istringstream in(bytes);
    vectors = ReadWordVectors(in, "fuzz", limits);
  } catch (const InvalidArgumentError&) {
    return 0;
  } catch (const ResourceExhaustedError&) {
    return 0;
  }
  FUZZ_CHECK(vectors.dimension >= 1 && vectors.dimension <= limits.max_dimension);
  FUZZ_CHECK(vectors.size() <= limits.max_words);
  FUZZ_CHECK(static_cast<int64_t>(vectors.values.size()) == vectors.size() * vectors.dimension);
  FUZZ_CHECK(static_cast<int64_t>(vectors.index.size()) == vectors.size());
  std::set<std::string> distinct;
  for (int64_t w = 0; w < vectors.size(); ++w) {
    const auto& word = vectors.words[w];
    FUZZ_CHECK(!word.empty() && IsValidUtf8(word));
    FUZZ_CHECK(word.find_first_of(" \t\r\n") == std::string::npos);
    FUZZ_CHECK(distinct.insert(word).second);
    FUZZ_CHECK(vectors.Find(word) == w);
  }
  for (float v : vectors.values) FUZZ_CHECK(std::isfinite(v));

  // The first row alone tells the same dimension (how Train checks a file before its job starts).
  if (vectors.size() > 0) {
    VectorFileLimits first = limits;
    first.max_rows = 1;
    std::istringstream in(bytes);
    FUZZ_CHECK(ReadWordVectors(in, "fuzz", first).dimension == vectors.dimension);
  }

  // Written as word2vec text and read back: the same words and values.
  std::ostringstream out;
  Word2VecTextWriter writer(out, vectors.size(), vectors.dimension);
  for (int64_t w = 0; w < vectors.size(); ++w) writer.Add(vectors.words[w], vectors.row(w), vectors.dimension);
  std::istringstream again(out.str());
  const auto back = ReadWordVectors(again, "rewritten", limits);
  FUZZ_CHECK(back.had_header && back.dimension == vectors.dimension && back.words == vectors.words);
  for (size_t i = 0; i < back.values.size(); ++i) FUZZ_CHECK(Near(back.values[i], vectors.values[i]));
  return 0;
}
