// Embedding diagnostics (model/embed/diagnostics.h, projection_svg.h): norm statistics and outliers,
// the PCA map, and its SVG.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "model/common/errors.h"
#include "model/embed/diagnostics.h"
#include "model/embed/projection_svg.h"
#include "model/text/split.h"

namespace wordbridge {
namespace {

// Rows with the given norms, each in a random direction.
torch::Tensor RowsWithNorms(const std::vector<double>& norms, int64_t dim) {
  auto directions = torch::randn({static_cast<int64_t>(norms.size()), dim}, torch::kFloat64);
  directions = directions / directions.norm(2, 1, true);
  return directions * torch::tensor(norms, torch::kFloat64).unsqueeze(1);
}

TEST(DiagnosticsTest, NormStatisticsOfKnownNorms) {
  torch::manual_seed(4);
  // Norms 1, 2, 3, 4: mean 2.5, population std sqrt(1.25).
  auto report = AnalyseNorms(RowsWithNorms({1, 2, 3, 4}, 8).to(torch::kFloat32), 3.0, 100);
  EXPECT_NEAR(report.stats.mean, 2.5, 1e-5);
  EXPECT_NEAR(report.stats.std, std::sqrt(1.25), 1e-5);
  EXPECT_NEAR(report.stats.min, 1.0, 1e-5);
  EXPECT_NEAR(report.stats.max, 4.0, 1e-5);
  EXPECT_EQ(report.outlier_count, 0);
  // No rows, and rows all of one norm: no spread, no outliers.
  EXPECT_EQ(AnalyseNorms(torch::zeros({0, 8}), 3.0, 100).stats.max, 0.0);
  auto equal = AnalyseNorms(RowsWithNorms(std::vector<double>(50, 2.0), 8), 3.0, 100);
  EXPECT_NEAR(equal.stats.std, 0.0, 1e-9);
  EXPECT_EQ(equal.outlier_count, 0);
}

TEST(DiagnosticsTest, AnInjectedOutlierIsReportedAndNormalRowsAreNot) {
  torch::manual_seed(5);
  // 300 norms evenly spread over [0.9, 1.1] (std about 0.058, so the normal rows stay within 1.8
  // standard deviations), then a long row and a near-zero one.
  std::vector<double> norms;
  for (int i = 0; i < 300; ++i) norms.push_back(0.9 + 0.2 * i / 299.0);
  norms.insert(norms.begin() + 17, 9.0);
  norms.insert(norms.begin() + 200, 0.01);
  auto report = AnalyseNorms(RowsWithNorms(norms, 16), 3.0, 100);
  ASSERT_EQ(report.outlier_count, 1);  // the long row swells the std, hiding the short one at 3 sigma
  EXPECT_EQ(report.outliers[0].row, 17);
  EXPECT_NEAR(report.outliers[0].norm, 9.0, 1e-9);
  EXPECT_GT(report.outliers[0].sigmas, 3.0);

  // Without the long row, the short one stands out below the mean.
  norms.erase(norms.begin() + 17);
  report = AnalyseNorms(RowsWithNorms(norms, 16), 3.0, 100);
  ASSERT_EQ(report.outlier_count, 1);
  EXPECT_EQ(report.outliers[0].row, 199);
  EXPECT_LT(report.outliers[0].sigmas, -3.0);

  // Several outliers: the list is capped, most extreme first, and the count is the total.
  norms.push_back(20.0);
  norms.push_back(15.0);
  norms.push_back(25.0);
  report = AnalyseNorms(RowsWithNorms(norms, 16), 3.0, 2);
  EXPECT_EQ(report.outlier_count, 3);
  ASSERT_EQ(report.outliers.size(), 2u);
  EXPECT_NEAR(report.outliers[0].norm, 25.0, 1e-9);
  EXPECT_NEAR(report.outliers[1].norm, 20.0, 1e-9);
}

TEST(DiagnosticsTest, PcaRecoversAKnownPlane) {
  torch::manual_seed(6);
  const int64_t n = 200, d = 10;
  // An orthonormal pair spanning a plane through `offset`, and coordinates with more variance on the
  // first axis than the second.
  auto basis = std::get<0>(torch::linalg_qr(torch::randn({d, d}, torch::kFloat64)));
  auto e1 = basis.select(1, 0), e2 = basis.select(1, 1);
  auto a = torch::randn({n}, torch::kFloat64) * 3.0, b = torch::randn({n}, torch::kFloat64);
  a = a - a.mean();
  b = b - b.mean();
  // Make the coordinates uncorrelated, so (e1, e2) are exactly the principal directions.
  b = b - (a * b).sum() / (a * a).sum() * a;
  auto offset = torch::randn({d}, torch::kFloat64) * 5.0;
  auto rows = a.unsqueeze(1) * e1 + b.unsqueeze(1) * e2 + offset;

  auto projection = ProjectToPlane(rows.to(torch::kFloat32));
  EXPECT_NEAR(projection.explained[0] + projection.explained[1], 1.0, 1e-5);
  EXPECT_NEAR(projection.explained[0], (a * a).sum().item<double>() / ((a * a).sum() + (b * b).sum()).item<double>(),
              1e-5);
  EXPECT_TRUE(torch::allclose(projection.centre, offset, 1e-4, 1e-4));
  // The axes are e1 and e2 up to sign; the sign makes the largest-magnitude component positive.
  for (int axis = 0; axis < 2; ++axis) {
    auto expected = axis == 0 ? e1 : e2;
    if (expected[expected.abs().argmax()].item<double>() < 0) expected = -expected;
    EXPECT_TRUE(torch::allclose(projection.axes[axis], expected, 1e-4, 1e-4)) << "axis " << axis;
    auto coordinate = axis == 0 ? a : b;
    const double sign = (expected * (axis == 0 ? e1 : e2)).sum().item<double>() > 0 ? 1.0 : -1.0;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NEAR(projection.points[i][axis], sign * coordinate[i].item<double>(), 1e-3) << "row " << i;
    }
  }
  // The same rows in another order draw the same map (signs do not flip).
  auto again = ProjectToPlane(rows.flip(0).to(torch::kFloat32));
  for (int axis = 0; axis < 2; ++axis) {
    EXPECT_NEAR(again.points[n - 1][axis], projection.points[0][axis], 1e-3);
  }
  // Degenerate inputs: one row, identical rows, a line.
  EXPECT_EQ(ProjectToPlane(rows.slice(0, 0, 1)).explained[0], 0.0);
  auto line = ProjectToPlane(a.unsqueeze(1) * e1);
  EXPECT_NEAR(line.explained[0], 1.0, 1e-9);
  EXPECT_EQ(line.explained[1], 0.0);
  EXPECT_EQ(line.points[5][1], 0.0);
}

TEST(DiagnosticsTest, OptionsAreValidated) {
  DiagnosticsOptions options;
  options.projection_words = -1;
  EXPECT_THROW(options.Validate(), InvalidArgumentError);
  options.projection_words = DiagnosticsOptions::kMaxProjectionWords + 1;
  EXPECT_THROW(options.Validate(), InvalidArgumentError);
  options.projection_words = DiagnosticsOptions::kMaxProjectionWords;
  EXPECT_NO_THROW(options.Validate());
  options.outlier_sigmas = std::nan("");
  EXPECT_THROW(options.Validate(), InvalidArgumentError);
}

TEST(ProjectionSvgTest, EscapesTextAndKeepsItValidUtf8) {
  EXPECT_EQ(XmlEscape("a<b&c"), "a&lt;b&amp;c");
  EXPECT_EQ(XmlEscape("\"x\" 'y' >"), "&quot;x&quot; &apos;y&apos; &gt;");
  EXPECT_EQ(XmlEscape("oro plata 金"), "oro plata 金");
  EXPECT_EQ(XmlEscape("a\xff" "b"), "a\xEF\xBF\xBD" "b");            // malformed UTF-8
  EXPECT_EQ(XmlEscape(std::string("a\x01" "b")), "a\xEF\xBF\xBD" "b");  // not an XML character
  EXPECT_TRUE(IsValidUtf8(XmlEscape("\xe2\x82")));                     // a truncated sequence
}

bool ParsesAsXml(const std::string& path) {
  const std::string command =
      "/usr/bin/python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' '" + path + "'";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(ProjectionSvgTest, TheMapIsWellFormedXmlWithEscapedLabels) {
  std::vector<PlotPoint> points = {{"a<b&c", 1, 2}, {"oro", -1, 0.5}, {"\"quoted\"", 0, -1}, {"unlabelled", 2, 2},
                                   {"nan", std::nan(""), 0}};
  SvgPlotOptions options;
  options.title = "es <source> & more";
  options.x_label = "PC1 (60.0% of variance)";
  options.y_label = "PC2 (30.0% of variance)";
  options.labelled = 3;
  const std::string svg = ProjectionSvg(points, options);
  EXPECT_NE(svg.find(">a&lt;b&amp;c</text>"), std::string::npos) << svg;
  EXPECT_NE(svg.find(">&quot;quoted&quot;</text>"), std::string::npos);
  EXPECT_EQ(svg.find("unlabelled"), std::string::npos);  // beyond the labelled points
  EXPECT_EQ(svg.find("a<b"), std::string::npos);
  EXPECT_NE(svg.find("es &lt;source&gt; &amp; more"), std::string::npos);
  EXPECT_NE(svg.find("PC1 (60.0% of variance)"), std::string::npos);
  size_t circles = 0;
  for (size_t at = svg.find("<circle"); at != std::string::npos; at = svg.find("<circle", at + 1)) ++circles;
  EXPECT_EQ(circles, 4u);  // the NaN point is left out
  EXPECT_TRUE(IsValidUtf8(svg));

  const auto path = std::filesystem::temp_directory_path() / ("wb-map-" + std::to_string(::getpid()) + ".svg");
  std::ofstream(path) << svg;
  EXPECT_TRUE(ParsesAsXml(path.string())) << svg;
  std::ofstream(path) << "<svg><text>a<b&c</text></svg>";
  EXPECT_FALSE(ParsesAsXml(path.string()));  // the check does catch unescaped text
  // No points, or all on one spot, still draw a valid map.
  std::ofstream(path) << ProjectionSvg({}, options);
  EXPECT_TRUE(ParsesAsXml(path.string()));
  std::ofstream(path) << ProjectionSvg({{"x", 1, 1}, {"y", 1, 1}}, options);
  EXPECT_TRUE(ParsesAsXml(path.string()));
  std::filesystem::remove(path);
}

TEST(ProjectionSvgTest, ALabelThatWouldCoverAnotherIsLeftOut) {
  // Three words on one spot: the first takes the right side, the second the left, the third has no room.
  std::vector<PlotPoint> points = {{"first", 0, 0}, {"second", 0, 0}, {"third", 0, 0}, {"far", 10, 10}};
  int64_t drawn = 0;
  const std::string svg = ProjectionSvg(points, SvgPlotOptions{}, &drawn);
  EXPECT_EQ(drawn, 3);
  EXPECT_NE(svg.find(">first</text>"), std::string::npos);
  EXPECT_NE(svg.find("text-anchor=\"end\">second</text>"), std::string::npos) << svg;
  EXPECT_EQ(svg.find(">third</text>"), std::string::npos);
  EXPECT_NE(svg.find(">far</text>"), std::string::npos);
}

}  // namespace
}  // namespace wordbridge
