// Typed errors of the model library. User mistakes throw one of these; the server maps each to a gRPC
// status in one place (server/status_mapping.cc). Invariant violations use assert or TORCH_CHECK.
#pragma once

#include <exception>
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

// The thing a request would create exists already (an uploaded corpus of that name).
class AlreadyExistsError : public Error {
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

// What a failure means to a caller, without gRPC: one code per typed error above (the values are
// gRPC's status codes, so the server converts by value), plus kAborted (work lost because its process
// stopped) and kInternal (anything else, a bug). Lets plain C++ code keep a failure as data, e.g. a
// training job's final status, which outlives the exception and is written to disk.
enum class ErrorCode {
  kOk = 0,
  kCancelled = 1,
  kInvalidArgument = 3,
  kDeadlineExceeded = 4,
  kNotFound = 5,
  kAlreadyExists = 6,
  kResourceExhausted = 8,
  kFailedPrecondition = 9,
  kAborted = 10,
  kInternal = 13,
  kUnavailable = 14,
  kUnauthenticated = 16,
};

struct ErrorStatus {
  ErrorCode code = ErrorCode::kOk;
  std::string message;

  bool ok() const { return code == ErrorCode::kOk; }
};

// The code and message of an exception: typed errors to their codes, std::bad_alloc to
// kResourceExhausted ("out of memory"), anything else to kInternal ("internal error: ...").
ErrorStatus ErrorStatusOf(std::exception_ptr error);
// The gRPC specification's name of `code` ("RESOURCE_EXHAUSTED"); "CODE_<n>" outside the enum.
std::string ErrorCodeName(ErrorCode code);
// The code named `name`; kInternal for a name that is not one of the enum's.
ErrorCode ErrorCodeFromName(const std::string& name);

}  // namespace wordbridge
