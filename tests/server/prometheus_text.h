// A minimal, independent reader of the Prometheus text exposition format 0.0.4, for tests that check
// what a scraper of /metrics sees.
#pragma once

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace wordbridge {
namespace testing_prometheus {

// ---- a minimal reader of the text exposition format ----

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> counter|gauge|histogram|summary|untyped
  std::map<std::string, std::string> help;
  std::vector<std::string> family_order;  // in order of their # TYPE lines
  std::vector<Sample> samples;
};

inline bool IsNameStart(char c, bool colon) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || (colon && c == ':');
}
inline bool IsNameChar(char c, bool colon) { return IsNameStart(c, colon) || std::isdigit(static_cast<unsigned char>(c)); }

// Reads a metric (colon allowed) or label name at `pos`; empty when there is none.
inline std::string ReadName(const std::string& line, size_t* pos, bool colon) {
  const size_t start = *pos;
  if (*pos >= line.size() || !IsNameStart(line[*pos], colon)) return "";
  while (*pos < line.size() && IsNameChar(line[*pos], colon)) ++*pos;
  return line.substr(start, *pos - start);
}

inline std::optional<double> ParseValue(const std::string& token) {
  if (token == "+Inf" || token == "Inf") return std::numeric_limits<double>::infinity();
  if (token == "-Inf") return -std::numeric_limits<double>::infinity();
  if (token == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (token.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(token.c_str(), &end);
  if (end != token.c_str() + token.size()) return std::nullopt;
  return value;
}

// Parses `name{label="value",...} value [timestamp]`; returns an error or "".
inline std::string ParseSampleLine(const std::string& line, Sample* sample) {
  size_t pos = 0;
  sample->name = ReadName(line, &pos, /*colon=*/true);
  if (sample->name.empty()) return "no metric name";
  if (pos < line.size() && line[pos] == '{') {
    ++pos;
    while (pos < line.size() && line[pos] != '}') {
      const std::string label = ReadName(line, &pos, /*colon=*/false);
      if (label.empty()) return "bad label name";
      if (pos + 1 >= line.size() || line[pos] != '=' || line[pos + 1] != '"') return "label without =\"";
      pos += 2;
      std::string value;
      while (pos < line.size() && line[pos] != '"') {
        if (line[pos] == '\\') {
          if (pos + 1 >= line.size()) return "dangling escape";
          const char e = line[pos + 1];
          if (e == '\\') {
            value += '\\';
          } else if (e == '"') {
            value += '"';
          } else if (e == 'n') {
            value += '\n';
          } else {
            return std::string("bad escape \\") + e;
          }
          pos += 2;
        } else {
          value += line[pos++];
        }
      }
      if (pos >= line.size()) return "unterminated label value";
      ++pos;  // closing quote
      if (!sample->labels.emplace(label, value).second) return "label " + label + " repeated";
      if (pos < line.size() && line[pos] == ',') {
        ++pos;
      } else if (pos < line.size() && line[pos] != '}') {
        return "expected , or } after a label";
      }
    }
    if (pos >= line.size()) return "unterminated label set";
    ++pos;  // '}'
  }
  if (pos >= line.size() || line[pos] != ' ') return "no space before the value";
  std::istringstream rest(line.substr(pos + 1));
  std::string value_token, timestamp, extra;
  rest >> value_token >> timestamp >> extra;
  const auto value = ParseValue(value_token);
  if (!value) return "unparseable value '" + value_token + "'";
  if (!timestamp.empty() && timestamp.find_first_not_of("-0123456789") != std::string::npos) return "bad timestamp";
  if (!extra.empty()) return "trailing text";
  sample->value = *value;
  return "";
}

inline std::string FamilyOf(const Exposition& e, const std::string& sample_name) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string s(suffix);
    if (sample_name.size() > s.size() && sample_name.compare(sample_name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = sample_name.substr(0, sample_name.size() - s.size());
      const auto it = e.types.find(base);
      if (it != e.types.end() && (it->second == "histogram" || (it->second == "summary" && s != "_bucket"))) {
        return base;
      }
    }
  }
  return sample_name;
}

inline std::string CheckHistograms(const Exposition& e) {
  for (const auto& [family, type] : e.types) {
    if (type != "histogram") continue;
    // Buckets per label set (without le), in the order they appear.
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    std::set<std::map<std::string, std::string>> sums;
    for (const Sample& s : e.samples) {
      if (s.name == family + "_bucket") {
        auto labels = s.labels;
        const auto le = labels.find("le");
        if (le == labels.end()) return family + ": bucket without le";
        const auto bound = ParseValue(le->second);
        if (!bound) return family + ": bad le '" + le->second + "'";
        labels.erase(le);
        buckets[labels].emplace_back(*bound, s.value);
      } else if (s.name == family + "_count") {
        counts[s.labels] = s.value;
      } else if (s.name == family + "_sum") {
        sums.insert(s.labels);
      }
    }
    if (buckets.empty()) return family + ": histogram without buckets";
    for (const auto& [labels, series] : buckets) {
      for (size_t i = 1; i < series.size(); ++i) {
        if (!(series[i - 1].first < series[i].first)) return family + ": le not increasing";
        if (series[i].second < series[i - 1].second) return family + ": buckets not cumulative";
      }
      if (!std::isinf(series.back().first)) return family + ": last bucket is not +Inf";
      const auto count = counts.find(labels);
      if (count == counts.end()) return family + ": no _count";
      if (count->second != series.back().second) return family + ": +Inf bucket differs from _count";
      if (!sums.count(labels)) return family + ": no _sum";
    }
  }
  return "";
}

// Returns an error message naming the line, or "" when `text` is valid exposition text.
inline std::string ParseExposition(const std::string& text, Exposition* out) {
  if (!text.empty() && text.back() != '\n') return "text does not end with a newline";
  std::istringstream lines(text);
  std::string line;
  int number = 0;
  std::string current_family;
  std::set<std::string> finished_families;
  std::set<std::pair<std::string, std::map<std::string, std::string>>> seen;
  while (std::getline(lines, line)) {
    ++number;
    const std::string where = "line " + std::to_string(number) + " '" + line + "': ";
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, keyword, name;
      words >> hash >> keyword >> name;
      if (hash != "#" || (keyword != "HELP" && keyword != "TYPE")) continue;  // a plain comment
      size_t pos = 0;
      if (ReadName(name, &pos, true) != name) return where + "bad metric name in " + keyword;
      if (keyword == "TYPE") {
        std::string type, extra;
        words >> type >> extra;
        static const std::set<std::string> kTypes = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (!kTypes.count(type) || !extra.empty()) return where + "bad type";
        if (out->types.count(name)) return where + "second TYPE line";
        for (const Sample& s : out->samples) {
          if (FamilyOf(*out, s.name) == name) return where + "TYPE after samples of its family";
        }
        out->types[name] = type;
        out->family_order.push_back(name);
      } else {
        const size_t start = line.find(name) + name.size();
        out->help[name] = start < line.size() ? line.substr(start + 1) : "";
      }
      continue;
    }
    Sample sample;
    const std::string error = ParseSampleLine(line, &sample);
    if (!error.empty()) return where + error;
    const std::string family = FamilyOf(*out, sample.name);
    if (!out->types.count(family)) return where + "sample before its family's # TYPE line";
    if (family != current_family) {
      if (finished_families.count(family)) return where + "family's samples are not contiguous";
      if (!current_family.empty()) finished_families.insert(current_family);
      current_family = family;
    }
    if (out->types[family] == "counter" && !(sample.value >= 0)) return where + "negative counter";
    if (!seen.emplace(sample.name, sample.labels).second) return where + "duplicate sample";
    out->samples.push_back(sample);
  }
  return CheckHistograms(*out);
}

inline Exposition ParseOrFail(const std::string& text) {
  Exposition e;
  const std::string error = ParseExposition(text, &e);
  EXPECT_EQ(error, "") << "in:\n" << text;
  return e;
}

inline std::optional<double> Value(const Exposition& e, const std::string& name,
                            const std::map<std::string, std::string>& labels = {}) {
  for (const Sample& s : e.samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return std::nullopt;
}

}  // namespace testing_prometheus
}  // namespace wordbridge
