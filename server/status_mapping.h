// The one place where model-library errors become gRPC statuses.
#pragma once

#include <grpcpp/grpcpp.h>

#include <exception>

#include "model/common/errors.h"
#include "proto/status_code_name.h"

namespace wordbridge {

// The model library's error codes are gRPC's by value (model/common/errors.h).
grpc::Status ToGrpcStatus(const ErrorStatus& status);

// Maps an exception: typed user errors to their codes, anything else to INTERNAL (and logs it).
grpc::Status StatusFromException(std::exception_ptr error);

// Runs `body`, turning any exception into a status.
template <typename Body>
grpc::Status Guarded(Body&& body) {
  try {
    return body();
  } catch (...) {
    return StatusFromException(std::current_exception());
  }
}

}  // namespace wordbridge
