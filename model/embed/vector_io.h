// Word vectors as text files: the word2vec text format ("COUNT DIM" then "word v1 v2 ..." per line),
// which gensim's KeyedVectors.load_word2vec_format and fastText read, GloVe's (the same rows without
// the header line), and TensorBoard projector's pair of TSV files. Plain C++ (no torch): the CLI
// writes what ExportVectors streams with the same writer the model library uses.
#pragma once

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>
#include <unordered_map>
#include <vector>

namespace wordbridge {

// Writes the word2vec text format row by row: the header when made, then one line per Add. Numbers
// are written with %.6g: six significant digits, within 5e-6 relative of the float, in few bytes.
class Word2VecTextWriter {
 public:
  // Writes the header "words dimension".
  Word2VecTextWriter(std::ostream& out, int64_t words, int64_t dimension);
  // InvalidArgumentError for an empty word, a word with a space, tab or line break (the format cannot
  // hold it), a vector of another dimension, or more words than the header announced.
  void Add(const std::string& word, const float* values, int64_t size);
  int64_t written() const { return written_; }

 private:
  std::ostream& out_;
  int64_t words_, dimension_, written_ = 0;
};

// TensorBoard projector's files: `vectors` gets one line of tab-separated numbers per word, `metadata`
// a header row "word<TAB>count" and then one "word<TAB>count" row per word, in the same order.
class ProjectorTsvWriter {
 public:
  ProjectorTsvWriter(std::ostream& vectors, std::ostream& metadata, int64_t dimension);
  // The same checks as Word2VecTextWriter::Add.
  void Add(const std::string& word, int64_t count, const float* values, int64_t size);

 private:
  std::ostream& vectors_;
  std::ostream& metadata_;
  int64_t dimension_;
};

// Bounds on a vector file read (docs/retrieval.md, "Import and export").
struct VectorFileLimits {
  int64_t max_file_bytes = int64_t{2} << 30;  // 2 GiB: GloVe 6B 300d is 1 GiB
  int64_t max_dimension = 4096;               // the largest embed_dim a model may have
  int64_t max_words = 4000000;
  // > 0: stop after this many rows (the header's count is then not checked): enough to learn the
  // dimension without reading a large file.
  int64_t max_rows = 0;
};

struct WordVectors {
  int64_t dimension = 0;
  bool had_header = false;  // word2vec text (a "COUNT DIM" line) rather than GloVe
  std::vector<std::string> words;
  std::vector<float> values;  // words.size() x dimension, row-major
  std::unordered_map<std::string, int64_t> index;  // word -> row

  int64_t size() const { return static_cast<int64_t>(words.size()); }
  const float* row(int64_t i) const { return values.data() + i * dimension; }
  // Row of `word`, or -1.
  int64_t Find(const std::string& word) const;
};

// Reads word2vec text or GloVe, told apart by the first line: exactly two non-negative integers is a
// word2vec header (so a one-dimensional GloVe file whose first word is a number is read as a header,
// and then refused when the rows disagree with it). Fields are separated by spaces or tabs; a line may
// end in spaces or "\r". InvalidArgumentError starting "`what`, line N: " for an empty file, a blank
// line, a row without values, a row with another number of values than the first (or the header's
// dimension), a value that is not a number or is NaN/Inf or out of float range, a word that is not
// valid UTF-8, holds a carriage return or appears twice, a header whose count disagrees with the rows, or a dimension above
// limits.max_dimension; ResourceExhaustedError above limits.max_words.
WordVectors ReadWordVectors(std::istream& in, const std::string& what, const VectorFileLimits& limits = {});
// The same from a file: NotFoundError when it cannot be opened, ResourceExhaustedError when it is larger
// than limits.max_file_bytes (checked before reading). Errors name the file by its path.
WordVectors ReadWordVectorsFile(const std::string& path, const VectorFileLimits& limits = {});

// SentencePiece's word-start mark, U+2581, in UTF-8: the first piece of each word starts with it.
inline constexpr char kWordStartMark[] = "\xE2\x96\x81";

// The word a token of a model's vocabulary stands for when vectors are imported: SentencePiece's
// word-start mark removed from its front; other tokens as they are.
std::string TokenWord(const std::string& token);

}  // namespace wordbridge
