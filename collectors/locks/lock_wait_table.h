// Waiter bookkeeping for the mutex profile: a side table keyed by lock address, touched only
// when a lock is contended. HOOK CONTEXT: fixed static storage, no allocation, only the
// table's own spin locks (never a lock the host can hold), each held for a few instructions;
// callers hold AgentScope so a signal handler on the same thread passes straight through.
//
// Per contended lock one entry holds: the number of tracked waiters W, the sum S of their
// effective start times, and the time R of the last charged unlock. An effective start is
// max(the waiter's own start, R): each unlock charges every current waiter for the wait it
// accumulated since it started or since the previous charged unlock, whichever is later:
//
//   charge(now) = W * now - S;   then S = W * now, R = now          (exact, O(1))
//
// which is the Go >= 1.22 rule (issue 61015: the unlocker is charged for the wait of every
// waiter it kept waiting) computed exactly where Go approximates the sum as
// d_head + W * (d_head + d_tail) / 2. A departing waiter (it got the lock, or gave up)
// removes max(start, R) from S. The wait between the unlock that woke a waiter and its
// return from the lock is nobody's and is not charged (as Go excludes wake-up latency).
//
// Fast path: any_waiters() is one relaxed load of a process-wide counter that only contended
// lock calls write; an unlock that sees 0 does nothing else. When some lock somewhere has a
// waiter, unlocks probe at most kProbe slots (read-only) for their own address.
//
// Bound: kSlots entries (1024 x 64 bytes). A lock whose entry cannot be claimed (its probe
// window is full of locks that all have waiters right now) is not tracked: its waits are
// missing from the mutex profile (never wrong, only incomplete), and untracked() counts them.
#pragma once

#include <atomic>
#include <cstdint>

#include "collectors/common/spin_lock.h"

namespace profagent {

// What a waiter keeps (on its own stack) between arrive() and depart().
struct WaitTicket {
  uint32_t slot = 0;   // entry index + 1; 0 = not tracked
  int64_t start = 0;   // effective start as registered
};

class LockWaitTable {
 public:
  static constexpr uint32_t kSlots = 1024;  // power of two
  static constexpr uint32_t kProbe = 16;

  constexpr LockWaitTable() = default;
  LockWaitTable(const LockWaitTable&) = delete;
  LockWaitTable& operator=(const LockWaitTable&) = delete;

  // A thread starts waiting for `lock` at `start` (monotonic ns).
  WaitTicket arrive(uintptr_t lock, int64_t start) noexcept;
  // That thread stops waiting (acquired the lock, timed out or failed).
  void depart(const WaitTicket& ticket) noexcept;
  // An unlock of `lock`: the delay to charge to the unlocker (0 if no tracked waiter), read
  // with `clock` while holding the entry so no waiter's start is later than `now`; `waiters`
  // receives W. Resets the waiters' effective starts to now.
  int64_t charge(uintptr_t lock, int64_t (*clock)() noexcept, int32_t* waiters) noexcept;

  // True while any tracked waiter exists in the process (the unlock fast-path test).
  bool any_waiters() const noexcept { return total_.load(std::memory_order_relaxed) != 0; }
  int64_t waiters() const noexcept { return total_.load(std::memory_order_relaxed); }
  uint64_t untracked() const noexcept { return untracked_.load(std::memory_order_relaxed); }

  // Forgets every waiter (fork child: the waiting threads do not exist there). Async-signal-
  // safe.
  void clear() noexcept;

 private:
  struct alignas(64) Entry {
    std::atomic<uintptr_t> key{0};       // lock address; 0 = never used (never returns to 0)
    std::atomic<int32_t> waiters{0};     // W (written under lock, read unlocked as a hint)
    SpinLock lock;
    __int128 sum_start = 0;              // S
    int64_t last_reset = 0;              // R
  };

  static uint32_t home(uintptr_t lock) noexcept {
    uint64_t h = static_cast<uint64_t>(lock) * 0x9e3779b97f4a7c15ULL;
    return static_cast<uint32_t>(h >> 40) & (kSlots - 1);
  }
  Entry* find(uintptr_t lock) noexcept;       // lock-free probe
  Entry* claim(uintptr_t lock) noexcept;      // under claim_lock_

  Entry entries_[kSlots];
  SpinLock claim_lock_;
  std::atomic<bool> claimed_any_{false};  // an entry was ever claimed (set under claim_lock_)
  std::atomic<int64_t> total_{0};
  std::atomic<uint64_t> untracked_{0};
};

}  // namespace profagent
