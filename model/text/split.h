// Whitespace splitting shared by the seed tokenizer, BLEU and the corpus readers (no ICU, no torch).
#pragma once

#include <string>
#include <vector>

namespace wordbridge {

// Splits on ASCII whitespace (spaces, tabs, newlines), as Python's str.split().
std::vector<std::string> SplitWhitespace(const std::string& text);

// Whether `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF). proto3 strings must be UTF-8, so text that is not cannot enter a vocabulary.
bool IsValidUtf8(const std::string& text);
// The length in bytes of the well-formed UTF-8 sequence at text[pos] (pos < size), or 0 when it is
// malformed there.
size_t Utf8SequenceLength(const std::string& text, size_t pos);

}  // namespace wordbridge
