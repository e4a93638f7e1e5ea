// Interposers for mutexes and rwlocks: pthread_mutex_{lock,timedlock,clocklock,unlock},
// pthread_rwlock_{rd,wr,timedrd,timedwr,clockrd,clockwr}lock and pthread_rwlock_unlock.
// HOOK CONTEXT, on every lock call of the host.
//
// Fast paths (each a frameless tail call to the real function, no clock, no TLS, no write):
// * profiling off: one relaxed load.
// * lock: the lock word says free (glibc's pthread_mutex_t __data.__lock == 0, which holds for
//   every mutex kind when unlocked except priority-protect ones, whose ceiling bits send them
//   down the slow path; pthread_rwlock_t __data.__readers == 0): the real lock takes it
//   without waiting. This read is the "try" of the fast path: a real trylock call there cost
//   ~20% on an uncontended lock/unlock pair (scripts/bench-locks), the read costs ~nothing.
//   A thread that reads "free" and loses the race for the lock in the next few nanoseconds
//   waits untimed: that rare wait is missing from both profiles (never misattributed).
// * unlock: no waiter tracked anywhere in the process (lock_wait_table.h).
// Slow paths (lock word busy): called from agent code (lock_callers.h):
// straight through. Otherwise the real trylock first; only when it reports EBUSY the clock
// is read, the waiter registered and the real blocking function called (lock_profiler.h).
//
// No allocation, no lock the host can hold, errno and every return value (EBUSY, ETIMEDOUT,
// EOWNERDEAD, EDEADLK, EPERM...) passed through unchanged: the real call's result is returned
// as is, and a trylock result other than EBUSY is what the real lock would have returned
// without blocking (robust: EOWNERDEAD with the lock taken). Only in libprofagent.so
// (hook_sources), never in unit tests.
#include <pthread.h>

#include <cerrno>

#include "agent/core/code_layout.h"
#include "collectors/locks/lock_callers.h"
#include "collectors/locks/lock_profiler.h"
#include "collectors/locks/lock_real.h"

namespace {

inline bool looks_free(pthread_mutex_t* m) {
  return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0;
}
inline bool looks_free(pthread_rwlock_t* l) {
  return __atomic_load_n(&l->__data.__readers, __ATOMIC_RELAXED) == 0;
}

// True if the call blocked and then got (or timed out waiting for) the lock: a block event.
inline bool waited(int rc) { return rc == 0 || rc == EOWNERDEAD || rc == ETIMEDOUT; }

// The slow half of every lock hook. `caller` is the hook's return address.
template <typename Lock, typename Call>
__attribute__((noinline)) int acquire_slow(Lock* lock, const void* caller,
                                           int (*try_lock)(Lock*) noexcept, Call call) noexcept {
  if (profagent::in_agent() || profagent::is_internal_lock_caller(caller)) return call();
  int rc = try_lock(lock);
  if (rc != EBUSY) return rc;
  profagent::LockWait wait;
  profagent::lock_wait_begin(&wait, lock);
  rc = call();
  profagent::lock_wait_end(wait, waited(rc));
  return rc;
}

template <typename Lock>
__attribute__((noinline)) int unlock_slow(Lock* lock, const void* caller,
                                          int (*real)(Lock*) noexcept) noexcept {
  if (profagent::in_agent() || profagent::is_internal_lock_caller(caller)) return real(lock);
  profagent::UnlockCharge charge = profagent::unlock_charge(lock);
  int rc = real(lock);
  if (rc == 0) profagent::unlock_finish(charge);
  return rc;
}

}  // namespace

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))
#define FAST(lock) __builtin_expect(!profagent::lock_profiling_on() || looks_free(lock), 1)
#define CALLER __builtin_return_address(0)

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
int pthread_mutex_lock(pthread_mutex_t* m) noexcept {
  if (FAST(m)) return PROFAGENT_REAL(mutex_lock)(m);
  return acquire_slow(m, CALLER, PROFAGENT_REAL(mutex_trylock),
                      [m] { return PROFAGENT_REAL(mutex_lock)(m); });
}

