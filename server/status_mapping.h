// The one place where model-library errors become gRPC statuses.
#pragma once

#include <grpcpp/grpcpp.h>

#include <exception>

#include "proto/status_code_name.h"

namespace wordbridge {

// Maps the in-flight exception: typed user errors to their codes, anything else to INTERNAL.
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
