#include "model/store/model_bundle.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/common/errors.h"
#include "model/embed/vector_io.h"
#include "model/common/file_util.h"
#include "model/nn/model_size.h"

namespace wordbridge {

void TranslationOptions::Validate() const {
  if (beam_size < 1 || beam_size > 64) throw InvalidArgumentError("beam_size must be in [1, 64]");
  if (n_best < 1 || n_best > beam_size) throw InvalidArgumentError("n_best must be in [1, beam_size]");
  if (max_length < 0 || max_length > 4096) throw InvalidArgumentError("max_length must be in [0, 4096]");
  if (!(length_penalty >= 0 && length_penalty <= 10)) {  // NaN fails too
    throw InvalidArgumentError("length_penalty must be in [0, 10]");
  }
  if (max_batch_size < 1) throw InvalidArgumentError("max_batch_size must be >= 1");
  if (max_source_tokens < 1) throw InvalidArgumentError("max_source_tokens must be >= 1");
}

ModelBundle::ModelBundle(std::string name, std::string version, ModelParts parts)
    : name_(std::move(name)),
      version_(std::move(version)),
      config_(std::move(parts.config)),
      source_tokenizer_(std::move(parts.source_tokenizer)),
      target_tokenizer_(std::move(parts.target_tokenizer)),
      source_vocab_(std::move(parts.source_vocab)),
      target_vocab_(std::move(parts.target_vocab)),
      network_(std::move(parts.network)),
      metrics_(std::move(parts.metrics)),
      training_(std::move(parts.training)),
      shortlist_(std::move(parts.shortlist)),
      word_tables_(std::move(parts.words)),
      index_kind_(parts.index_kind) {
  if (shortlist_ && (shortlist_->source_vocab_size() != source_vocab_.size() ||
                     shortlist_->target_vocab_size() != target_vocab_.size())) {
    throw FailedPreconditionError("model " + name_ + " version " + version_ +
                                  ": the vocabulary shortlist's vocabulary sizes disagree with the model's");
  }
  network_->eval();
  source_index_ = std::make_unique<EmbeddingIndex>(network_->source_embedding(), Vocabulary::kNumSpecial);
  target_index_ = std::make_unique<EmbeddingIndex>(network_->target_embedding(), Vocabulary::kNumSpecial);
  ready_time_ = std::chrono::system_clock::now();
}

std::map<std::string, double> ParseNumbersJson(const std::string& text) {
  try {
    return nlohmann::json::parse(text).get<std::map<std::string, double>>();
  } catch (const std::exception&) {
    return {};
  }
}

namespace {

// A JSON object of numbers; empty when the file is missing or damaged.
std::map<std::string, double> ReadNumbersIfPresent(const std::string& path) {
  try {
    return ParseNumbersJson(ReadFile(path));
  } catch (const std::exception&) {
    return {};
  }
}

}  // namespace

void SaveModelParts(const ModelParts& parts, const std::string& dir) {
  WriteFileAtomically(dir + "/config.json", parts.config.ToJson());
  parts.source_vocab.Save(dir + "/source.vocab");
  parts.target_vocab.Save(dir + "/target.vocab");
  parts.source_tokenizer->Save(dir + "/source");
  parts.target_tokenizer->Save(dir + "/target");
  torch::serialize::OutputArchive archive;
  parts.network->save(archive);
  std::ostringstream weights;
  archive.save_to(weights);
  WriteFileAtomically(dir + "/weights.pt", weights.str());
  WriteFileAtomically(dir + "/metrics.json", nlohmann::json(parts.metrics).dump(2) + "\n");
  WriteFileAtomically(dir + "/training.json", nlohmann::json(parts.training).dump(2) + "\n");
  if (parts.shortlist) WriteFileAtomically(dir + "/" + LexicalShortlist::kFileName, parts.shortlist->Serialize());
  if (!parts.words.source_words.empty() || !parts.words.target_words.empty()) parts.words.Save(dir);
}

void ModelBundle::Save(const std::string& dir) const {
  // A view of the bundle as parts (the vocabularies and word lists are copied: once per publish).
  const ModelParts view{config_,   source_tokenizer_, target_tokenizer_, source_vocab_, target_vocab_, network_,
                        metrics_,  training_,         shortlist_,        word_tables_,  index_kind_};
  SaveModelParts(view, dir);
  SaveWordIndexes(dir);
}

namespace {

constexpr const char* kWordIndexesFile = "word_indexes.json";

std::string SpaceKey(Side side, VectorKind kind) {
  return std::string(side == Side::kSource ? "source" : "target") + "." + VectorKindName(kind);
}

}  // namespace

void ModelBundle::SaveWordIndexes(const std::string& dir) const {
  // Approximate indexes take seconds to minutes to build: they are built once, here, and stored. Flat
  // ones are a copy of the vectors and are rebuilt at load instead of doubling the version's size.
  nlohmann::json info = nlohmann::json::object();
  for (const Side side : {Side::kSource, Side::kTarget}) {
    const auto& entry = BuildSideWords(side);
    for (int k = 0; k < 3; ++k) {
      if (!entry.spaces[k]) continue;
      const auto& index = entry.indexes[k];
      const std::string key = SpaceKey(side, static_cast<VectorKind>(k));
      nlohmann::json space = {{"kind", IndexKindName(index.kind)},
                              {"recall_at_10", index.recall_at_10},
                              {"build_seconds", index.build_seconds}};
      if (index.kind != IndexKind::kFlat) {
        space["file"] = key + ".faiss";
        WriteFileAtomically(dir + "/" + key + ".faiss", entry.spaces[k]->index().Serialize());
      }
      info[key] = space;
    }
  }
  WriteFileAtomically(dir + "/" + kWordIndexesFile, info.dump(2) + "\n");
}

namespace {

using TensorSignature = std::pair<std::vector<int64_t>, c10::ScalarType>;

// The shape and type of every parameter and buffer of `network`, by name.
std::map<std::string, TensorSignature> TensorSignatures(const Seq2SeqNet& network) {
  std::map<std::string, TensorSignature> signatures;
  for (const auto& item : network.named_parameters()) {
    signatures[item.key()] = {item.value().sizes().vec(), item.value().scalar_type()};
  }
  for (const auto& item : network.named_buffers()) {
    signatures[item.key()] = {item.value().sizes().vec(), item.value().scalar_type()};
  }
  return signatures;
}

// Module::load replaces each tensor by the stored one without comparing shapes (Tensor::set_), so
// hand-made weights of the wrong shape would load and then fail, or read out of bounds, at the first
// request.
void CheckLoadedWeights(const Seq2SeqNet& network, const std::map<std::string, TensorSignature>& expected,
                        const std::string& dir) {
  const auto loaded = TensorSignatures(network);
  for (const auto& [name, signature] : expected) {
    auto it = loaded.find(name);
    if (it == loaded.end() || it->second != signature) {
      throw FailedPreconditionError("model " + dir + ": weights.pt holds '" + name +
                                    "' with a shape or type that config.json does not describe");
    }
  }
}

}  // namespace

ModelParts LoadModelParts(const std::string& dir, int64_t max_model_bytes) {
  ModelConfig config;
  try {
    config = ModelConfig::FromJson(ReadFile(dir + "/config.json"));
  } catch (const InvalidArgumentError& e) {  // a bad stored file, not a bad request
    throw FailedPreconditionError("model " + dir + ": bad config.json: " + e.what());
  }
  // Before anything whose size the config gives is read or allocated: a config.json this server did
  // not write may describe a network larger than the machine.
  CheckServingMemory(config, max_model_bytes);
  auto source_vocab = Vocabulary::Load(dir + "/source.vocab");
  auto target_vocab = Vocabulary::Load(dir + "/target.vocab");
  if (source_vocab.size() != config.source_vocab_size || target_vocab.size() != config.target_vocab_size) {
    throw FailedPreconditionError("model " + dir + ": vocabulary sizes disagree with config.json");
  }
  std::shared_ptr<const Tokenizer> source_tokenizer = LoadTokenizer(config.tokenizer, dir + "/source");
  std::shared_ptr<const Tokenizer> target_tokenizer = LoadTokenizer(config.tokenizer, dir + "/target");
  auto network = CreateNetwork(config);
  const auto expected = TensorSignatures(*network);
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(dir + "/weights.pt");
    network->load(archive);
  } catch (const c10::Error& e) {
    throw FailedPreconditionError("model " + dir + ": cannot load weights.pt: " + e.msg());
  } catch (const std::exception& e) {
    throw FailedPreconditionError("model " + dir + ": cannot load weights.pt: " + e.what());
  }
  CheckLoadedWeights(*network, expected, dir);
  // Metrics and training settings are informational: a version without them (or saved before they
  // were recorded) still serves.
  auto metrics = ReadNumbersIfPresent(dir + "/metrics.json");
  auto training = ReadNumbersIfPresent(dir + "/training.json");
  // The vocabulary shortlist is optional (versions trained before it have none); a damaged one fails
  // the version like any other damaged file.
  std::shared_ptr<const LexicalShortlist> shortlist;
  const std::string shortlist_path = dir + "/" + LexicalShortlist::kFileName;
  if (std::filesystem::exists(shortlist_path)) {
    try {
      shortlist = LexicalShortlist::Parse(ReadFile(shortlist_path));
    } catch (const FailedPreconditionError& e) {
      throw FailedPreconditionError("model " + dir + ": " + e.what());
    }
  }
  // Word lists and state averages are optional too (versions trained before them derive their words
  // from the token vocabulary); damaged ones fail the version.
  WordTables words;
  try {
    words = WordTables::Load(dir, source_vocab.size(), target_vocab.size());
  } catch (const FailedPreconditionError& e) {
    throw FailedPreconditionError("model " + dir + ": " + e.what());
  }
  return ModelParts{config, source_tokenizer, target_tokenizer, std::move(source_vocab), std::move(target_vocab),
                    network, std::move(metrics), std::move(training), std::move(shortlist), std::move(words)};
}

