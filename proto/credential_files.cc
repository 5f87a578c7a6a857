#include "proto/credential_files.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace wordbridge {

namespace {

std::string ReadWholeFile(const std::string& path, const std::string& flag) {
  if (path.empty()) throw std::runtime_error(flag + " needs a file name");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(flag + " " + path + ": cannot read the file");
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) throw std::runtime_error(flag + " " + path + ": cannot read the file");
  return contents.str();
}

std::string Trimmed(const std::string& text) {
  const char* space = " \t\r\n";
  const auto first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

}  // namespace

std::string ReadPemFile(const std::string& path, const std::string& flag) {
  std::string pem = ReadWholeFile(path, flag);
  if (pem.find("-----BEGIN ") == std::string::npos) {
    throw std::runtime_error(flag + " " + path + ": not a PEM file (no -----BEGIN line)");
  }
  return pem;
}

std::string CheckedToken(const std::string& token, const std::string& source) {
  std::string trimmed = Trimmed(token);
  if (trimmed.empty()) throw std::runtime_error(source + " is empty; it must hold the token");
  for (unsigned char c : trimmed) {
    // Visible ASCII only: what a metadata value can carry, and no inner white space (one token, one line).
    if (c < 0x21 || c > 0x7e) {
      throw std::runtime_error(source + " must hold one token of printable ASCII characters without spaces");
    }
  }
  return trimmed;
}

std::string ReadTokenFile(const std::string& path, const std::string& flag) {
  return CheckedToken(ReadWholeFile(path, flag), flag + " " + path);
}

}  // namespace wordbridge
