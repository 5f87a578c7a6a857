#include "model/embed/diagnostics.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "model/common/errors.h"

namespace wordbridge {

void DiagnosticsOptions::Validate() const {
  if (!(projection_words >= 0 && projection_words <= kMaxProjectionWords)) {
    throw InvalidArgumentError("projection words must be in [0, " + std::to_string(kMaxProjectionWords) + "], not " +
                               std::to_string(projection_words));
  }
  if (!(outlier_sigmas > 0 && std::isfinite(outlier_sigmas))) {
    throw InvalidArgumentError("the outlier threshold must be a positive number of standard deviations");
  }
  if (max_outliers < 0) throw InvalidArgumentError("max_outliers must not be negative");
}

NormReport AnalyseNorms(const torch::Tensor& rows, double sigmas, int64_t max_outliers) {
  NormReport report;
  const int64_t n = rows.size(0);
  if (n == 0) return report;
  const auto norms = rows.detach().to(torch::kFloat64).norm(2, 1).contiguous();
  const double* norm = norms.data_ptr<double>();
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += norm[i];
  NormStats& stats = report.stats;
  stats.mean = sum / n;
  double squares = 0;
  for (int64_t i = 0; i < n; ++i) squares += (norm[i] - stats.mean) * (norm[i] - stats.mean);
  stats.std = std::sqrt(squares / n);
  const auto [lo, hi] = std::minmax_element(norm, norm + n);
  stats.min = *lo;
  stats.max = *hi;
  // Norms equal up to rounding have no spread to stand out of.
  if (!(stats.std > 1e-9 * std::max(1.0, stats.mean))) return report;
  for (int64_t i = 0; i < n; ++i) {
    const double z = (norm[i] - stats.mean) / stats.std;
    if (std::abs(z) > sigmas) report.outliers.push_back({i, norm[i], z});
  }
  report.outlier_count = static_cast<int64_t>(report.outliers.size());
  std::stable_sort(report.outliers.begin(), report.outliers.end(),
                   [](const NormOutlier& a, const NormOutlier& b) { return std::abs(a.sigmas) > std::abs(b.sigmas); });
  if (static_cast<int64_t>(report.outliers.size()) > max_outliers) report.outliers.resize(max_outliers);
  return report;
}

Projection ProjectToPlane(const torch::Tensor& rows) {
  Projection projection;
  const auto x = rows.detach().to(torch::kFloat64);
  const int64_t n = x.size(0), d = x.size(1);
  projection.centre = n > 0 ? x.mean(0) : torch::zeros({d}, torch::kFloat64);
  projection.axes = torch::zeros({2, d}, torch::kFloat64);
  projection.points.assign(n, {0.0, 0.0});
  if (n == 0) return projection;
  const auto centred = x - projection.centre;
  const double total = centred.pow(2).sum().item<double>();
  if (!(total > 0)) return projection;  // every row the same: the map is one point
  // The right singular vectors of the centred rows are the covariance's eigenvectors, and the squared
  // singular values its eigenvalues (times n), largest first.
  const auto [u, s, vh] = torch::linalg_svd(centred, /*full_matrices=*/false, c10::nullopt);
  const int64_t axes = std::min<int64_t>(2, s.size(0));
  for (int64_t a = 0; a < axes; ++a) {
    const double variance = s[a].item<double>() * s[a].item<double>();
    if (variance <= total * 1e-12) break;  // no variance left along this axis
    auto axis = vh[a];
    // A singular vector's sign is arbitrary; fix it so the map does not flip between runs.
    if (axis[axis.abs().argmax().item<int64_t>()].item<double>() < 0) axis = -axis;
    projection.axes[a] = axis;
    projection.explained[a] = variance / total;
  }
  const auto coordinates = centred.matmul(projection.axes.t()).contiguous();
  const double* c = coordinates.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i) projection.points[i] = {c[2 * i], c[2 * i + 1]};
  return projection;
}

EmbeddingDiagnostics DiagnoseWordSpace(const WordSpace& space, const DiagnosticsOptions& options) {
  options.Validate();
  EmbeddingDiagnostics diagnostics;
  diagnostics.words = space.size();
  diagnostics.dimension = space.dimension();
  for (int64_t w = 0; w < space.size(); ++w) diagnostics.corpus_words += space.words().count(w);
  diagnostics.norms = AnalyseNorms(space.vectors(), options.outlier_sigmas, options.max_outliers);
  // Words are kept most frequent first, so the first rows are the most frequent words.
  const int64_t projected = std::min(options.projection_words, space.size());
  if (projected > 0) {
    const auto projection = ProjectToPlane(space.vectors().slice(0, 0, projected));
    diagnostics.explained = projection.explained;
    for (int64_t w = 0; w < projected; ++w) {
      diagnostics.projection.push_back({w, projection.points[w][0], projection.points[w][1]});
    }
  }
  return diagnostics;
}

}  // namespace wordbridge
