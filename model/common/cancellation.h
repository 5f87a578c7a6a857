// A cheap, thread-safe stop signal that long work (training, big translation batches) polls between steps.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>

namespace wordbridge {

class StopToken {
 public:
  // System clock, because RPC deadlines are given in it.
  using Clock = std::chrono::system_clock;

  StopToken() = default;
  // A token that also reports true once `deadline` has passed.
  explicit StopToken(Clock::time_point deadline) : deadline_(deadline), has_deadline_(true) {}

  void RequestStop() { stopped_.store(true); }
  // An extra predicate, e.g. "the gRPC client went away".
  void SetExternalCheck(std::function<bool()> check) { external_ = std::move(check); }

  bool StopRequested() const {
    return stopped_.load() || (external_ && external_());
  }
  // True once the deadline is less than `margin` away.
  bool DeadlinePassed(Clock::duration margin = Clock::duration::zero()) const {
    return has_deadline_ && Clock::now() + margin >= deadline_;
  }

 private:
  std::atomic<bool> stopped_{false};
  std::function<bool()> external_;
  Clock::time_point deadline_{};
  bool has_deadline_ = false;
};

// Throws CancelledError / DeadlineExceededError when the token says to stop. Null is "never".
void ThrowIfStopped(const StopToken* token);

}  // namespace wordbridge
