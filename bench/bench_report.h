// What the benchmark programs share: a report printed as it goes and kept for the results file,
// fixed-point formatting, and wall-clock seconds.
#pragma once

#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

namespace bench {

using Clock = std::chrono::steady_clock;

// Everything Say() printed, for the results file.
inline std::ostringstream& Report() {
  static std::ostringstream report;
  return report;
}

inline void Say(const std::string& line) {
  std::cout << line << std::endl;
  Report() << line << "\n";
}

inline std::string Fixed(double value, int digits = 1) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

inline double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace bench
