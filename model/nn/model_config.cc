#include "model/nn/model_config.h"

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

ModelConfig ModelConfig::FromJson(const std::string& text) {
  ModelConfig config;
  try {
    auto j = nlohmann::json::parse(text);
    config.architecture = j.at("architecture").get<std::string>();
    config.tokenizer = j.at("tokenizer").get<std::string>();
    config.embed_dim = j.at("embed_dim").get<int64_t>();
    config.hidden_dim = j.at("hidden_dim").get<int64_t>();
    config.num_layers = j.at("num_layers").get<int64_t>();
    config.dropout = j.at("dropout").get<double>();
    config.tie_embeddings = j.at("tie_embeddings").get<bool>();
    config.bridge = j.value("bridge", false);  // versions written before the bridge existed have none
    config.max_vocab_size = j.at("max_vocab_size").get<int64_t>();
    config.min_frequency = j.at("min_frequency").get<int64_t>();
    config.source_vocab_size = j.at("source_vocab_size").get<int64_t>();
    config.target_vocab_size = j.at("target_vocab_size").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw FailedPreconditionError(std::string("bad model config.json: ") + e.what());
  }
  config.Validate();
  return config;
}

}  // namespace wordbridge