std::shared_ptr<const ModelBundle> ModelBundle::Load(const std::string& name, const std::string& version,
                                                     const std::string& dir, int64_t max_model_bytes) {
  ModelParts parts = LoadModelParts(dir, max_model_bytes);
  // Stored word indexes (versions saved before them have none: theirs are built at first use).
  std::map<std::string, StoredIndex> stored;
  const std::string indexes_path = dir + "/" + kWordIndexesFile;
  if (std::filesystem::exists(indexes_path)) {
    try {
      const auto spaces = nlohmann::json::parse(ReadFile(indexes_path));
      if (!spaces.is_object()) throw std::runtime_error("not a JSON object");
      for (auto it = spaces.begin(); it != spaces.end(); ++it) {
        const std::string key = it.key();
        const nlohmann::json& space = it.value();
        StoredIndex index;
        index.info.kind = ParseIndexKind(space.at("kind").get<std::string>());
        index.info.recall_at_10 = space.at("recall_at_10").get<double>();
        index.info.build_seconds = space.at("build_seconds").get<double>();
        if (index.info.kind != IndexKind::kFlat) {
          const std::string file = space.at("file").get<std::string>();
          if (file != key + ".faiss") throw std::runtime_error("unexpected file name " + file);
          index.path = dir + "/" + file;
        }
        stored[key] = index;
      }
    } catch (const std::exception& e) {
      throw FailedPreconditionError("model " + dir + ": bad " + kWordIndexesFile + ": " + e.what());
    }
    if (!stored.empty()) parts.index_kind = stored.begin()->second.info.kind;
  }
  auto bundle = std::make_shared<ModelBundle>(name, version, std::move(parts));
  bundle->stored_indexes_ = std::move(stored);
  return bundle;
}

