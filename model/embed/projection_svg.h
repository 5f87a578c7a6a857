// A word map as a plain-text SVG: points in a plane with word labels, axis labels and a title. No
// torch: the CLI draws the map from an InspectEmbeddings response.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace wordbridge {

struct PlotPoint {
  std::string label;
  double x = 0, y = 0;
};

struct SvgPlotOptions {
  std::string title;
  std::string x_label, y_label;
  // Points that may be labelled: the first this many (give the points most frequent first). A label
  // that would cover one placed before it is left out.
  int64_t labelled = 100;
  int width = 1000, height = 800;  // pixels
};

// The map: both axes on one scale (distances on the page are distances in the plane), the origin's
// axes dashed, every point a dot, the first `labelled` points named where their label has room.
// Points with a non-finite coordinate are left out. `labels_drawn` (if given) gets how many labels
// were drawn.
std::string ProjectionSvg(const std::vector<PlotPoint>& points, const SvgPlotOptions& options,
                          int64_t* labels_drawn = nullptr);

// `text` as XML character data or attribute text: &, <, >, " and ' escaped, and what XML 1.0 cannot
// hold (malformed UTF-8, control characters other than tab and newlines, U+FFFE/U+FFFF) replaced by
// U+FFFD, so the result is always well-formed UTF-8 XML text.
std::string XmlEscape(const std::string& text);

}  // namespace wordbridge
