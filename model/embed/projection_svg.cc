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

// About how wide `text` is drawn in a sans-serif font of `size` pixels: 0.6 em per character, a
// whole em for characters of three or more bytes (CJK and other wide scripts).
double LabelWidth(const std::string& text, double size) {
  double em = 0;
  for (size_t pos = 0; pos < text.size();) {
    const size_t length = std::max<size_t>(1, Utf8SequenceLength(text, pos));
    em += length >= 3 ? 1.0 : 0.6;
    pos += length;
  }
  return em * size;
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

std::string ProjectionSvg(const std::vector<PlotPoint>& points, const SvgPlotOptions& options,
                          int64_t* labels_drawn) {
  const double left = 70, right = 40, top = 50, bottom = 60;
  const double width = std::max(options.width, 200), height = std::max(options.height, 200);
  const double plot_w = width - left - right, plot_h = height - top - bottom;
  const double pad = 12;  // between the outermost dots and the frame

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
    scale = std::min(span_x > 0 ? (plot_w - 2 * pad) / span_x : std::numeric_limits<double>::infinity(),
                     span_y > 0 ? (plot_h - 2 * pad) / span_y : std::numeric_limits<double>::infinity());
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
  // Labels of the first points (the most frequent first), right of their dot, or left of it when
  // that side has no room; a label that would cover one placed before it is left out, so a crowded
  // corner keeps its most frequent words readable.
  struct Box {
    double x0, y0, x1, y1;
  };
  std::vector<Box> placed;
  auto free = [&](const Box& box) {
    return std::none_of(placed.begin(), placed.end(), [&](const Box& b) {
      return box.x0 < b.x1 && b.x0 < box.x1 && box.y0 < b.y1 && b.y0 < box.y1;
    });
  };
  int64_t drawn = 0;
  for (size_t i : shown) {
    if (static_cast<int64_t>(i) >= options.labelled) break;
    const double x = px(points[i].x), y = py(points[i].y);
    const double w = LabelWidth(points[i].label, 11);
    const Box right_box{x + 4, y - 12, x + 4 + w, y}, left_box{x - 4 - w, y - 12, x - 4, y};
    const bool right_fits = right_box.x1 <= left + plot_w && free(right_box);
    if (!right_fits && !free(left_box)) continue;
    placed.push_back(right_fits ? right_box : left_box);
    ++drawn;
    svg << "<text x=\"" << Px(right_fits ? x + 4 : x - 4) << "\" y=\"" << Px(y - 3) << "\""
        << (right_fits ? "" : " text-anchor=\"end\"") << ">" << XmlEscape(points[i].label) << "</text>\n";
  }
  if (labels_drawn) *labels_drawn = drawn;
  svg << "</g>\n"
      << "<text x=\"" << Px(width / 2) << "\" y=\"30\" font-size=\"16\" text-anchor=\"middle\">"
      << XmlEscape(options.title) << "</text>\n"
      << "<text x=\"" << Px(left + plot_w / 2) << "\" y=\"" << Px(height - 20)
      << "\" font-size=\"13\" text-anchor=\"middle\">" << XmlEscape(options.x_label) << "</text>\n"
      << "<text x=\"0\" y=\"0\" font-size=\"13\" text-anchor=\"middle\" transform=\"translate(25 "
      << Px(top + plot_h / 2) << ") rotate(-90)\">" << XmlEscape(options.y_label) << "</text>\n"
      << "</svg>\n";
  return svg.str();
}

}  // namespace wordbridge
