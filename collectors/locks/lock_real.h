// The real (next in lookup order) pthread/semaphore functions behind the lock and wait
// hooks. Each slot starts out pointing at a bootstrap function that resolves the real one
// as dlsym(RTLD_NEXT) would (dlvsym for the condition variables, whose default version is
// GLIBC_2.3.2; agent/core/next_symbol.h), stores it in the slot and calls it; an early
// constructor resolves them all while the process normally has one thread, so a later first
// use never takes the loader lock. Hooks therefore work before the agent starts, and a
// hook's fast path is one load and an indirect tail jump (no null test, no frame). HOOK
// CONTEXT: resolution may allocate inside dlsym when it falls back to it (the heap hooks
// serve that) and preserves errno. Only in libprofagent.so (hook_sources).
#pragma once

#include <pthread.h>
#include <semaphore.h>
#include <time.h>

#include <atomic>

namespace profagent {

// noexcept pointer types where glibc declares the function __THROW / __THROWNL: a noexcept
// hook can tail-call them. Cancellation points (cond waits, sem waits, join) are not noexcept.
using MutexFn = int (*)(pthread_mutex_t*) noexcept;
using MutexTimedFn = int (*)(pthread_mutex_t*, const timespec*) noexcept;
using MutexClockFn = int (*)(pthread_mutex_t*, clockid_t, const timespec*) noexcept;
using RwFn = int (*)(pthread_rwlock_t*) noexcept;
using RwTimedFn = int (*)(pthread_rwlock_t*, const timespec*) noexcept;
using RwClockFn = int (*)(pthread_rwlock_t*, clockid_t, const timespec*) noexcept;
using CondWaitFn = int (*)(pthread_cond_t*, pthread_mutex_t*);
using CondTimedFn = int (*)(pthread_cond_t*, pthread_mutex_t*, const timespec*);
using CondClockFn = int (*)(pthread_cond_t*, pthread_mutex_t*, clockid_t, const timespec*);
using SemFn = int (*)(sem_t*);
using SemTryFn = int (*)(sem_t*) noexcept;
using SemTimedFn = int (*)(sem_t*, const timespec*);
using SemClockFn = int (*)(sem_t*, clockid_t, const timespec*);
using JoinFn = int (*)(pthread_t, void**);
using TryjoinFn = int (*)(pthread_t, void**) noexcept;
using BarrierFn = int (*)(pthread_barrier_t*) noexcept;

struct RealLockFns {
  std::atomic<MutexFn> mutex_lock, mutex_trylock, mutex_unlock;
  std::atomic<MutexTimedFn> mutex_timedlock;
  std::atomic<MutexClockFn> mutex_clocklock;
  std::atomic<RwFn> rwlock_rdlock, rwlock_wrlock, rwlock_tryrdlock, rwlock_trywrlock,
      rwlock_unlock;
  std::atomic<RwTimedFn> rwlock_timedrdlock, rwlock_timedwrlock;
  std::atomic<RwClockFn> rwlock_clockrdlock, rwlock_clockwrlock;
  std::atomic<CondWaitFn> cond_wait;
  std::atomic<CondTimedFn> cond_timedwait;
  std::atomic<CondClockFn> cond_clockwait;
  std::atomic<SemFn> sem_wait;
  std::atomic<SemTryFn> sem_trywait;
  std::atomic<SemTimedFn> sem_timedwait;
  std::atomic<SemClockFn> sem_clockwait;
  std::atomic<JoinFn> join;
  std::atomic<TryjoinFn> tryjoin;
  std::atomic<BarrierFn> barrier_wait;
};

extern constinit RealLockFns g_real_lock;

// The real function in field `f` of g_real_lock.
#define PROFAGENT_REAL(f) (::profagent::g_real_lock.f.load(std::memory_order_relaxed))

// Looks a function up (preferring `version` when given). Never returns nullptr: a function
// the C library lacks aborts with a message (glibc 2.36 has every one of them).
__attribute__((cold, noinline)) void* lookup_real_lock_fn(const char* name,
                                                          const char* version) noexcept;

}  // namespace profagent