void ModelBundle::SelfCheck() const {
  {
    // Non-finite weights (a diverged training run, a damaged file) would answer every request with garbage.
    c10::InferenceMode inference;
    for (const auto& parameter : network_->parameters()) {
      if (!torch::isfinite(parameter).all().item<bool>()) {
        throw FailedPreconditionError("model " + name_ + " version " + version_ + " has NaN or infinite weights");
      }
    }
  }
  // Word searches: their stored indexes and state averages must load too, before the version serves.
  for (const Side side : {Side::kSource, Side::kTarget}) {
    try {
      BuildSideWords(side);
    } catch (const std::exception& e) {
      throw FailedPreconditionError("model " + name_ + " version " + version_ + " fails its self-check: " + e.what());
    }
  }
  SourceSentence probe;
  probe.ids = {Vocabulary::kNumSpecial};  // the first real token
  probe.tokens = {source_vocab_.Token(Vocabulary::kNumSpecial)};
  TranslationOptions options;
  options.max_length = 4;
  try {
    if (DecodeBatch({&probe}, options).at(0).hypotheses.empty()) {
      throw FailedPreconditionError("decoding a probe sentence gave no hypothesis");
    }
  } catch (const std::exception& e) {
    throw FailedPreconditionError("model " + name_ + " version " + version_ + " fails its self-check: " + e.what());
  }
}

