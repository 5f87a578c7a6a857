// Whitespace splitting shared by the seed tokenizer, BLEU and the corpus readers (no ICU, no torch).
#pragma once

#include <string>
#include <vector>

namespace wordbridge {

// Splits on ASCII whitespace (spaces, tabs, newlines), as Python's str.split().
std::vector<std::string> SplitWhitespace(const std::string& text);

}  // namespace wordbridge
