#include "model/common/errors.h"

#include <array>
#include <new>
#include <utility>

namespace wordbridge {
namespace {

constexpr std::array<std::pair<ErrorCode, const char*>, 12> kNames = {{
    {ErrorCode::kOk, "OK"},
    {ErrorCode::kCancelled, "CANCELLED"},
    {ErrorCode::kInvalidArgument, "INVALID_ARGUMENT"},
    {ErrorCode::kDeadlineExceeded, "DEADLINE_EXCEEDED"},
    {ErrorCode::kNotFound, "NOT_FOUND"},
    {ErrorCode::kAlreadyExists, "ALREADY_EXISTS"},
    {ErrorCode::kResourceExhausted, "RESOURCE_EXHAUSTED"},
    {ErrorCode::kFailedPrecondition, "FAILED_PRECONDITION"},
    {ErrorCode::kAborted, "ABORTED"},
    {ErrorCode::kInternal, "INTERNAL"},
    {ErrorCode::kUnavailable, "UNAVAILABLE"},
    {ErrorCode::kUnauthenticated, "UNAUTHENTICATED"},
}};

}  // namespace

ErrorStatus ErrorStatusOf(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const InvalidArgumentError& e) {
    return {ErrorCode::kInvalidArgument, e.what()};
  } catch (const NotFoundError& e) {
    return {ErrorCode::kNotFound, e.what()};
  } catch (const AlreadyExistsError& e) {
    return {ErrorCode::kAlreadyExists, e.what()};
  } catch (const FailedPreconditionError& e) {
    return {ErrorCode::kFailedPrecondition, e.what()};
  } catch (const ResourceExhaustedError& e) {
    return {ErrorCode::kResourceExhausted, e.what()};
  } catch (const CancelledError& e) {
    return {ErrorCode::kCancelled, e.what()};
  } catch (const DeadlineExceededError& e) {
    return {ErrorCode::kDeadlineExceeded, e.what()};
  } catch (const UnavailableError& e) {
    return {ErrorCode::kUnavailable, e.what()};
  } catch (const UnauthenticatedError& e) {
    return {ErrorCode::kUnauthenticated, e.what()};
  } catch (const std::bad_alloc&) {
    return {ErrorCode::kResourceExhausted, "out of memory"};
  } catch (const std::exception& e) {
    return {ErrorCode::kInternal, std::string("internal error: ") + e.what()};
  } catch (...) {
    return {ErrorCode::kInternal, "internal error"};
  }
}

std::string ErrorCodeName(ErrorCode code) {
  for (const auto& [value, name] : kNames) {
    if (value == code) return name;
  }
  return "CODE_" + std::to_string(static_cast<int>(code));
}

ErrorCode ErrorCodeFromName(const std::string& name) {
  for (const auto& [value, known] : kNames) {
    if (name == known) return value;
  }
  return ErrorCode::kInternal;
}

}  // namespace wordbridge
