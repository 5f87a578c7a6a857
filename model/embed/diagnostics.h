// Embedding diagnostics: what one side's word vectors (of one kind) look like as a whole - their
// sizes, the spread of their norms with the words far outside it (the seed program's anomaly check:
// a norm more than 3 standard deviations from the mean), and a 2-D PCA map of the most frequent
// words. Plain computations over a WordSpace; the projection's SVG is drawn by projection_svg.h.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <vector>

#include "model/embed/word_space.h"

namespace wordbridge {

struct DiagnosticsOptions {
  // The N most frequent words projected to 2-D; 0 = no projection. At most kMaxProjectionWords.
  int64_t projection_words = 500;
  // A word is an outlier when |norm - mean| > outlier_sigmas * std (population std).
  double outlier_sigmas = 3.0;
  // Outliers listed, most extreme first (the total is always reported).
  int64_t max_outliers = 100;

  static constexpr int64_t kMaxProjectionWords = 10000;
  void Validate() const;  // InvalidArgumentError
};

// Statistics of the rows' L2 norms: mean, population standard deviation, extremes (0 for no rows).
struct NormStats {
  double mean = 0, std = 0, min = 0, max = 0;
};

struct NormOutlier {
  int64_t row = -1;  // index in the rows (for a WordSpace: in its word list)
  double norm = 0;
  double sigmas = 0;  // (norm - mean) / std, signed
};

struct NormReport {
  NormStats stats;
  std::vector<NormOutlier> outliers;  // most extreme first, at most max_outliers
  int64_t outlier_count = 0;          // all of them
};

// Norm statistics of `rows` [n, d] and the rows whose norm lies more than `sigmas` standard
// deviations from the mean (none when the norms are all equal).
NormReport AnalyseNorms(const torch::Tensor& rows, double sigmas, int64_t max_outliers);

// A 2-D principal component projection of `rows` [n, d]: centred on their mean, onto the two
// directions of largest variance. Each direction's sign is fixed so that its largest-magnitude
// component is positive, so the same vectors always draw the same map.
struct Projection {
  std::vector<std::array<double, 2>> points;  // one per row
  std::array<double, 2> explained{0, 0};      // the share of the total variance along each axis
  torch::Tensor centre;                       // [d]
  torch::Tensor axes;                         // [2, d], unit rows (zero when there is no such variance)
};
Projection ProjectToPlane(const torch::Tensor& rows);

struct ProjectedWord {
  int64_t word = -1;  // index in the word list (0 = the most frequent)
  double x = 0, y = 0;
};

struct EmbeddingDiagnostics {
  int64_t words = 0;         // in the word list
  int64_t corpus_words = 0;  // the sum of their counts (0 when not counted)
  int64_t dimension = 0;
  NormReport norms;
  std::vector<ProjectedWord> projection;  // the most frequent words, in frequency order
  std::array<double, 2> explained{0, 0};
};

// Diagnostics of every word of `space` (the projection: of its options.projection_words most
// frequent words, or all when there are fewer).
EmbeddingDiagnostics DiagnoseWordSpace(const WordSpace& space, const DiagnosticsOptions& options);

}  // namespace wordbridge
