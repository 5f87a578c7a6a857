#include "model/common/cancellation.h"

#include "model/common/errors.h"

namespace wordbridge {

void ThrowIfStopped(const StopToken* token) {
  if (token == nullptr) return;
  if (token->DeadlinePassed()) throw DeadlineExceededError("deadline exceeded");
  if (token->StopRequested()) {
    // gRPC cancels a call when its deadline timer fires, which can be a little before this clock
    // reaches the deadline: a stop that close to the deadline is the deadline's.
    if (token->DeadlinePassed(std::chrono::milliseconds(50))) throw DeadlineExceededError("deadline exceeded");
    throw CancelledError("cancelled");
  }
}

}  // namespace wordbridge