std::vector<Translation> ModelBundle::Translate(const std::vector<std::string>& sentences,
                                                const TranslationOptions& options,
                                                const StopToken* stop) const {
  options.Validate();
  ShortlistFor(options);  // refuse before any work
  std::vector<SourceSentence> sources;
  sources.reserve(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) sources.push_back(PrepareSource(sentences[i], i, options));
  std::vector<Translation> results(sentences.size());
  std::vector<size_t> order;
  for (size_t i = 0; i < sources.size(); ++i) {
    if (sources[i].ids.empty()) {
      results[i].hypotheses.push_back({});  // nothing to translate
    } else {
      order.push_back(i);
    }
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sources[a].ids.size() < sources[b].ids.size(); });
  for (size_t start = 0; start < order.size(); start += options.max_batch_size) {
    ThrowIfStopped(stop);
    const size_t end = std::min(order.size(), start + options.max_batch_size);
    std::vector<const SourceSentence*> batch;
    for (size_t j = start; j < end; ++j) batch.push_back(&sources[order[j]]);
    auto decoded = DecodeBatch(batch, options);
    for (size_t j = start; j < end; ++j) results[order[j]] = std::move(decoded[j - start]);
  }
  return results;
}

SourceSentence ModelBundle::PrepareSource(const std::string& sentence, size_t index,
                                          const TranslationOptions& options) const {
  SourceSentence source;
  source.tokens = source_tokenizer_->Tokenize(sentence);
  const auto n = static_cast<int64_t>(source.tokens.size());
  if (n > options.max_source_tokens) {
    throw InvalidArgumentError("sentence " + std::to_string(index) + " has " + std::to_string(n) +
                               " tokens; the limit is " + std::to_string(options.max_source_tokens));
  }
  source.ids = source_vocab_.Encode(source.tokens);
  return source;
}

SourceBatch MakeSourceBatch(const std::vector<const SourceSentence*>& sentences, const TranslationOptions& options) {
  const auto batch = static_cast<int64_t>(sentences.size());
  int64_t width = 0;
  for (const auto* s : sentences) width = std::max<int64_t>(width, static_cast<int64_t>(s->ids.size()));
  SourceBatch result{torch::zeros({batch, width}, torch::kInt64), torch::zeros({batch}, torch::kInt64), {}};
  auto lengths = result.lengths.accessor<int64_t, 1>();
  for (int64_t b = 0; b < batch; ++b) {
    const auto& ids = sentences[b]->ids;
    std::copy(ids.begin(), ids.end(), result.source[b].data_ptr<int64_t>());
    lengths[b] = static_cast<int64_t>(ids.size());
    result.max_lengths.push_back(options.OutputCap(lengths[b]));
  }
  return result;
}

