// ComputeSlots: the process's compute threads as a budget that inference workers and training jobs
// draw from, so that together they never run more OpenMP/BLAS threads than there are cores (LibTorch
// calls from several threads, each with its own thread team, collapse on a small machine).
#pragma once

#include <condition_variable>
#include <mutex>

namespace wordbridge {

class ComputeSlots {
 public:
  explicit ComputeSlots(int capacity);

  // Blocks until `n` slots are free, then takes them.
  void Acquire(int n);
  // Takes `n` slots if that leaves at least `keep_free` free; false (and takes nothing) otherwise.
  bool TryAcquire(int n, int keep_free = 0);
  void Release(int n);

  int capacity() const { return capacity_; }
  int in_use() const;

 private:
  const int capacity_;
  mutable std::mutex mutex_;
  std::condition_variable freed_;
  int in_use_ = 0;
};

// Holds slots for a scope.
class SlotLease {
 public:
  SlotLease() = default;
  SlotLease(ComputeSlots* slots, int n) : slots_(slots), n_(n) {}
  SlotLease(SlotLease&& other) noexcept : slots_(other.slots_), n_(other.n_) { other.slots_ = nullptr; }
  SlotLease& operator=(SlotLease&& other) noexcept;
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  ~SlotLease() { Reset(); }
  void Reset();
  int size() const { return slots_ ? n_ : 0; }

 private:
  ComputeSlots* slots_ = nullptr;
  int n_ = 0;
};

// Makes LibTorch and OpenBLAS on the calling thread use `threads` OpenMP threads. The setting is per
// thread: each worker or job thread calls this once when it starts.
void SetThreadComputeThreads(int threads);

// Lowers the calling thread's scheduling priority to `nice` (0-19; threads it starts later inherit
// it). Compute threads run below the RPC threads, so microsecond requests (word lookups, FAISS
// searches, admission) are scheduled at once even while every core decodes. Best effort.
void SetThreadNice(int nice);

}  // namespace wordbridge
