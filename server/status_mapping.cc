#include "server/status_mapping.h"

#include <iostream>

#include "model/common/errors.h"

namespace wordbridge {

grpc::Status StatusFromException(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const InvalidArgumentError& e) {
    return {grpc::StatusCode::INVALID_ARGUMENT, e.what()};
  } catch (const NotFoundError& e) {
    return {grpc::StatusCode::NOT_FOUND, e.what()};
  } catch (const FailedPreconditionError& e) {
    return {grpc::StatusCode::FAILED_PRECONDITION, e.what()};
  } catch (const ResourceExhaustedError& e) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED, e.what()};
  } catch (const CancelledError& e) {
    return {grpc::StatusCode::CANCELLED, e.what()};
  } catch (const DeadlineExceededError& e) {
    return {grpc::StatusCode::DEADLINE_EXCEEDED, e.what()};
  } catch (const UnavailableError& e) {
    return {grpc::StatusCode::UNAVAILABLE, e.what()};
  } catch (const UnauthenticatedError& e) {
    return {grpc::StatusCode::UNAUTHENTICATED, e.what()};
  } catch (const std::bad_alloc&) {
    return {grpc::StatusCode::RESOURCE_EXHAUSTED, "out of memory"};
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << std::endl;
    return {grpc::StatusCode::INTERNAL, std::string("internal error: ") + e.what()};
  } catch (...) {
    return {grpc::StatusCode::INTERNAL, "internal error"};
  }
}

}  // namespace wordbridge