std::vector<Translation> ModelBundle::DecodeBatch(const std::vector<const SourceSentence*>& batch_sources,
                                                  const TranslationOptions& options) const {
  c10::InferenceMode inference;
  const SourceBatch batch = MakeSourceBatch(batch_sources, options);
  SearchOptions search_options = options;
  search_options.record_attention = options.SearchesAttention();
  search_options.packed = &Packed(options.compute_type.value_or(kDefaultComputeType));
  search_options.shortlist = ShortlistFor(options);
  auto found = MakeSearch(options.beam_size)
                   ->Search(*network_, batch.source, batch.lengths, batch.max_lengths, search_options);
  std::vector<Translation> results;
  results.reserve(batch_sources.size());
  for (size_t b = 0; b < batch_sources.size(); ++b) {
    results.push_back(ToTranslation(*batch_sources[b], std::move(found[b]), options));
  }
  return results;
}

const PackedDecoder& ModelBundle::Packed(ComputeType type) const {
  const auto slot = static_cast<size_t>(type);
  std::call_once(packed_once_[slot], [&] { packed_[slot] = network_->PackDecoder(type); });
  return *packed_[slot];
}

const LexicalShortlist* ModelBundle::ShortlistFor(const TranslationOptions& options) const {
  if (!options.use_shortlist) return nullptr;
  if (!shortlist_) {
    throw FailedPreconditionError("model " + name_ + " version " + version_ +
                                  " has no vocabulary shortlist (versions trained before shortlists were "
                                  "learned have none); translate without use_shortlist, or retrain the model");
  }
  return shortlist_.get();
}

Translation ModelBundle::ToTranslation(const SourceSentence& source, std::vector<SearchHypothesis> hypotheses,
                                       const TranslationOptions& options) const {
  Translation result;
  result.source_tokens = source.tokens;
  for (auto& hyp : hypotheses) result.hypotheses.push_back(ToText(hyp, result.source_tokens, options));
  return result;
}

TranslatedHypothesis ModelBundle::ToText(const SearchHypothesis& hyp, const std::vector<std::string>& source_tokens,
                                         const TranslationOptions& options) const {
  TranslatedHypothesis t;
  t.score = hyp.score;
  for (size_t j = 0; j < hyp.ids.size(); ++j) {
    const int64_t id = hyp.ids[j];
    if (id == Vocabulary::kPad || id == Vocabulary::kSos || id == Vocabulary::kEos) continue;
    if (id == Vocabulary::kUnk && options.replace_unknown && j < hyp.attention.size()) {
      // The source token this step attended to most.
      const auto& row = hyp.attention[j];
      const size_t limit = std::min(row.size(), source_tokens.size());
      const size_t best = std::max_element(row.begin(), row.begin() + limit) - row.begin();
      t.tokens.push_back(source_tokens[best]);
    } else {
      t.tokens.push_back(target_vocab_.Token(id));
    }
  }
  t.text = target_tokenizer_->Detokenize(t.tokens);
  if (options.record_attention) {
    for (const auto& row : hyp.attention) {
      t.attention.insert(t.attention.end(), row.begin(), row.begin() + std::min(row.size(), source_tokens.size()));
    }
  }
  return t;
}

torch::Tensor ModelBundle::Table(Side side) const {
  return side == Side::kSource ? network_->source_embedding() : network_->target_embedding();
}

int64_t ModelBundle::WordId(Side side, const std::string& word) const {
  const Vocabulary& vocab = vocabulary(side);
  if (vocab.Contains(word) && !Vocabulary::IsSpecial(vocab.Id(word))) return vocab.Id(word);
  // The word may need the side's tokenizer to match a stored token (e.g. a SentencePiece "▁word").
  auto tokens = tokenizer(side).Tokenize(word);
  if (tokens.size() == 1 && vocab.Contains(tokens[0]) && !Vocabulary::IsSpecial(vocab.Id(tokens[0]))) {
    return vocab.Id(tokens[0]);
  }
  return Vocabulary::kUnk;
}

