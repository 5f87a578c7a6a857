// Reading the files that hold transport secrets, shared by the server and the client: PEM certificates
// and keys for TLS, and the bearer token. Each is read once, at start-up, and checked there, so a wrong
// path or an empty file is a clear error before anything listens or connects, never a failed handshake
// later. Errors are std::runtime_error naming the flag and the file; no message contains a file's contents.
#pragma once

#include <string>

namespace wordbridge {

// The header a bearer token travels in, and its scheme (RFC 6750).
constexpr char kAuthorizationHeader[] = "authorization";
constexpr char kBearerPrefix[] = "Bearer ";

// The contents of a PEM file given as `flag` (e.g. "--tls-cert"): it must be readable and hold at least
// one PEM block ("-----BEGIN ...").
std::string ReadPemFile(const std::string& path, const std::string& flag);

// The token in a token file given as `flag`: the file's contents without surrounding white space (a
// trailing newline from `echo` is not part of the token). It must not be empty and must be printable
// ASCII without spaces, the characters a gRPC metadata value may carry.
std::string ReadTokenFile(const std::string& path, const std::string& flag);

// Checks a token given some other way (an environment variable); `source` names it in the error.
// Returns the token without surrounding white space.
std::string CheckedToken(const std::string& token, const std::string& source);

}  // namespace wordbridge
