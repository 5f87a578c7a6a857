#include "model/decode/shortlist.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "model/common/errors.h"
#include "model/text/vocabulary.h"

namespace wordbridge {
namespace {

constexpr uint32_t kMagic = 0x4c534257;  // "WBSL" little-endian
constexpr uint32_t kFormatVersion = 1;

uint32_t Fnv1a(const char* data, size_t size) {
  uint32_t hash = 2166136261u;
  for (size_t i = 0; i < size; ++i) {
    hash ^= static_cast<uint8_t>(data[i]);
    hash *= 16777619u;
  }
  return hash;
}

void Put(std::string* out, uint32_t value) {
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  out->append(bytes, 4);
}

// Reads little-endian 32-bit words, failing on truncation.
class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  uint32_t Next() {
    if (position_ + 4 > bytes_.size()) throw FailedPreconditionError("vocabulary shortlist: the file is truncated");
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(bytes_[position_ + i])) << (8 * i);
    position_ += 4;
    return value;
  }
  void Fill(std::vector<uint32_t>* values, size_t count) {
    if (count > (bytes_.size() - position_) / 4) throw FailedPreconditionError("vocabulary shortlist: the file is truncated");
    values->resize(count);
    for (auto& v : *values) v = Next();
  }
  size_t position() const { return position_; }

 private:
  const std::string& bytes_;
  size_t position_ = 0;
};

}  // namespace

std::shared_ptr<const LexicalShortlist> LexicalShortlist::Learn(size_t pairs, const IdsOf& source, const IdsOf& target,
                                                                int64_t source_vocab_size, int64_t target_vocab_size,
                                                                const ShortlistOptions& options) {
  if (options.per_source < 0 || options.frequent < 0 || options.align < 1) {
    throw InvalidArgumentError("shortlist sizes must be >= 0 and its alignment >= 1");
  }
  auto table = std::make_shared<LexicalShortlist>();
  table->source_vocab_size_ = source_vocab_size;
  table->target_vocab_size_ = target_vocab_size;
  table->options_ = options;
  const auto in_range = [](int64_t id, int64_t size) { return id >= Vocabulary::kNumSpecial && id < size; };

  // Per sentence: its distinct target ids (CSR). Per id: sentence counts c(s), c(t); token counts.
  std::vector<uint32_t> source_count(source_vocab_size, 0), target_count(target_vocab_size, 0);
  std::vector<int64_t> target_tokens(target_vocab_size, 0);
  std::vector<uint32_t> target_offsets{0}, target_ids;
  std::vector<uint32_t> source_offsets{0}, source_ids;  // distinct source ids per sentence
  std::vector<uint32_t> seen_target(target_vocab_size, 0), seen_source(source_vocab_size, 0);  // last sentence + 1
  for (size_t i = 0; i < pairs; ++i) {
    const auto mark = static_cast<uint32_t>(i + 1);
    for (int64_t t : target(i)) {
      if (!in_range(t, target_vocab_size)) continue;
      ++target_tokens[t];
      if (seen_target[t] != mark) {
        seen_target[t] = mark;
        ++target_count[t];
        target_ids.push_back(static_cast<uint32_t>(t));
      }
    }
    target_offsets.push_back(static_cast<uint32_t>(target_ids.size()));
    for (int64_t s : source(i)) {
      if (s < Vocabulary::kUnk || s >= source_vocab_size) continue;  // <UNK> gets candidates too
      if (seen_source[s] != mark) {
        seen_source[s] = mark;
        ++source_count[s];
        source_ids.push_back(static_cast<uint32_t>(s));
      }
    }
    source_offsets.push_back(static_cast<uint32_t>(source_ids.size()));
  }

  // Inverted index: source id -> the sentences it occurs in.
  std::vector<uint32_t> index_offsets(source_vocab_size + 1, 0);
  for (int64_t s = 0; s < source_vocab_size; ++s) index_offsets[s + 1] = index_offsets[s] + source_count[s];
  std::vector<uint32_t> sentences(index_offsets.back());
  {
    std::vector<uint32_t> fill(index_offsets.begin(), index_offsets.end() - 1);
    for (size_t i = 0; i < pairs; ++i) {
      for (uint32_t k = source_offsets[i]; k < source_offsets[i + 1]; ++k) {
        sentences[fill[source_ids[k]]++] = static_cast<uint32_t>(i);
      }
    }
  }

  // Per source id: co-occurrence counts in a dense counter (reset through the list of touched ids),
  // then the best `per_source` by Dice (ties: more co-occurrences, then the lower id).
  std::vector<uint32_t> together(target_vocab_size, 0);
  std::vector<uint32_t> touched;
  std::vector<std::pair<double, uint32_t>> scored;
  table->offsets_.assign(source_vocab_size + 1, 0);
  for (int64_t s = 0; s < source_vocab_size; ++s) {
    touched.clear();
    for (uint32_t k = index_offsets[s]; k < index_offsets[s + 1]; ++k) {
      const uint32_t i = sentences[k];
      for (uint32_t j = target_offsets[i]; j < target_offsets[i + 1]; ++j) {
        const uint32_t t = target_ids[j];
        if (together[t]++ == 0) touched.push_back(t);
      }
    }
    scored.clear();
    for (uint32_t t : touched) {
      scored.emplace_back(2.0 * together[t] / (source_count[s] + target_count[t]), t);
    }
    const auto better = [&](const std::pair<double, uint32_t>& a, const std::pair<double, uint32_t>& b) {
      if (a.first != b.first) return a.first > b.first;
      if (together[a.second] != together[b.second]) return together[a.second] > together[b.second];
      return a.second < b.second;
    };
    const size_t keep = std::min<size_t>(scored.size(), options.per_source);
    std::partial_sort(scored.begin(), scored.begin() + keep, scored.end(), better);
    for (size_t k = 0; k < keep; ++k) table->candidates_.push_back(scored[k].second);
    table->offsets_[s + 1] = static_cast<uint32_t>(table->candidates_.size());
    for (uint32_t t : touched) together[t] = 0;
  }

  // Target ids by token frequency (ties: the lower id).
  for (int64_t t = Vocabulary::kNumSpecial; t < target_vocab_size; ++t) {
    if (target_tokens[t] > 0) table->by_frequency_.push_back(static_cast<uint32_t>(t));
  }
  std::stable_sort(table->by_frequency_.begin(), table->by_frequency_.end(),
                   [&](uint32_t a, uint32_t b) { return target_tokens[a] > target_tokens[b]; });
  return table;
}

