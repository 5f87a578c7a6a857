#include "model/serve/compute_slots.h"

#include <omp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>

namespace wordbridge {

ComputeSlots::ComputeSlots(int capacity) : capacity_(std::max(1, capacity)) {}

void ComputeSlots::Acquire(int n) {
  n = std::min(n, capacity_);
  std::unique_lock lock(mutex_);
  freed_.wait(lock, [&] { return in_use_ + n <= capacity_; });
  in_use_ += n;
}

bool ComputeSlots::TryAcquire(int n, int keep_free) {
  std::lock_guard lock(mutex_);
  if (in_use_ + n + keep_free > capacity_) return false;
  in_use_ += n;
  return true;
}

void ComputeSlots::Release(int n) {
  {
    std::lock_guard lock(mutex_);
    in_use_ -= std::min(n, capacity_);
  }
  freed_.notify_all();
}

int ComputeSlots::in_use() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}

SlotLease& SlotLease::operator=(SlotLease&& other) noexcept {
  if (this != &other) {
    Reset();
    slots_ = other.slots_;
    n_ = other.n_;
    other.slots_ = nullptr;
  }
  return *this;
}

void SlotLease::Reset() {
  if (slots_ != nullptr) slots_->Release(n_);
  slots_ = nullptr;
}

void SetThreadComputeThreads(int threads) {
  // ATen sets a new thread's OpenMP team size from the process-wide setting the first time the thread
  // asks; asking first makes the override below stick.
  at::get_num_threads();
  omp_set_num_threads(std::max(1, threads));
}

void SetThreadNice(int nice) {
  // On Linux a thread id names one thread for setpriority, so only this thread changes.
  const auto thread_id = static_cast<id_t>(syscall(SYS_gettid));
  setpriority(PRIO_PROCESS, thread_id, std::clamp(nice, 0, 19));
}

}  // namespace wordbridge