WordVector ModelBundle::WordEmbedding(Side side, const std::string& word) const {
  if (word.empty()) throw InvalidArgumentError("word is empty");
  WordVector result;
  result.id = WordId(side, word);
  result.in_vocabulary = result.id != Vocabulary::kUnk;
  result.values = Row(side, result.id);
  return result;
}

std::vector<float> ModelBundle::SentenceEmbedding(const std::string& sentence, SentencePooling pooling) const {
  // A batch of one through SentenceEmbeddings' encoder path, with the errors a single query gets.
  const auto tokens = source_tokenizer_->Tokenize(sentence);
  if (tokens.empty()) throw InvalidArgumentError("sentence is empty");
  if (static_cast<int64_t>(tokens.size()) > 1024) throw InvalidArgumentError("sentence has more than 1024 tokens");
  const torch::Tensor row = SentenceEmbeddings({sentence}, pooling, 1)[0].contiguous();
  return std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
}

torch::Tensor ModelBundle::SentenceEmbeddings(const std::vector<std::string>& sentences, SentencePooling pooling,
                                              int64_t batch_size) const {
  if (pooling == SentencePooling::kMeanStates && !network_->has_attention()) {
    throw FailedPreconditionError("model " + name_ + ": mean-pooled sentence vectors need per-token encoder "
                                  "outputs, which the seed architecture does not keep");
  }
  std::vector<std::vector<int64_t>> ids(sentences.size());
  for (size_t i = 0; i < sentences.size(); ++i) {
    ids[i] = source_vocab_.Encode(source_tokenizer_->Tokenize(sentences[i]));
    if (ids[i].size() > 1024) {
      throw InvalidArgumentError("sentence " + std::to_string(i) + " has more than 1024 tokens");
    }
  }
  std::vector<size_t> order;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!ids[i].empty()) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ids[a].size() < ids[b].size(); });
  c10::InferenceMode inference;
  torch::Tensor out;
  for (size_t begin = 0; begin < order.size(); begin += batch_size) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(batch_size));
    const int64_t b = static_cast<int64_t>(end - begin);
    const int64_t longest = static_cast<int64_t>(ids[order[end - 1]].size());
    auto source = torch::full({b, longest}, Vocabulary::kPad, torch::kInt64);
    auto lengths = torch::zeros({b}, torch::kInt64);
    for (int64_t r = 0; r < b; ++r) {
      const auto& row = ids[order[begin + r]];
      source[r].slice(0, 0, static_cast<int64_t>(row.size())).copy_(torch::tensor(row, torch::kInt64));
      lengths[r] = static_cast<int64_t>(row.size());
    }
    EncoderOutput encoded;
    network_->Encode(source, lengths, &encoded);
    torch::Tensor vectors;
    if (pooling == SentencePooling::kMeanStates) {
      auto mask = encoded.source_mask.unsqueeze(-1).to(torch::kFloat32);
      vectors = (encoded.memory.to(torch::kFloat32) * mask).sum(1) / lengths.unsqueeze(-1).to(torch::kFloat32);
    } else {
      vectors = encoded.context.to(torch::kFloat32);
    }
    if (!out.defined()) out = torch::zeros({static_cast<int64_t>(sentences.size()), vectors.size(1)});
    std::vector<int64_t> rows(order.begin() + begin, order.begin() + end);
    out.index_copy_(0, torch::tensor(rows, torch::kInt64), vectors);
  }
  if (!out.defined()) {
    // No sentence had a token: zero rows of the encoder's width, read off a one-token batch.
    EncoderOutput encoded;
    network_->Encode(torch::full({1, 1}, Vocabulary::kNumSpecial, torch::kInt64), torch::ones({1}, torch::kInt64),
                     &encoded);
    const int64_t width = (pooling == SentencePooling::kMeanStates ? encoded.memory : encoded.context).size(-1);
    out = torch::zeros({static_cast<int64_t>(sentences.size()), width});
  }
  return out;
}

std::vector<Neighbor> ModelBundle::ToNeighbors(Side side, const std::vector<ScoredId>& hits) const {
  std::vector<Neighbor> neighbors;
  for (const auto& hit : hits) neighbors.push_back({vocabulary(side).Token(hit.id), hit.id, hit.score});
  return neighbors;
}

