// The CLI's `export`: a side's word vectors from ExportVectors into files, as word2vec text (what
// gensim's KeyedVectors.load_word2vec_format reads) or TensorBoard projector's pair of TSV files. The
// rows are written with the model library's writers (model/embed/vector_io.h).
#pragma once

#include <cstdint>
#include <string>

#include "client/wordbridge_client.h"

namespace wordbridge {

enum class ExportFormat { kWord2Vec, kProjectorTsv };

// "word2vec" or "tsv"; std::invalid_argument otherwise.
ExportFormat ParseExportFormat(const std::string& name);

// The projector's metadata file for vectors written to `vectors_path`: a name ending in "vectors.tsv"
// gets "metadata.tsv" in its place (out/vectors.tsv -> out/metadata.tsv, en-vectors.tsv ->
// en-metadata.tsv); any other gets ".metadata.tsv" after its stem (target.tsv -> target.metadata.tsv).
std::string ProjectorMetadataPath(const std::string& vectors_path);

struct ExportSummary {
  int64_t words = 0;
  int64_t dimension = 0;
  std::string model, version, vector_kind;
  std::string metadata_path;  // kProjectorTsv only
};

// Runs ExportVectors and writes its words to `path` (and the metadata file). Files are written under a
// temporary name and renamed when complete, so a failed export leaves no partial file behind. A
// non-OK status is the server's; std::runtime_error for a file that cannot be written.
grpc::Status ExportVectorsToFile(WordBridgeClient& client, const v1::ExportVectorsRequest& request, ExportFormat format,
                                 const std::string& path, ExportSummary* summary);

}  // namespace wordbridge
