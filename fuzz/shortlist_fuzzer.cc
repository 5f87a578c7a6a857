// LexicalShortlist::Parse (model/decode/shortlist.h) on arbitrary bytes, as a damaged shortlist.bin.
// The file ends in a checksum that random bytes almost never match, so when the first input byte is
// odd the rest gets a correct checksum appended: the fuzzer then reaches the checks behind it (sizes,
// offsets, ids). An accepted table must serialize back to the same bytes, and its lookups and unions
// must stay inside the vocabularies it declares.
#include <algorithm>

#include "fuzz/fuzz_util.h"
#include "model/common/errors.h"
#include "model/decode/shortlist.h"

namespace {

// The file format's checksum (FNV-1a over every byte before it, little-endian).
std::string WithChecksum(std::string body) {
  uint32_t hash = 2166136261u;
  for (char c : body) {
    hash ^= static_cast<uint8_t>(c);
    hash *= 16777619u;
  }
  for (int i = 0; i < 4; ++i) body += static_cast<char>((hash >> (8 * i)) & 0xFF);
  return body;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace wordbridge;
  fuzz::Bytes bytes(data, size);
  const bool fix_checksum = bytes.Byte() & 1;
  const std::string file = fix_checksum ? WithChecksum(bytes.Rest()) : bytes.Rest();
  std::shared_ptr<const LexicalShortlist> table;
  try {
    table = LexicalShortlist::Parse(file);
  } catch (const FailedPreconditionError&) {
    return 0;
  }
  FUZZ_CHECK(table->Serialize() == file);
  // A bundle only takes a table whose sizes match its vocabularies; the union allocates a flag per
  // target id, so vocabularies beyond a test-sized bound are left alone here.
  if (table->source_vocab_size() > (1 << 16) || table->target_vocab_size() > (1 << 16)) return 0;
  for (int64_t id : table->AlwaysIn()) FUZZ_CHECK(id >= 0 && id < table->target_vocab_size());
  std::vector<int64_t> sources;
  for (int64_t s = -1; s <= table->source_vocab_size() && s < 64; ++s) {
    for (int64_t t : table->CandidatesOf(s)) FUZZ_CHECK(t >= 0 && t < table->target_vocab_size());
    sources.push_back(s);
  }
  const auto ids = table->Union({&sources});
  FUZZ_CHECK(std::is_sorted(ids.begin(), ids.end()));
  FUZZ_CHECK(static_cast<int64_t>(ids.size()) <= table->target_vocab_size());
  for (int64_t id : ids) FUZZ_CHECK(id >= 0 && id < table->target_vocab_size());
  return 0;
}
