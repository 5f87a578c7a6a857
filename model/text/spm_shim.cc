// The SentencePiece shim: a thin C wrapper, see spm_shim.h for why it exists.
#include "model/text/spm_shim.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

void Fill(const std::string& value, WbSpmBuffer* buffer) {
  buffer->size = value.size();
  buffer->data = static_cast<char*>(std::malloc(value.size() + 1));
  std::memcpy(buffer->data, value.data(), value.size());
  buffer->data[value.size()] = '\0';
}

int Fail(const std::string& message, WbSpmBuffer* error) {
  Fill(message, error);
  return 1;
}

std::vector<std::string> SplitLines(const char* data, size_t size) {
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t i = 0; i <= size; ++i) {
    if (i == size || data[i] == '\n') {
      if (i > start) lines.emplace_back(data + start, i - start);
      start = i + 1;
    }
  }
  return lines;
}

class LinesIterator : public sentencepiece::SentenceIterator {
 public:
  explicit LinesIterator(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  bool done() const override { return index_ >= lines_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return lines_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> lines_;
  size_t index_ = 0;
};

}  // namespace

extern "C" {

int wbspm_load(const char* model, size_t model_size, void** processor, WbSpmBuffer* error) {
  auto* p = new sentencepiece::SentencePieceProcessor();
  auto status = p->LoadFromSerializedProto(std::string(model, model_size));
  if (!status.ok()) {
    delete p;
    return Fail(status.ToString(), error);
  }
  *processor = p;
  return 0;
}

void wbspm_release(void* processor) { delete static_cast<sentencepiece::SentencePieceProcessor*>(processor); }

int wbspm_encode(void* processor, const char* text, size_t text_size, WbSpmBuffer* pieces, WbSpmBuffer* error) {
  std::vector<std::string> out;
  auto status =
      static_cast<sentencepiece::SentencePieceProcessor*>(processor)->Encode(std::string(text, text_size), &out);
  if (!status.ok()) return Fail(status.ToString(), error);
  std::string joined;
  for (size_t i = 0; i < out.size(); ++i) {
    if (i) joined += '\n';
    joined += out[i];
  }
  Fill(joined, pieces);
  return 0;
}

int wbspm_decode(void* processor, const char* pieces, size_t pieces_size, WbSpmBuffer* text, WbSpmBuffer* error) {
  std::string out;
  auto status =
      static_cast<sentencepiece::SentencePieceProcessor*>(processor)->Decode(SplitLines(pieces, pieces_size), &out);
  if (!status.ok()) return Fail(status.ToString(), error);
  Fill(out, text);
  return 0;
}

int wbspm_train(const char* args, const char* sentences, size_t sentences_size, WbSpmBuffer* model,
                WbSpmBuffer* error) {
  LinesIterator iterator(SplitLines(sentences, sentences_size));
  std::string serialized;
  auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &serialized);
  if (!status.ok()) return Fail(status.ToString(), error);
  Fill(serialized, model);
  return 0;
}

void wbspm_free_buffer(WbSpmBuffer* buffer) {
  std::free(buffer->data);
  buffer->data = nullptr;
  buffer->size = 0;
}
}
