#include "model/nn/model_config.h"

#include <cstdint>

#include <nlohmann/json.hpp>

#include "model/common/errors.h"
#include "model/text/tokenizer.h"

namespace wordbridge {

ModelConfig ModelConfig::ForArchitecture(const std::string& architecture) {
  ModelConfig config;
  config.architecture = architecture;
  if (architecture == "attention") {
    config.tokenizer = "sentencepiece";
    config.embed_dim = 256;
    config.hidden_dim = 256;
    config.dropout = 0.2;
    config.tie_embeddings = true;
    config.bridge = true;
    config.max_vocab_size = 8000;
  }
  return config;
}

void ModelConfig::Validate() const {
  auto fail = [](const std::string& what) { throw InvalidArgumentError("model config: " + what); };
  if (architecture != "seed" && architecture != "attention") {
    fail("unknown architecture '" + architecture + "' (expected seed or attention)");
  }
  if (!IsKnownTokenizer(tokenizer)) {
    fail("unknown tokenizer '" + tokenizer + "' (expected whitespace, word or sentencepiece)");
  }
  if (embed_dim < 1 || embed_dim > 4096) fail("embed_dim must be in [1, 4096]");
  if (hidden_dim < 1 || hidden_dim > 4096) fail("hidden_dim must be in [1, 4096]");
  if (architecture == "attention" && hidden_dim % 2 != 0) {
    fail("hidden_dim must be even for the bidirectional encoder");
  }
  if (num_layers < 1 || num_layers > 8) fail("num_layers must be in [1, 8]");
  if (!(dropout >= 0.0 && dropout < 1.0)) fail("dropout must be in [0, 1)");  // NaN fails too
  if (max_vocab_size < 0 || max_vocab_size > 2000000) fail("max_vocab_size must be in [0, 2000000]");
  if (tokenizer == "sentencepiece" && max_vocab_size != 0 && max_vocab_size < 8) {
    fail("a sentencepiece vocabulary needs at least 8 pieces");
  }
  if (min_frequency < 0) fail("min_frequency must be >= 0");
}

std::string ModelConfig::ToJson() const {
  nlohmann::json j = {{"architecture", architecture},     {"tokenizer", tokenizer},
                      {"embed_dim", embed_dim},           {"hidden_dim", hidden_dim},
                      {"num_layers", num_layers},         {"dropout", dropout},
                      {"tie_embeddings", tie_embeddings}, {"bridge", bridge},
                      {"max_vocab_size", max_vocab_size},
                      {"min_frequency", min_frequency},   {"source_vocab_size", source_vocab_size},
                      {"target_vocab_size", target_vocab_size}};
  return j.dump(2) + "\n";
}

namespace {

// An integer field of config.json. nlohmann's get<int64_t>() converts a float such as 1e300 with
// static_cast, which is undefined behaviour out of range (found by fuzz/model_files_fuzzer.cc), and
// wraps integers above INT64_MAX; sizes written by ToJson are always integers, so others are damage.
int64_t IntegerField(const nlohmann::json& j, const char* key) {
  const auto& value = j.at(key);
  if (!value.is_number_integer() ||
      (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
    throw FailedPreconditionError(std::string("bad model config.json: ") + key + " is not a 64-bit integer");
  }
  return value.get<int64_t>();
}

}  // namespace

ModelConfig ModelConfig::FromJson(const std::string& text) {
  ModelConfig config;
  try {
    auto j = nlohmann::json::parse(text);
    config.architecture = j.at("architecture").get<std::string>();
    config.tokenizer = j.at("tokenizer").get<std::string>();
    config.embed_dim = IntegerField(j, "embed_dim");
    config.hidden_dim = IntegerField(j, "hidden_dim");
    config.num_layers = IntegerField(j, "num_layers");
    config.dropout = j.at("dropout").get<double>();
    config.tie_embeddings = j.at("tie_embeddings").get<bool>();
    config.bridge = j.value("bridge", false);  // versions written before the bridge existed have none
    config.max_vocab_size = IntegerField(j, "max_vocab_size");
    config.min_frequency = IntegerField(j, "min_frequency");
    config.source_vocab_size = IntegerField(j, "source_vocab_size");
    config.target_vocab_size = IntegerField(j, "target_vocab_size");
  } catch (const nlohmann::json::exception& e) {
    throw FailedPreconditionError(std::string("bad model config.json: ") + e.what());
  }
  config.Validate();
  return config;
}

}  // namespace wordbridge
