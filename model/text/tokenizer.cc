#include "model/text/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#include <unicode/brkiter.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/common/errors.h"
#include "model/common/file_util.h"

namespace wordbridge {

namespace {

std::string JoinWithSpaces(const std::vector<std::string>& tokens) {
  std::string text;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (i) text += ' ';
    text += tokens[i];
  }
  return text;
}

class WhitespaceTokenizer : public Tokenizer {
 public:
  std::string name() const override { return "whitespace"; }
  std::vector<std::string> Tokenize(const std::string& text) const override {
    return SplitWhitespace(text);
  }
  std::string Detokenize(const std::vector<std::string>& tokens) const override {
    return JoinWithSpaces(tokens);
  }
};

// First and last code points of a UTF-8 token.
UChar32 FirstCodePoint(const std::string& s) {
  int32_t i = 0;
  UChar32 c = 0;
  U8_NEXT(reinterpret_cast<const uint8_t*>(s.data()), i, static_cast<int32_t>(s.size()), c);
  return c;
}
UChar32 LastCodePoint(const std::string& s) {
  int32_t i = static_cast<int32_t>(s.size());
  UChar32 c = 0;
  U8_PREV(reinterpret_cast<const uint8_t*>(s.data()), 0, i, c);
  return c;
}

// Scripts written without spaces between words.
bool IsUnspacedScript(UChar32 c) {
  UErrorCode status = U_ZERO_ERROR;
  UScriptCode script = uscript_getScript(c, &status);
  return script == USCRIPT_HAN || script == USCRIPT_HIRAGANA || script == USCRIPT_KATAKANA ||
         script == USCRIPT_THAI || script == USCRIPT_LAO || script == USCRIPT_KHMER ||
         script == USCRIPT_MYANMAR;
}

// Punctuation that attaches to the word before it ("word," "word.") or after it ("¿word" "(word").
bool AttachesLeft(UChar32 c) {
  int8_t type = u_charType(c);
  return type == U_END_PUNCTUATION || type == U_FINAL_PUNCTUATION ||
         (type == U_OTHER_PUNCTUATION && c != '#' && c != '&' && c != '*' && c != '@' &&
          c != 0x00BF /*¿*/ && c != 0x00A1 /*¡*/ && c != '"' && c != '\'');
}
bool AttachesRight(UChar32 c) {
  int8_t type = u_charType(c);
  return type == U_START_PUNCTUATION || type == U_INITIAL_PUNCTUATION || c == 0x00BF || c == 0x00A1;
}

class WordTokenizer : public Tokenizer {
 public:
  std::string name() const override { return "word"; }

