// The seed program's toy corpus: five Chinese (pre-segmented) -> English pairs.
#pragma once

#include <vector>

#include "model/train/corpus.h"

namespace wordbridge {

const std::vector<SentencePair>& SeedToyPairs();

}  // namespace wordbridge