std::string LexicalShortlist::Serialize() const {
  std::string out;
  out.reserve(4 * (11 + by_frequency_.size() + offsets_.size() + candidates_.size()));
  Put(&out, kMagic);
  Put(&out, kFormatVersion);
  Put(&out, static_cast<uint32_t>(source_vocab_size_));
  Put(&out, static_cast<uint32_t>(target_vocab_size_));
  Put(&out, static_cast<uint32_t>(options_.per_source));
  Put(&out, static_cast<uint32_t>(options_.frequent));
  Put(&out, static_cast<uint32_t>(options_.align));
  Put(&out, static_cast<uint32_t>(by_frequency_.size()));
  Put(&out, static_cast<uint32_t>(candidates_.size()));
  for (uint32_t v : by_frequency_) Put(&out, v);
  for (uint32_t v : offsets_) Put(&out, v);
  for (uint32_t v : candidates_) Put(&out, v);
  Put(&out, Fnv1a(out.data(), out.size()));
  return out;
}

std::shared_ptr<const LexicalShortlist> LexicalShortlist::Parse(const std::string& bytes) {
  auto damaged = [](const std::string& why) { return FailedPreconditionError("vocabulary shortlist: " + why); };
  if (bytes.size() < 4 || Fnv1a(bytes.data(), bytes.size() - 4) != Reader(bytes.substr(bytes.size() - 4)).Next()) {
    throw damaged("the checksum does not match (damaged file)");
  }
  Reader in(bytes);
  if (in.Next() != kMagic) throw damaged("not a shortlist file");
  if (const uint32_t version = in.Next(); version != kFormatVersion) {
    throw damaged("unknown format version " + std::to_string(version));
  }
  auto table = std::make_shared<LexicalShortlist>();
  table->source_vocab_size_ = in.Next();
  table->target_vocab_size_ = in.Next();
  table->options_.per_source = static_cast<int>(in.Next());
  table->options_.frequent = static_cast<int>(in.Next());
  table->options_.align = static_cast<int>(in.Next());
  if (table->options_.align < 1 || table->options_.per_source < 0 || table->options_.frequent < 0) {
    throw damaged("bad sizes");
  }
  const uint32_t frequency_count = in.Next();
  const uint32_t candidate_count = in.Next();
  in.Fill(&table->by_frequency_, frequency_count);
  in.Fill(&table->offsets_, static_cast<size_t>(table->source_vocab_size_) + 1);
  in.Fill(&table->candidates_, candidate_count);
  if (in.position() + 4 != bytes.size()) throw damaged("unexpected size");
  if (table->offsets_.front() != 0 || table->offsets_.back() != candidate_count ||
      !std::is_sorted(table->offsets_.begin(), table->offsets_.end())) {
    throw damaged("inconsistent offsets");
  }
  const auto bad_id = [&](uint32_t id) { return id >= table->target_vocab_size_; };
  if (std::any_of(table->candidates_.begin(), table->candidates_.end(), bad_id) ||
      std::any_of(table->by_frequency_.begin(), table->by_frequency_.end(), bad_id)) {
    throw damaged("a target id is outside the vocabulary");
  }
  return table;
}

