// SplitWhitespace and IsValidUtf8 (model/text/split.h) on arbitrary bytes. IsValidUtf8 is checked
// against a decoder written the other way round (decode the code point, then reject overlong forms,
// surrogates and values above U+10FFFF), so a wrong range in either shows up as a disagreement.
#include "fuzz/fuzz_util.h"
#include "model/text/split.h"

namespace {

bool IsAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool ReferenceIsValidUtf8(const std::string& text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<uint8_t>(text[i]);
    int length = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 0;
    if (length == 0 || i + length > text.size()) return false;
    uint32_t code = length == 1 ? lead : lead & (0xFF >> (length + 1));
    for (int k = 1; k < length; ++k) {
      const auto trail = static_cast<uint8_t>(text[i + k]);
      if ((trail & 0xC0) != 0x80) return false;
      code = (code << 6) | (trail & 0x3F);
    }
    static const uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || (code >= 0xD800 && code <= 0xDFFF) || code > 0x10FFFF) return false;
    i += length;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  FUZZ_CHECK(wordbridge::IsValidUtf8(text) == ReferenceIsValidUtf8(text));

  // Tokens are non-empty, hold no whitespace, and are the text's non-space bytes in order.
  const auto tokens = wordbridge::SplitWhitespace(text);
  std::string joined, non_space;
  for (const auto& token : tokens) {
    FUZZ_CHECK(!token.empty());
    for (char c : token) FUZZ_CHECK(!IsAsciiSpace(c));
    joined += token;
  }
  for (char c : text) {
    if (!IsAsciiSpace(c)) non_space += c;
  }
  FUZZ_CHECK(joined == non_space);
  return 0;
}
