#include "model/embed/vector_io.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "model/common/errors.h"
#include "model/text/split.h"

namespace wordbridge {
namespace {

// A word the text formats can hold: not empty, no field or line separator.
void CheckWord(const std::string& word) {
  if (word.empty()) throw InvalidArgumentError("an empty word cannot be written as a vector file's row");
  if (word.find_first_of(" \t\r\n") != std::string::npos) {
    throw InvalidArgumentError("the word '" + word + "' holds a space, tab or line break, which a vector file's row cannot");
  }
}

void CheckSize(int64_t size, int64_t dimension, const std::string& word) {
  if (size != dimension) {
    throw InvalidArgumentError("the vector of '" + word + "' has " + std::to_string(size) + " values, not " +
                               std::to_string(dimension));
  }
}

// `values` as text, each preceded by `separator`.
void WriteNumbers(std::ostream& out, const float* values, int64_t size, char separator, bool leading) {
  char number[32];
  for (int64_t i = 0; i < size; ++i) {
    // %.6g: six significant digits (within 5e-6 relative), in few bytes.
    std::snprintf(number, sizeof number, "%.6g", values[i]);
    if (leading || i > 0) out << separator;
    out << number;
  }
}

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::vector<std::string_view> Fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

// A non-negative decimal integer (digits only).
bool ParseCount(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return std::from_chars(s.data(), s.data() + s.size(), *out).ec == std::errc();
}

}  // namespace

Word2VecTextWriter::Word2VecTextWriter(std::ostream& out, int64_t words, int64_t dimension)
    : out_(out), words_(words), dimension_(dimension) {
  out_ << words << ' ' << dimension << '\n';
}

void Word2VecTextWriter::Add(const std::string& word, const float* values, int64_t size) {
  CheckWord(word);
  CheckSize(size, dimension_, word);
  if (written_ == words_) {
    throw InvalidArgumentError("more words than the " + std::to_string(words_) + " the header announced");
  }
  out_ << word;
  WriteNumbers(out_, values, size, ' ', /*leading=*/true);
  out_ << '\n';
  ++written_;
}

ProjectorTsvWriter::ProjectorTsvWriter(std::ostream& vectors, std::ostream& metadata, int64_t dimension)
    : vectors_(vectors), metadata_(metadata), dimension_(dimension) {
  metadata_ << "word\tcount\n";
}

void ProjectorTsvWriter::Add(const std::string& word, int64_t count, const float* values, int64_t size) {
  CheckWord(word);
  CheckSize(size, dimension_, word);
  WriteNumbers(vectors_, values, size, '\t', /*leading=*/false);
  vectors_ << '\n';
  metadata_ << word << '\t' << count << '\n';
}

int64_t WordVectors::Find(const std::string& word) const {
  auto it = index.find(word);
  return it == index.end() ? -1 : it->second;
}

WordVectors ReadWordVectors(std::istream& in, const std::string& what, const VectorFileLimits& limits) {
  WordVectors vectors;
  int64_t line_number = 0, blank_line = 0, header_count = -1;
  auto fail = [&](int64_t line, const std::string& message) -> void {
    throw InvalidArgumentError(what + ", line " + std::to_string(line) + ": " + message);
  };
  auto check_dimension = [&](int64_t dimension, const char* from) {
    if (dimension > limits.max_dimension) {
      fail(line_number, std::string(from) + " " + std::to_string(dimension) + " values per word; at most " +
                            std::to_string(limits.max_dimension) + " are accepted");
    }
  };
  std::string text;
  while (std::getline(in, text)) {
    ++line_number;
    std::string_view line(text);
    if (line_number == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // a UTF-8 byte order mark
    while (!line.empty() && (IsBlank(line.back()) || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) {
      if (blank_line == 0) blank_line = line_number;  // refused unless only blank lines follow
      continue;
    }
    if (blank_line > 0) fail(blank_line, "a blank line");
    const auto fields = Fields(line);
    if (line_number == 1 && fields.size() == 2) {
      int64_t count = 0, dimension = 0;
      if (ParseCount(fields[0], &count) && ParseCount(fields[1], &dimension)) {
        // The word2vec text header.
        if (dimension < 1) fail(1, "the header's dimension is 0");
        check_dimension(dimension, "the header gives");
        if (count > limits.max_words) {
          throw ResourceExhaustedError(what + ", line 1: the header announces " + std::to_string(count) +
                                       " words; at most " + std::to_string(limits.max_words) + " are accepted");
        }
        vectors.had_header = true;
        vectors.dimension = dimension;
        header_count = count;
        if (limits.max_rows <= 0) {
          vectors.words.reserve(count);
          vectors.values.reserve(count * dimension);
        }
        continue;
      }
    }
    const std::string word(fields[0]);
    const int64_t size = static_cast<int64_t>(fields.size()) - 1;
    if (size == 0) fail(line_number, "the word '" + word + "' has no values");
    if (!IsValidUtf8(word)) fail(line_number, "the word is not valid UTF-8");
    if (word.find('\r') != std::string::npos) fail(line_number, "the word holds a carriage return");
    if (vectors.dimension == 0) {
      check_dimension(size, "the first row has");
      vectors.dimension = size;
    } else if (size != vectors.dimension) {
      fail(line_number, "'" + word + "' has " + std::to_string(size) + " values, expected " +
                            std::to_string(vectors.dimension) +
                            (vectors.had_header ? " (the header's dimension)" : " (as the first row)"));
    }
    if (header_count >= 0 && vectors.size() == header_count) {
      fail(line_number, "more rows than the " + std::to_string(header_count) + " words the header (line 1) announces");
    }
    if (vectors.size() >= limits.max_words) {
      throw ResourceExhaustedError(what + ", line " + std::to_string(line_number) + ": more than " +
                                   std::to_string(limits.max_words) + " words");
    }
    for (int64_t i = 1; i <= size; ++i) {
      std::string_view field = fields[i];
      if (field.size() > 1 && field[0] == '+') field.remove_prefix(1);
      float value = 0;
      const auto [end, error] = std::from_chars(field.data(), field.data() + field.size(), value);
      if (error == std::errc::result_out_of_range) {
        fail(line_number, "value " + std::to_string(i) + " of '" + word + "' (" + std::string(fields[i]) +
                              ") is out of float range");
      }
      if (error != std::errc() || end != field.data() + field.size()) {
        fail(line_number, "value " + std::to_string(i) + " of '" + word + "' (" + std::string(fields[i]) +
                              ") is not a number");
      }
      if (!std::isfinite(value)) {
        fail(line_number, "value " + std::to_string(i) + " of '" + word + "' is " + std::string(fields[i]) +
                              " (NaN and infinities are refused)");
      }
      vectors.values.push_back(value);
    }
    auto [it, inserted] = vectors.index.emplace(word, vectors.size());
    if (!inserted) {
      // The row number of the first occurrence, plus the header's line.
      fail(line_number, "the word '" + word + "' appears twice (first on line " +
                            std::to_string(it->second + 1 + (vectors.had_header ? 1 : 0)) + ")");
    }
    vectors.words.push_back(word);
    if (limits.max_rows > 0 && vectors.size() >= limits.max_rows) return vectors;
  }
  if (vectors.dimension == 0) fail(1, "the file is empty");
  if (header_count >= 0 && vectors.size() != header_count && limits.max_rows <= 0) {
    fail(1, "the header announces " + std::to_string(header_count) + " words, but the file has " +
                std::to_string(vectors.size()));
  }
  return vectors;
}

WordVectors ReadWordVectorsFile(const std::string& path, const VectorFileLimits& limits) {
  const std::string name = std::filesystem::path(path).filename().string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NotFoundError("cannot open the vector file " + name);
  std::error_code error;
  const auto bytes = std::filesystem::file_size(path, error);
  if (!error && static_cast<int64_t>(bytes) > limits.max_file_bytes) {
    throw ResourceExhaustedError("the vector file " + name + " has " + std::to_string(bytes) + " bytes; at most " +
                                 std::to_string(limits.max_file_bytes) + " are accepted");
  }
  return ReadWordVectors(in, name, limits);
}

std::string TokenWord(const std::string& token) {
  constexpr size_t kMarkBytes = sizeof(kWordStartMark) - 1;
  return token.compare(0, kMarkBytes, kWordStartMark) == 0 ? token.substr(kMarkBytes) : token;
}

}  // namespace wordbridge