std::vector<int64_t> LexicalShortlist::CandidatesOf(int64_t source_id) const {
  if (source_id < 0 || source_id >= source_vocab_size_) return {};
  return std::vector<int64_t>(candidates_.begin() + offsets_[source_id], candidates_.begin() + offsets_[source_id + 1]);
}

std::vector<int64_t> LexicalShortlist::AlwaysIn() const {
  std::vector<int64_t> ids;
  for (int64_t id = 0; id < std::min(Vocabulary::kNumSpecial, target_vocab_size_); ++id) ids.push_back(id);
  const size_t frequent = std::min<size_t>(by_frequency_.size(), options_.frequent);
  ids.insert(ids.end(), by_frequency_.begin(), by_frequency_.begin() + frequent);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::vector<int64_t> LexicalShortlist::UnionOf(
    const std::function<void(const std::function<void(int64_t)>&)>& for_each) const {
  std::vector<uint8_t> in(target_vocab_size_, 0);
  std::vector<uint8_t> source_done(source_vocab_size_, 0);
  int64_t size = 0;
  const auto add = [&](int64_t t) {
    if (!in[t]) {
      in[t] = 1;
      ++size;
    }
  };
  for (int64_t id = 0; id < std::min(Vocabulary::kNumSpecial, target_vocab_size_); ++id) add(id);
  const size_t frequent = std::min<size_t>(by_frequency_.size(), options_.frequent);
  for (size_t k = 0; k < frequent; ++k) add(by_frequency_[k]);
  for_each([&](int64_t s) {
    if (s == Vocabulary::kPad || s < 0 || s >= source_vocab_size_ || source_done[s]) return;
    source_done[s] = 1;
    for (uint32_t k = offsets_[s]; k < offsets_[s + 1]; ++k) add(candidates_[k]);
  });
  // Round up to a multiple of `align` with the next most frequent ids, then any others.
  const int64_t align = options_.align;
  const int64_t wanted = std::min(target_vocab_size_, (size + align - 1) / align * align);
  for (size_t k = frequent; k < by_frequency_.size() && size < wanted; ++k) add(by_frequency_[k]);
  for (int64_t t = 0; t < target_vocab_size_ && size < wanted; ++t) add(t);
  std::vector<int64_t> ids;
  ids.reserve(size);
  for (int64_t t = 0; t < target_vocab_size_; ++t) {
    if (in[t]) ids.push_back(t);
  }
  unions_.fetch_add(1);
  union_ids_.fetch_add(static_cast<int64_t>(ids.size()));
  return ids;
}

std::vector<int64_t> LexicalShortlist::Union(const torch::Tensor& sources) const {
  auto ids = sources.to(torch::kInt64).contiguous();
  const int64_t* data = ids.data_ptr<int64_t>();
  const int64_t count = ids.numel();
  return UnionOf([&](const std::function<void(int64_t)>& visit) {
    for (int64_t i = 0; i < count; ++i) visit(data[i]);
  });
}

std::vector<int64_t> LexicalShortlist::Union(const std::vector<const std::vector<int64_t>*>& sources) const {
  return UnionOf([&](const std::function<void(int64_t)>& visit) {
    for (const auto* ids : sources) {
      for (int64_t id : *ids) visit(id);
    }
  });
}

DecodeShortlist DecodeShortlist::Make(const Seq2SeqNet& net, std::vector<int64_t> ids, ComputeType type) {
  DecodeShortlist shortlist;
  shortlist.ids = std::move(ids);
  shortlist.index = torch::tensor(shortlist.ids, torch::kInt64);
  shortlist.output = net.PackOutputRows(shortlist.index, type);
  const auto eos = std::lower_bound(shortlist.ids.begin(), shortlist.ids.end(), Vocabulary::kEos);
  TORCH_CHECK(eos != shortlist.ids.end() && *eos == Vocabulary::kEos, "a shortlist must contain <EOS>");
  shortlist.eos_column = eos - shortlist.ids.begin();
  return shortlist;
}

}  // namespace wordbridge
