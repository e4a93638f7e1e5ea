// A tiny test-and-set lock for the agent's own hook-side structures (heap region free lists,
// stack tables, the lock-wait table). HOOK CONTEXT: no allocation, no syscalls except
// sched_yield under contention, never a lock the host can hold (only agent code takes it,
// only for a few dozen instructions). After fork the child re-initialises it (a holder thread
// does not exist there).
#pragma once

#include <sched.h>

#include <atomic>

#include "agent/core/fork_reset.h"

namespace profagent {

class SpinLock {
 public:
  constexpr SpinLock() = default;
  void lock() noexcept {
    for (int spins = 0;; ++spins) {
      if (!held_.load(std::memory_order_relaxed) &&
          !held_.exchange(true, std::memory_order_acquire))
        return;
      if (spins >= 64) {
        sched_yield();
        spins = 0;
      } else {
        __builtin_ia32_pause();
      }
    }
  }
  // One attempt: false if another thread (or this one, interrupted) holds it.
  bool try_lock() noexcept {
    return !held_.load(std::memory_order_relaxed) &&
           !held_.exchange(true, std::memory_order_acquire);
  }
  void unlock() noexcept { held_.store(false, std::memory_order_release); }
  // Fork child only: the thread that may have held it is gone.
  // (Stored only when held: a fork child whose parent held none keeps the page shared.)
  void reset() noexcept { store_if_changed(held_, false); }
  // Fork child only: whether a thread (gone now) held it at the fork.
  bool held_at_fork() const noexcept { return held_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> held_{false};
};

class SpinGuard {
 public:
  explicit SpinGuard(SpinLock& lock) noexcept : lock_(lock) { lock_.lock(); }
  ~SpinGuard() { lock_.unlock(); }
  SpinGuard(const SpinGuard&) = delete;
  SpinGuard& operator=(const SpinGuard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace profagent
