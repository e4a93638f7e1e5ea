// The slow paths shared by every lock and wait hook (lock_hooks.cc, wait_hooks.cc) and the
// state they record into: settings, the waiter side table, the block and mutex aggregates.
// HOOK CONTEXT: the inline tests below are the hooks' fast paths (relaxed loads only); the
// out-of-line functions run only for a contended lock or a blocking wait, save and
// restore errno, allocate nothing, take only agent spin locks, and run their bookkeeping
// under AgentScope (never across the program's real blocking call).
#pragma once

#include <atomic>
#include <cstdint>

#include "agent/runtime/hook_guard.h"
#include "collectors/locks/contention_table.h"
#include "collectors/locks/lock_wait_table.h"

namespace profagent {

// PROFAGENT_BLOCK_RATE / PROFAGENT_MUTEX_FRACTION while their collectors run; 0 before the
// constructor and after stop().
extern std::atomic<int64_t> g_block_rate;
extern std::atomic<int64_t> g_mutex_fraction;

extern constinit ContentionTable g_block_table;
extern constinit ContentionTable g_mutex_table;
extern constinit LockWaitTable g_lock_waits;

// Fast-path tests (inline in every hook). They read no TLS, so a hook's fast path compiles
// to a frameless tail call; the slow paths test in_agent() themselves.
inline bool lock_profiling_on() noexcept {
  return (g_block_rate.load(std::memory_order_relaxed) |
          g_mutex_fraction.load(std::memory_order_relaxed)) != 0;
}
inline bool block_profiling_on() noexcept {
  return g_block_rate.load(std::memory_order_relaxed) != 0;
}
// Waiters are tracked only while the mutex profile runs (lock_wait_begin): with it off, no
// unlock reads the waiter table (its count lies on a page of its own, .lbss, that every
// process's first unlock faulted in).
inline bool unlock_may_charge() noexcept {
  return g_mutex_fraction.load(std::memory_order_relaxed) != 0 && g_lock_waits.any_waiters();
}

// A contended acquisition, from the failed try to the real call's return.
struct LockWait {
  int64_t start = 0;
  WaitTicket ticket;
};
// Reads the clock and, with mutex profiling on, registers the waiter for `lock`.
void lock_wait_begin(LockWait* wait, const void* lock) noexcept;
// Departs the waiter and, if `waited` (the call blocked: acquired or timed out rather than
// failing at once), records a block event at the caller's stack.
void lock_wait_end(const LockWait& wait, bool waited) noexcept;

// A blocking wait that has no lock to track (condition variable, semaphore, join, barrier):
// records a block event of end - start at the caller's stack.
void record_block_wait(int64_t start, int64_t end) noexcept;

// Unlock side: charge() before the real unlock (waiters' accumulated wait, reset), then
// finish() after it succeeded (mutex sampling, unwinding, recording at the unlocker's stack).
struct UnlockCharge {
  int64_t delay = 0;
  int32_t waiters = 0;
};
UnlockCharge unlock_charge(const void* lock) noexcept;
void unlock_finish(const UnlockCharge& charge) noexcept;

}  // namespace profagent
