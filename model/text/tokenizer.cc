#include "model/text/tokenizer.h"

#include <dlfcn.h>
#include <unicode/brkiter.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "model/common/errors.h"
#include "model/common/file_util.h"
#include "model/text/spm_shim.h"

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

// The SentencePiece shim, loaded once into a link-map namespace of its own (see spm_shim.h).
class SpmLibrary {
 public:
  static const SpmLibrary& Get() {
    static const SpmLibrary library;
    return library;
  }

  decltype(&wbspm_load) load;
  decltype(&wbspm_release) release;
  decltype(&wbspm_encode) encode;
  decltype(&wbspm_decode) decode;
  decltype(&wbspm_train) train;
  decltype(&wbspm_free_buffer) free_buffer;

  // Takes ownership of a buffer the shim filled.
  std::string Take(WbSpmBuffer* buffer) const {
    std::string value(buffer->data ? buffer->data : "", buffer->size);
    free_buffer(buffer);
    return value;
  }

 private:
  SpmLibrary() {
    std::vector<std::string> candidates;
    if (const char* env = std::getenv("WORDBRIDGE_SPM_SHIM")) candidates.push_back(env);
    std::error_code ec;
    auto exe_dir = std::filesystem::read_symlink("/proc/self/exe", ec).parent_path();
    if (!ec) {
      candidates.push_back((exe_dir / "libwordbridge_spm.so").string());
      candidates.push_back((exe_dir / ".." / "lib" / "wordbridge" / "libwordbridge_spm.so").string());
    }
#ifdef WORDBRIDGE_SPM_SHIM_BUILD_PATH
    candidates.push_back(WORDBRIDGE_SPM_SHIM_BUILD_PATH);
#endif
    std::string errors;
    for (const auto& path : candidates) {
      if (!std::filesystem::exists(path)) continue;
      handle_ = dlmopen(LM_ID_NEWLM, path.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (handle_ != nullptr) break;
      errors += std::string(" ") + dlerror();
    }
    if (handle_ == nullptr) {
      throw FailedPreconditionError("the sentencepiece tokenizer is unavailable: libwordbridge_spm.so not found" +
                                    errors);
    }
    load = Resolve<decltype(load)>("wbspm_load");
    release = Resolve<decltype(release)>("wbspm_release");
    encode = Resolve<decltype(encode)>("wbspm_encode");
    decode = Resolve<decltype(decode)>("wbspm_decode");
    train = Resolve<decltype(train)>("wbspm_train");
    free_buffer = Resolve<decltype(free_buffer)>("wbspm_free_buffer");
  }

  template <typename Fn>
  Fn Resolve(const char* name) const {
    void* symbol = dlsym(handle_, name);
    if (symbol == nullptr) throw FailedPreconditionError(std::string("sentencepiece shim lacks ") + name);
    return reinterpret_cast<Fn>(symbol);
  }

  void* handle_ = nullptr;
};

class SentencePieceTokenizer : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(std::string serialized_model)
      : library_(SpmLibrary::Get()), serialized_(std::move(serialized_model)) {
    WbSpmBuffer error{};
    if (library_.load(serialized_.data(), serialized_.size(), &processor_, &error) != 0) {
      throw FailedPreconditionError("bad sentencepiece model: " + library_.Take(&error));
    }
  }
  ~SentencePieceTokenizer() override { library_.release(processor_); }

  std::string name() const override { return "sentencepiece"; }
  std::vector<std::string> Tokenize(const std::string& text) const override {
    std::string line = text;
    std::replace(line.begin(), line.end(), '\n', ' ');
    WbSpmBuffer pieces{}, error{};
    if (library_.encode(processor_, line.data(), line.size(), &pieces, &error) != 0) {
      throw InvalidArgumentError("sentencepiece: " + library_.Take(&error));
    }
    std::vector<std::string> out;
    std::string joined = library_.Take(&pieces);
    size_t start = 0;
    for (size_t i = 0; i <= joined.size(); ++i) {
      if (i == joined.size() || joined[i] == '\n') {
        if (i > start) out.push_back(joined.substr(start, i - start));
        start = i + 1;
      }
    }
    return out;
  }
  std::string Detokenize(const std::vector<std::string>& tokens) const override {
    std::string joined;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) joined += '\n';
      joined += tokens[i];
    }
    WbSpmBuffer text{}, error{};
    if (library_.decode(processor_, joined.data(), joined.size(), &text, &error) != 0) {
      library_.Take(&error);
      return JoinWithSpaces(tokens);
    }
    return library_.Take(&text);
  }
  void Save(const std::string& path_prefix) const override {
    WriteFileAtomically(path_prefix + ".spm", serialized_);
  }

 private:
  const SpmLibrary& library_;
  std::string serialized_;
  void* processor_ = nullptr;
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
  std::string joined;
  for (const auto& line : text) {
    std::string clean = line;
    std::replace(clean.begin(), clean.end(), '\n', ' ');
    joined += clean;
    joined += '\n';
  }
  const SpmLibrary& library = SpmLibrary::Get();
  WbSpmBuffer model{}, error{};
  if (library.train(args.c_str(), joined.data(), joined.size(), &model, &error) != 0) {
    throw InvalidArgumentError("sentencepiece training failed: " + library.Take(&error));
  }
  return std::make_unique<SentencePieceTokenizer>(library.Take(&model));
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
