// Typed errors of the model library. User mistakes throw one of these; the server maps each to a gRPC
// status in one place (server/status_mapping.cc). Invariant violations use assert or TORCH_CHECK.
#pragma once

#include <stdexcept>
#include <string>

namespace wordbridge {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The request itself is wrong (bad option, malformed corpus, wrong vector dimension).
class InvalidArgumentError : public Error {
 public:
  using Error::Error;
};

// A named thing (model, version, word, file) does not exist.
class NotFoundError : public Error {
 public:
  using Error::Error;
};

// The system is not in a state to do this yet (e.g. no trained model).
class FailedPreconditionError : public Error {
 public:
  using Error::Error;
};

// A limit was hit (request too large, too many concurrent jobs).
class ResourceExhaustedError : public Error {
 public:
  using Error::Error;
};

// Work stopped because the caller cancelled it or its deadline passed.
class CancelledError : public Error {
 public:
  using Error::Error;
};

class DeadlineExceededError : public Error {
 public:
  using Error::Error;
};

// The service cannot take the work now and a retry elsewhere or later may succeed (shutting down).
class UnavailableError : public Error {
 public:
  using Error::Error;
};

// The caller did not prove who it is: an RPC that needs a bearer token came without one, or with a
// wrong one. Raised by the server's access check (server/security.h), not by the model library.
class UnauthenticatedError : public Error {
 public:
  using Error::Error;
};

}  // namespace wordbridge
