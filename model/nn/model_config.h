// ModelConfig: everything that defines a model's network and text processing. Stored with the model
// as config.json. Defaults are the seed program's; attention models get their own via ForArchitecture.
#pragma once

#include <cstdint>
#include <string>

namespace wordbridge {

struct ModelConfig {
  // "seed" (the article's encoder-decoder, reproduced exactly) or "attention" (bidirectional encoder,
  // Luong attention with input feeding).
  std::string architecture = "seed";
  // "whitespace" (seed), "word" or "sentencepiece"; used on both sides.
  std::string tokenizer = "whitespace";
  // Embedding width.
  int64_t embed_dim = 64;
  // LSTM width (attention: the bidirectional encoder's two directions together).
  int64_t hidden_dim = 128;
  // LSTM layers in the encoder and in the decoder.
  int64_t num_layers = 1;
  // Dropout on embeddings, between LSTM layers and on the attentional output (attention only).
  double dropout = 0.0;
  // Attention only: the output layer reuses the target embedding table.
  bool tie_embeddings = false;
  // Attention only: the decoder starts from a learned bridge of the encoder's final states,
  // h = tanh(W_h h_enc + b_h), c = W_c c_enc + b_c, instead of those states as they are.
  bool bridge = false;
  // Tokens kept per side besides the specials; 0 = all (sentencepiece: its vocabulary size).
  int64_t max_vocab_size = 0;
  // Tokens seen fewer times are dropped (map to <UNK>).
  int64_t min_frequency = 1;

  // Filled when the vocabularies are built.
  int64_t source_vocab_size = 0;
  int64_t target_vocab_size = 0;

  // The defaults of an architecture: the seed's for "seed", the benchmark's for "attention".
  static ModelConfig ForArchitecture(const std::string& architecture);
  // Throws InvalidArgumentError naming the first bad field.
  void Validate() const;

  std::string ToJson() const;
  static ModelConfig FromJson(const std::string& json);
};

}  // namespace wordbridge