PROFAGENT_HOOK int pthread_mutex_timedlock(pthread_mutex_t* m, const timespec* abstime) noexcept {
  if (FAST(m)) return PROFAGENT_REAL(mutex_timedlock)(m, abstime);
  return acquire_slow(m, CALLER, PROFAGENT_REAL(mutex_trylock), [m, abstime] {
    return PROFAGENT_REAL(mutex_timedlock)(m, abstime);
  });
}

PROFAGENT_HOOK int pthread_mutex_clocklock(pthread_mutex_t* m, clockid_t clock,
                                           const timespec* abstime) noexcept {
  if (FAST(m)) return PROFAGENT_REAL(mutex_clocklock)(m, clock, abstime);
  return acquire_slow(m, CALLER, PROFAGENT_REAL(mutex_trylock), [m, clock, abstime] {
    return PROFAGENT_REAL(mutex_clocklock)(m, clock, abstime);
  });
}

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
int pthread_mutex_unlock(pthread_mutex_t* m) noexcept {
  if (__builtin_expect(!profagent::unlock_may_charge(), 1))
    return PROFAGENT_REAL(mutex_unlock)(m);
  return unlock_slow(m, CALLER, PROFAGENT_REAL(mutex_unlock));
}

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
int pthread_rwlock_rdlock(pthread_rwlock_t* l) noexcept {
  if (FAST(l)) return PROFAGENT_REAL(rwlock_rdlock)(l);
  return acquire_slow(l, CALLER, PROFAGENT_REAL(rwlock_tryrdlock),
                      [l] { return PROFAGENT_REAL(rwlock_rdlock)(l); });
}

PROFAGENT_HOOK PROFAGENT_HOT_HOOK
int pthread_rwlock_wrlock(pthread_rwlock_t* l) noexcept {
  if (FAST(l)) return PROFAGENT_REAL(rwlock_wrlock)(l);
  return acquire_slow(l, CALLER, PROFAGENT_REAL(rwlock_trywrlock),
                      [l] { return PROFAGENT_REAL(rwlock_wrlock)(l); });
}

PROFAGENT_HOOK int pthread_rwlock_timedrdlock(pthread_rwlock_t* l, const timespec* abstime) noexcept {
  if (FAST(l)) return PROFAGENT_REAL(rwlock_timedrdlock)(l, abstime);
  return acquire_slow(l, CALLER, PROFAGENT_REAL(rwlock_tryrdlock), [l, abstime] {
    return PROFAGENT_REAL(rwlock_timedrdlock)(l, abstime);
  });
}

PROFAGENT_HOOK int pthread_rwlock_timedwrlock(pthread_rwlock_t* l, const timespec* abstime) noexcept {
  if (FAST(l)) return PROFAGENT_REAL(rwlock_timedwrlock)(l, abstime);
  return acquire_slow(l, CALLER, PROFAGENT_REAL(rwlock_trywrlock), [l, abstime] {
    return PROFAGENT_REAL(rwlock_timedwrlock)(l, abstime);
  });
}

PROFAGENT_HOOK int pthread_rwlock_clockrdlock(pthread_rwlock_t* l, clockid_t clock,
                                              const timespec* abstime) noexcept {
  if (FAST(l)) return PROFAGENT_REAL(rwlock_clockrdlock)(l, clock, abstime);
  return acquire_slow(l, CALLER, PROFAGENT_REAL(rwlock_tryrdlock), [l, clock, abstime] {
    return PROFAGENT_REAL(rwlock_clockrdlock)(l, clock, abstime);
  });
}

PROFAGENT_HOOK int pthread_rwlock_clockwrlock(pthread_rwlock_t* l, clockid_t clock,
                                              const timespec* abstime) noexcept {
  if (FAST(l)) return PROFAGENT_REAL(rwlock_clockwrlock)(l, clock, abstime);
  return acquire_slow(l, CALLER, PROFAGENT_REAL(rwlock_trywrlock), [l, clock, abstime] {
    return PROFAGENT_REAL(rwlock_clockwrlock)(l, clock, abstime);
  });
}

PROFAGENT_HOOK PROFAGENT_START_PATH PROFAGENT_HOT_HOOK
int pthread_rwlock_unlock(pthread_rwlock_t* l) noexcept {
  if (__builtin_expect(!profagent::unlock_may_charge(), 1))
    return PROFAGENT_REAL(rwlock_unlock)(l);
  return unlock_slow(l, CALLER, PROFAGENT_REAL(rwlock_unlock));
}