int64_t ModelBundle::KnownWordId(Side side, const std::string& word) const {
  if (word.empty()) throw InvalidArgumentError("word is empty");
  // <PAD>'s row is zero and the others are markers, not words: their cosine means nothing.
  const Vocabulary& vocab = vocabulary(side);
  if (vocab.Contains(word) && Vocabulary::IsSpecial(vocab.Id(word))) {
    throw InvalidArgumentError("'" + word + "' is a special token, not a word, and cannot be queried");
  }
  const int64_t id = WordId(side, word);
  if (id == Vocabulary::kUnk) {
    throw NotFoundError("'" + word + "' is not in the " +
                        std::string(side == Side::kSource ? "source" : "target") + " vocabulary of model " +
                        name_);
  }
  return id;
}

std::vector<float> ModelBundle::Row(Side side, int64_t id) const {
  auto row = Table(side)[id].detach().to(torch::kFloat32).contiguous();
  return std::vector<float>(row.data_ptr<float>(), row.data_ptr<float>() + row.numel());
}

std::vector<Neighbor> ModelBundle::NearestWords(Side side, const std::string& word, int64_t k) const {
  return NearestWordsBatch(side, {word}, k).front();
}

std::vector<Neighbor> ModelBundle::NearestToVector(Side side, const std::vector<float>& vector, int64_t k) const {
  return NearestToVectors(side, {vector}, k).front();
}

std::vector<std::vector<Neighbor>> ModelBundle::NearestWordsBatch(Side side, const std::vector<std::string>& words,
                                                                  int64_t k) const {
  std::vector<std::vector<float>> queries;
  std::vector<int64_t> ids;
  for (const auto& word : words) {
    ids.push_back(KnownWordId(side, word));
    queries.push_back(Row(side, ids.back()));
  }
  std::vector<std::vector<Neighbor>> results;
  for (const auto& hits : Index(side).SearchBatch(queries, k, ids)) results.push_back(ToNeighbors(side, hits));
  return results;
}

std::vector<std::vector<Neighbor>> ModelBundle::NearestToVectors(Side side,
                                                                 const std::vector<std::vector<float>>& vectors,
                                                                 int64_t k) const {
  std::vector<std::vector<Neighbor>> results;
  for (const auto& hits : Index(side).SearchBatch(vectors, k)) results.push_back(ToNeighbors(side, hits));
  return results;
}

namespace {

// A word list for versions trained before word lists were counted: the vocabulary's tokens that are
// words (SentencePiece pieces that start a word, without their mark), with unknown counts (0).
WordList WordsFromVocabulary(const Vocabulary& vocab, bool subword) {
  std::vector<std::pair<std::string, int64_t>> words;
  for (int64_t id = Vocabulary::kNumSpecial; id < vocab.size(); ++id) {
    std::string token = vocab.Token(id);
    if (subword) {
      std::string word = TokenWord(token);
      if (word.size() == token.size()) continue;  // no word-start mark: a piece inside a word
      token = std::move(word);
    }
    if (IsWordToken(token)) words.emplace_back(std::move(token), 0);
  }
  return WordList::FromCounts(std::move(words));
}

}  // namespace

