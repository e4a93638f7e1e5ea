// Interposers for blocking waits that are not lock acquisitions: pthread_cond_{wait,
// timedwait,clockwait}, sem_{wait,timedwait,clockwait}, pthread_join, pthread_barrier_wait.
// HOOK CONTEXT. With the block profile off each is one relaxed load and a call of the real
// function (these are all blocking calls: the fast path matters little); inside agent code
// they pass straight through too. Otherwise: a condition-variable wait is timed whole
// (including glibc's internal re-acquisition of the mutex, which no hook sees); a semaphore
// wait or join first tries without blocking (sem_trywait / pthread_tryjoin_np) and is timed
// only when that fails; a barrier wait is timed whole. Results and errno pass through
// unchanged (sem_trywait's EAGAIN is undone before the real call). The cancellation points
// here (cond waits, sem waits, join) are not noexcept: glibc's forced unwind of a cancelled
// thread passes through these frames, which hold nothing. No allocation, no host lock.
// Only in libprofagent.so (hook_sources), never in unit tests.
#include <pthread.h>
#include <semaphore.h>

#include <cerrno>

#include "agent/core/clock.h"
#include "collectors/locks/lock_profiler.h"
#include "collectors/locks/lock_real.h"

namespace {

// Times `call` and records it as a block event when `counts(result)`.
template <typename Call, typename Counts>
__attribute__((noinline)) int timed(Call call, Counts counts) {
  int64_t start = profagent::monotonic_nanos();
  int rc = call();
  int saved = errno;
  if (counts(rc)) profagent::record_block_wait(start, profagent::monotonic_nanos());
  errno = saved;
  return rc;
}

// A condition-variable wait counts when woken or timed out (Go counts every Cond.Wait; a
// timed wait that expires was blocked all along). EINVAL/EPERM return at once: not counted.
inline bool cond_counts(int rc) { return rc == 0 || rc == ETIMEDOUT || rc == EOWNERDEAD; }
// sem_*wait return -1 with errno; ETIMEDOUT is a wait, EINTR/EINVAL are not counted.
inline bool sem_counts(int rc) { return rc == 0 || errno == ETIMEDOUT; }

// sem_trywait first: returns true with *rc set when it took the semaphore or failed for a
// reason other than "would block" (then the real wait would fail the same way at once).
inline bool sem_try(sem_t* s, int* rc) {
  int saved = errno;
  *rc = PROFAGENT_REAL(sem_trywait)(s);
  if (*rc == 0) return true;
  if (errno != EAGAIN) return true;
  errno = saved;
  return false;
}

}  // namespace

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

PROFAGENT_HOOK int pthread_cond_wait(pthread_cond_t* c, pthread_mutex_t* m) {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(cond_wait)(c, m);
  return timed([c, m] { return PROFAGENT_REAL(cond_wait)(c, m); },
               cond_counts);
}

PROFAGENT_HOOK int pthread_cond_timedwait(pthread_cond_t* c, pthread_mutex_t* m,
                                          const timespec* abstime) {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(cond_timedwait)(c, m, abstime);
  return timed(
      [c, m, abstime] { return PROFAGENT_REAL(cond_timedwait)(c, m, abstime); },
      cond_counts);
}

PROFAGENT_HOOK int pthread_cond_clockwait(pthread_cond_t* c, pthread_mutex_t* m, clockid_t clock,
                                          const timespec* abstime) {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(cond_clockwait)(c, m, clock, abstime);
  return timed(
      [c, m, clock, abstime] {
        return PROFAGENT_REAL(cond_clockwait)(c, m, clock, abstime);
      },
      cond_counts);
}

PROFAGENT_HOOK int sem_wait(sem_t* s) {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(sem_wait)(s);
  int rc;
  if (sem_try(s, &rc)) return rc;
  return timed([s] { return PROFAGENT_REAL(sem_wait)(s); }, sem_counts);
}

PROFAGENT_HOOK int sem_timedwait(sem_t* s, const timespec* abstime) {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(sem_timedwait)(s, abstime);
  int rc;
  if (sem_try(s, &rc)) return rc;
  return timed([s, abstime] { return PROFAGENT_REAL(sem_timedwait)(s, abstime); },
               sem_counts);
}

PROFAGENT_HOOK int sem_clockwait(sem_t* s, clockid_t clock, const timespec* abstime) {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(sem_clockwait)(s, clock, abstime);
  int rc;
  if (sem_try(s, &rc)) return rc;
  return timed(
      [s, clock, abstime] {
        return PROFAGENT_REAL(sem_clockwait)(s, clock, abstime);
      },
      sem_counts);
}

PROFAGENT_HOOK int pthread_join(pthread_t thread, void** result) {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(join)(thread, result);
  // An already finished thread is joined without blocking (no event); EBUSY = still running.
  int rc = PROFAGENT_REAL(tryjoin)(thread, result);
  if (rc != EBUSY) return rc;
  return timed([thread, result] { return PROFAGENT_REAL(join)(thread, result); },
               [](int r) { return r == 0; });
}

PROFAGENT_HOOK int pthread_barrier_wait(pthread_barrier_t* b) noexcept {
  if (__builtin_expect(!profagent::block_profiling_on() || profagent::in_agent(), 1))
    return PROFAGENT_REAL(barrier_wait)(b);
  return timed([b] { return PROFAGENT_REAL(barrier_wait)(b); },
               [](int r) { return r == 0 || r == PTHREAD_BARRIER_SERIAL_THREAD; });
}
