#include "model/embed/projection_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "model/text/split.h"

namespace wordbridge {
namespace {

constexpr const char* kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// A pixel coordinate with one decimal, whatever the locale.
std::string Px(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f", value);
  return text;
}

}  // namespace

std::string XmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[pos]);
    const size_t length = Utf8SequenceLength(text, pos);
    if (length == 0) {
      out += kReplacement;
      ++pos;
      continue;
    }
    if (length == 1) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default:
          if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
            out += kReplacement;
          } else {
            out += static_cast<char>(c);
          }
      }
    } else if (text.compare(pos, length, "\xEF\xBF\xBE") == 0 || text.compare(pos, length, "\xEF\xBF\xBF") == 0) {
      out += kReplacement;  // U+FFFE and U+FFFF are not XML characters
    } else {
      out.append(text, pos, length);
    }
    pos += length;
  }
  return out;
}

std::string ProjectionSvg(const std::vector<PlotPoint>& points, const SvgPlotOptions& options) {
  const double left = 70, right = 40, top = 50, bottom = 60;
  const double width = std::max(options.width, 200), height = std::max(options.height, 200);
  const double plot_w = width - left - right, plot_h = height - top - bottom;

  std::vector<size_t> shown;  // the points with finite coordinates
  double min_x = std::numeric_limits<double>::infinity(), max_x = -min_x, min_y = min_x, max_y = -min_x;
  for (size_t i = 0; i < points.size(); ++i) {
    if (!std::isfinite(points[i].x) || !std::isfinite(points[i].y)) continue;
    shown.push_back(i);
    min_x = std::min(min_x, points[i].x);
    max_x = std::max(max_x, points[i].x);
    min_y = std::min(min_y, points[i].y);
    max_y = std::max(max_y, points[i].y);
  }
  if (shown.empty()) min_x = max_x = min_y = max_y = 0;
  // One scale for both axes, fitting the larger span; the data's centre at the plot's centre.
  const double span_x = max_x - min_x, span_y = max_y - min_y;
  double scale = 1;
  if (span_x > 0 || span_y > 0) {
    scale = std::min(span_x > 0 ? plot_w / span_x : std::numeric_limits<double>::infinity(),
                     span_y > 0 ? plot_h / span_y : std::numeric_limits<double>::infinity());
  }
  const double centre_x = (min_x + max_x) / 2, centre_y = (min_y + max_y) / 2;
  auto px = [&](double x) { return left + plot_w / 2 + (x - centre_x) * scale; };
  auto py = [&](double y) { return top + plot_h / 2 - (y - centre_y) * scale; };  // SVG's y grows downwards

  std::ostringstream svg;
  svg << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << Px(width) << "\" height=\"" << Px(height)
      << "\" viewBox=\"0 0 " << Px(width) << " " << Px(height) << "\" font-family=\"sans-serif\">\n"
      << "<rect x=\"0\" y=\"0\" width=\"" << Px(width) << "\" height=\"" << Px(height) << "\" fill=\"white\"/>\n"
      << "<rect x=\"" << Px(left) << "\" y=\"" << Px(top) << "\" width=\"" << Px(plot_w) << "\" height=\""
      << Px(plot_h) << "\" fill=\"none\" stroke=\"#999\"/>\n";
  // The origin's axes, where they fall inside the plot.
  const double origin_x = px(0), origin_y = py(0);
  if (origin_x >= left && origin_x <= left + plot_w) {
    svg << "<line x1=\"" << Px(origin_x) << "\" y1=\"" << Px(top) << "\" x2=\"" << Px(origin_x) << "\" y2=\""
        << Px(top + plot_h) << "\" stroke=\"#ccc\" stroke-dasharray=\"4 4\"/>\n";
  }
  if (origin_y >= top && origin_y <= top + plot_h) {
    svg << "<line x1=\"" << Px(left) << "\" y1=\"" << Px(origin_y) << "\" x2=\"" << Px(left + plot_w) << "\" y2=\""
        << Px(origin_y) << "\" stroke=\"#ccc\" stroke-dasharray=\"4 4\"/>\n";
  }
  svg << "<g fill=\"#4682b4\" fill-opacity=\"0.7\">\n";
  for (size_t i : shown) {
    svg << "<circle cx=\"" << Px(px(points[i].x)) << "\" cy=\"" << Px(py(points[i].y)) << "\" r=\"2.5\"/>\n";
  }
  svg << "</g>\n<g font-size=\"11\" fill=\"#222\">\n";
  // Labels of the first points, drawn last-to-first so the first (most frequent) ones end up on top.
  std::vector<size_t> labelled;
  for (size_t i : shown) {
    if (static_cast<int64_t>(i) < options.labelled) labelled.push_back(i);
  }
  for (auto it = labelled.rbegin(); it != labelled.rend(); ++it) {
    const double x = px(points[*it].x), y = py(points[*it].y);
    const bool flip = x > left + plot_w * 0.85;  // near the right edge: end the label at the point
    svg << "<text x=\"" << Px(flip ? x - 4 : x + 4) << "\" y=\"" << Px(y - 3) << "\""
        << (flip ? " text-anchor=\"end\"" : "") << ">" << XmlEscape(points[*it].label) << "</text>\n";
  }
  svg << "</g>\n"
      << "<text x=\"" << Px(width / 2) << "\" y=\"30\" font-size=\"16\" text-anchor=\"middle\">"
      << XmlEscape(options.title) << "</text>\n"
      << "<text x=\"" << Px(left + plot_w / 2) << "\" y=\"" << Px(height - 20)
      << "\" font-size=\"13\" text-anchor=\"middle\">" << XmlEscape(options.x_label) << "</text>\n"
      << "<text x=\"25\" y=\"" << Px(top + plot_h / 2) << "\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 25 "
      << Px(top + plot_h / 2) << ")\">" << XmlEscape(options.y_label) << "</text>\n"
      << "</svg>\n";
  return svg.str();
}

}  // namespace wordbridge
