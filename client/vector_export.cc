#include "client/vector_export.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>

#include "model/embed/vector_io.h"

namespace wordbridge {

namespace fs = std::filesystem;

ExportFormat ParseExportFormat(const std::string& name) {
  if (name == "word2vec") return ExportFormat::kWord2Vec;
  if (name == "tsv") return ExportFormat::kProjectorTsv;
  throw std::invalid_argument("unknown export format '" + name + "' (use word2vec or tsv)");
}

std::string ProjectorMetadataPath(const std::string& vectors_path) {
  const fs::path path(vectors_path);
  const std::string name = path.filename().string();
  const std::string suffix = "vectors.tsv";
  if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    return (path.parent_path() / (name.substr(0, name.size() - suffix.size()) + "metadata.tsv")).string();
  }
  return (path.parent_path() / (path.stem().string() + ".metadata.tsv")).string();
}

namespace {

// A file written under "<path>.partial" and renamed to `path` by Commit; removed if never committed.
class PendingFile {
 public:
  explicit PendingFile(std::string path) : path_(std::move(path)), partial_(path_ + ".partial") {
    out_.open(partial_, std::ios::binary | std::ios::trunc);
    if (!out_) throw std::runtime_error("cannot write " + partial_);
  }
  ~PendingFile() {
    if (!committed_) {
      out_.close();
      std::remove(partial_.c_str());
    }
  }
  std::ofstream& stream() { return out_; }
  void Commit() {
    out_.close();
    if (!out_) throw std::runtime_error("writing " + partial_ + " failed");
    fs::rename(partial_, path_);
    committed_ = true;
  }

 private:
  std::string path_, partial_;
  std::ofstream out_;
  bool committed_ = false;
};

}  // namespace

grpc::Status ExportVectorsToFile(WordBridgeClient& client, const v1::ExportVectorsRequest& request, ExportFormat format,
                                 const std::string& path, ExportSummary* summary) {
  PendingFile vectors(path);
  std::unique_ptr<PendingFile> metadata;
  if (format == ExportFormat::kProjectorTsv) {
    summary->metadata_path = ProjectorMetadataPath(path);
    metadata = std::make_unique<PendingFile>(summary->metadata_path);
  }
  std::optional<Word2VecTextWriter> word2vec;
  std::optional<ProjectorTsvWriter> projector;
  bool first = true;
  int64_t total = 0;
  auto status = client.ExportVectors(request, [&](const v1::ExportVectorsResponse& message) {
    if (first) {
      first = false;
      summary->model = message.model();
      summary->version = message.version();
      summary->vector_kind = message.vector_kind();
      summary->dimension = message.dimension();
      total = message.total_words();
      if (format == ExportFormat::kWord2Vec) {
        word2vec.emplace(vectors.stream(), message.total_words(), message.dimension());
      } else {
        projector.emplace(vectors.stream(), metadata->stream(), message.dimension());
      }
    }
    for (const auto& word : message.words()) {
      if (word2vec) {
        word2vec->Add(word.word(), word.vector().data(), word.vector_size());
      } else {
        projector->Add(word.word(), word.count(), word.vector().data(), word.vector_size());
      }
      ++summary->words;
    }
  });
  if (!status.ok()) return status;
  if (first) throw std::runtime_error("the server sent no export message");
  if (summary->words != total) {
    throw std::runtime_error("the server announced " + std::to_string(total) + " words and sent " +
                             std::to_string(summary->words));
  }
  vectors.Commit();
  if (metadata) metadata->Commit();
  return status;
}

}  // namespace wordbridge