  std::vector<std::string> Tokenize(const std::string& text) const override {
    // A break iterator is costly to create and not thread-safe: one per thread, reused.
    thread_local std::unique_ptr<icu::BreakIterator> iterator = [] {
      UErrorCode status = U_ZERO_ERROR;
      std::unique_ptr<icu::BreakIterator> it(
          icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
      if (U_FAILURE(status)) throw Error("ICU word break iterator unavailable");
      return it;
    }();
    icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(text);
    iterator->setText(unicode);
    std::vector<std::string> tokens;
    int32_t start = iterator->first();
    for (int32_t end = iterator->next(); end != icu::BreakIterator::DONE;
         start = end, end = iterator->next()) {
      icu::UnicodeString piece = unicode.tempSubStringBetween(start, end);
      bool blank = true;
      for (int32_t i = 0; i < piece.length() && blank; ++i) blank = u_isUWhiteSpace(piece.char32At(i));
      if (blank) continue;
      std::string utf8;
      piece.toUTF8String(utf8);
      tokens.push_back(std::move(utf8));
    }
    return tokens;
  }

  std::string Detokenize(const std::vector<std::string>& tokens) const override {
    std::string text;
    for (size_t i = 0; i < tokens.size(); ++i) {
      const std::string& token = tokens[i];
      if (token.empty()) continue;
      if (!text.empty()) {
        UChar32 prev = LastCodePoint(text), next = FirstCodePoint(token);
        bool glue = AttachesRight(prev) || AttachesLeft(next) ||
                    (IsUnspacedScript(prev) && IsUnspacedScript(next)) ||
                    (IsUnspacedScript(prev) && u_ispunct(next)) ||
                    (u_ispunct(prev) && IsUnspacedScript(next) && !u_isspace(prev) && prev >= 0x3000);
        if (!glue) text += ' ';
      }
      text += token;
    }
    return text;
  }
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(const std::string& serialized_model) : serialized_(serialized_model) {
    auto status = processor_.LoadFromSerializedProto(serialized_);
    if (!status.ok()) throw FailedPreconditionError("bad sentencepiece model: " + status.ToString());
  }
  std::string name() const override { return "sentencepiece"; }
  std::vector<std::string> Tokenize(const std::string& text) const override {
    std::vector<std::string> pieces;
    auto status = processor_.Encode(text, &pieces);
    if (!status.ok()) throw InvalidArgumentError("sentencepiece: " + status.ToString());
    return pieces;
  }
  std::string Detokenize(const std::vector<std::string>& tokens) const override {
    std::string text;
    auto status = processor_.Decode(tokens, &text);
    if (!status.ok()) return JoinWithSpaces(tokens);
    return text;
  }
  void Save(const std::string& path_prefix) const override {
    WriteFileAtomically(path_prefix + ".spm", serialized_);
  }

 private:
  std::string serialized_;
  sentencepiece::SentencePieceProcessor processor_;
};

// Feeds sentences to the SentencePiece trainer without a temporary file.
class VectorSentenceIterator : public sentencepiece::SentenceIterator {
 public:
  explicit VectorSentenceIterator(const std::vector<std::string>& text) : text_(text) {}
  bool done() const override { return index_ >= text_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return text_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& text_;
  size_t index_ = 0;
};

std::unique_ptr<Tokenizer> TrainSentencePiece(const std::vector<std::string>& text,
                                              const TokenizerOptions& options) {
  if (options.vocab_size < 8) throw InvalidArgumentError("sentencepiece vocabulary size must be >= 8");
  if (text.empty()) throw InvalidArgumentError("sentencepiece needs training text");
  // hard_vocab_limit=false lets tiny corpora train with a smaller vocabulary than asked for.
  std::string args = "--model_type=unigram --vocab_size=" + std::to_string(options.vocab_size) +
                     " --character_coverage=0.9995 --hard_vocab_limit=false"
                     " --input_sentence_size=2000000 --shuffle_input_sentence=true"
                     " --num_threads=" + std::to_string(std::max(1, options.threads)) +
                     " --minloglevel=2 --unk_id=0 --bos_id=-1 --eos_id=-1 --pad_id=-1";
  VectorSentenceIterator iterator(text);
  std::string serialized;
  auto status = sentencepiece::SentencePieceTrainer::Train(args, &iterator, &serialized);
  if (!status.ok()) throw InvalidArgumentError("sentencepiece training failed: " + status.ToString());
  return std::make_unique<SentencePieceTokenizer>(serialized);
}

}  // namespace

bool IsKnownTokenizer(const std::string& name) {
  return name == "whitespace" || name == "word" || name == "sentencepiece";
}

std::unique_ptr<Tokenizer> CreateTokenizer(const std::string& name,
                                           const std::vector<std::string>& training_text,
                                           const TokenizerOptions& options) {
  if (name == "whitespace") return std::make_unique<WhitespaceTokenizer>();
  if (name == "word") return std::make_unique<WordTokenizer>();
  if (name == "sentencepiece") return TrainSentencePiece(training_text, options);
  throw InvalidArgumentError("unknown tokenizer '" + name +
                             "' (expected whitespace, word or sentencepiece)");
}

std::unique_ptr<Tokenizer> LoadTokenizer(const std::string& name, const std::string& path_prefix) {
  if (name == "sentencepiece") {
    return std::make_unique<SentencePieceTokenizer>(ReadFile(path_prefix + ".spm"));
  }
  return CreateTokenizer(name, {}, {});
}

}  // namespace wordbridge
