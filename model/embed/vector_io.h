// Word vectors in the word2vec text format ("COUNT DIM" then "word v1 v2 ..." per line), which gensim's
// KeyedVectors.load_word2vec_format and fastText read.
#pragma once

#include <ostream>

#include "model/embed/word_space.h"

namespace wordbridge {

// Writes every word of `space` (most frequent first) with its vector.
void WriteWord2VecText(const WordSpace& space, std::ostream& out);

}  // namespace wordbridge
