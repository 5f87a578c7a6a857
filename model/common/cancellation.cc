#include "model/common/cancellation.h"

#include "model/common/errors.h"

namespace wordbridge {

void ThrowIfStopped(const StopToken* token) {
  if (token == nullptr) return;
  if (token->DeadlinePassed()) throw DeadlineExceededError("deadline exceeded");
  if (token->StopRequested()) throw CancelledError("cancelled");
}

}  // namespace wordbridge