const ModelBundle::SideWords& ModelBundle::BuildSideWords(Side side) const {
  SideWords& entry = side_words_[side == Side::kSource ? 0 : 1];
  std::call_once(entry.once, [&] {
    const WordList& stored = side == Side::kSource ? word_tables_.source_words : word_tables_.target_words;
    entry.words = std::make_shared<const WordList>(
        stored.empty() ? WordsFromVocabulary(vocabulary(side), config_.tokenizer == "sentencepiece") : stored);
    const std::string side_name = side == Side::kSource ? "source" : "target";
    auto make = [&](VectorKind kind, const torch::Tensor& word_rows, const torch::Tensor& piece_rows) {
      auto rows = word_rows.defined() ? word_rows
                                      : WordSpace::ComposeAll(*entry.words, piece_rows, tokenizer(side), vocabulary(side));
      const IndexKind wanted = index_kind_.value_or(DefaultIndexKind(rows.size(0), rows.size(1)));
      const int k = static_cast<int>(kind);
      std::unique_ptr<EmbeddingIndex> index;
      auto stored = stored_indexes_.find(SpaceKey(side, kind));
      if (stored != stored_indexes_.end()) {
        entry.indexes[k] = stored->second.info;
        if (stored->second.info.kind != IndexKind::kFlat) {
          try {
            index = EmbeddingIndex::Deserialize(ReadFile(stored->second.path), stored->second.info.kind,
                                                entry.words->size(), rows.size(1), 0);
          } catch (const std::exception& e) {
            throw FailedPreconditionError("model " + name_ + " version " + version_ + ": " + stored->second.path + ": " + e.what());
          }
        }
      }
      const auto start = std::chrono::steady_clock::now();
      entry.spaces[k] = std::make_unique<const WordSpace>(entry.words, rows, piece_rows, &tokenizer(side), &vocabulary(side),
                                                          side_name + " " + VectorKindName(kind), wanted, std::move(index));
      if (stored == stored_indexes_.end()) {  // built here: measure it
        entry.indexes[k].kind = entry.spaces[k]->index().kind();
        entry.indexes[k].build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        // A calibrated HNSW index has just measured it over the same rows: not measured twice.
        const double calibrated = entry.spaces[k]->index().calibrated_recall();
        entry.indexes[k].recall_at_10 = calibrated >= 0 ? calibrated : entry.spaces[k]->MeasureRecallAt10();
      }
    };
    c10::InferenceMode inference;
    make(VectorKind::kInput, {}, Table(side));
    if (side == Side::kTarget) make(VectorKind::kOutput, {}, network_->output_rows());
    const StateAverages& states = side == Side::kSource ? word_tables_.source_states : word_tables_.target_states;
    // States were averaged over the stored word list; a derived list has no states.
    if (states.defined() && !stored.empty()) make(VectorKind::kContextual, states.words, states.pieces);
  });
  return entry;
}

std::vector<VectorKind> ModelBundle::VectorKinds(Side side) const {
  std::vector<VectorKind> kinds;
  const auto& entry = BuildSideWords(side);
  for (int i = 0; i < 3; ++i) {
    if (entry.spaces[i]) kinds.push_back(static_cast<VectorKind>(i));
  }
  return kinds;
}

VectorKind ModelBundle::DefaultVectorKind(Side side) const {
  // Judged with WordNet on the Bible es-en model (bench/embedding_quality.py; docs/retrieval.md):
  // on the source side the averaged encoder states score best, on the target side the embedding
  // table (tied to the output layer) does.
  if (side == Side::kTarget) return VectorKind::kInput;
  return BuildSideWords(side).spaces[static_cast<int>(VectorKind::kContextual)] ? VectorKind::kContextual
                                                                               : VectorKind::kInput;
}

ModelBundle::WordIndexInfo ModelBundle::WordIndex(Side side, VectorKind kind) const {
  Words(side, kind);  // FailedPreconditionError when the kind is not offered
  return BuildSideWords(side).indexes[static_cast<int>(kind)];
}

bool ModelBundle::HasCountedWords(Side side) const {
  return !(side == Side::kSource ? word_tables_.source_words : word_tables_.target_words).empty();
}

const WordSpace& ModelBundle::Words(Side side, std::optional<VectorKind> kind) const {
  const VectorKind chosen = kind.value_or(DefaultVectorKind(side));
  const auto& space = BuildSideWords(side).spaces[static_cast<int>(chosen)];
  if (!space) {
    throw FailedPreconditionError(std::string("model ") + name_ + " version " + version_ + " has no " +
                                  VectorKindName(chosen) + " vectors on the " +
                                  (side == Side::kSource ? "source" : "target") + " side");
  }
  return *space;
}

}  // namespace wordbridge
