#include "server/status_mapping.h"

#include <iostream>

#include "model/common/errors.h"

namespace wordbridge {

grpc::Status ToGrpcStatus(const ErrorStatus& status) {
  return {static_cast<grpc::StatusCode>(status.code), status.message};
}

grpc::Status StatusFromException(std::exception_ptr error) {
  const ErrorStatus status = ErrorStatusOf(error);
  if (status.code == ErrorCode::kInternal) std::cerr << status.message << std::endl;
  return ToGrpcStatus(status);
}

}  // namespace wordbridge
