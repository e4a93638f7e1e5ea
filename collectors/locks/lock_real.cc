// Resolution of the real lock and wait functions (see lock_real.h). HOOK CONTEXT.
#include "collectors/locks/lock_real.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "agent/core/code_layout.h"
#include "agent/core/next_symbol.h"

namespace profagent {
namespace {

template <typename Fn>
PROFAGENT_START_PATH
Fn resolve_into(std::atomic<Fn>* slot, const char* name, const char* version) noexcept {
  Fn f = reinterpret_cast<Fn>(lookup_real_lock_fn(name, version));
  slot->store(f, std::memory_order_relaxed);
  return f;
}

}  // namespace

void* lookup_real_lock_fn(const char* name, const char* version) noexcept {
  void* p = version != nullptr ? next_symbol(name, version) : nullptr;
  if (p == nullptr) p = next_symbol(name);
  if (p == nullptr) {
    static const char kMsg[] = "profagent: cannot find the real lock function ";
    ssize_t ignored = write(2, kMsg, sizeof kMsg - 1);
    ignored = write(2, name, strlen(name));
    ignored = write(2, "\n", 1);
    (void)ignored;
    abort();
  }
  return p;
}

// Every slot: field of RealLockFns, symbol, preferred version.
#define PROFAGENT_LOCK_FNS(X)                                  \
  X(mutex_lock, "pthread_mutex_lock", "")                 \
  X(mutex_trylock, "pthread_mutex_trylock", "")           \
  X(mutex_unlock, "pthread_mutex_unlock", "")             \
  X(mutex_timedlock, "pthread_mutex_timedlock", "")       \
  X(mutex_clocklock, "pthread_mutex_clocklock", "")       \
  X(rwlock_rdlock, "pthread_rwlock_rdlock", "")           \
  X(rwlock_wrlock, "pthread_rwlock_wrlock", "")           \
  X(rwlock_tryrdlock, "pthread_rwlock_tryrdlock", "")     \
  X(rwlock_trywrlock, "pthread_rwlock_trywrlock", "")     \
  X(rwlock_unlock, "pthread_rwlock_unlock", "")           \
  X(rwlock_timedrdlock, "pthread_rwlock_timedrdlock", "") \
  X(rwlock_timedwrlock, "pthread_rwlock_timedwrlock", "") \
  X(rwlock_clockrdlock, "pthread_rwlock_clockrdlock", "") \
  X(rwlock_clockwrlock, "pthread_rwlock_clockwrlock", "") \
  X(cond_wait, "pthread_cond_wait", "GLIBC_2.3.2")             \
  X(cond_timedwait, "pthread_cond_timedwait", "GLIBC_2.3.2")   \
  X(cond_clockwait, "pthread_cond_clockwait", "")         \
  X(sem_wait, "sem_wait", "")                             \
  X(sem_trywait, "sem_trywait", "")                       \
  X(sem_timedwait, "sem_timedwait", "")                   \
  X(sem_clockwait, "sem_clockwait", "")                   \
  X(join, "pthread_join", "")                             \
  X(tryjoin, "pthread_tryjoin_np", "")                    \
  X(barrier_wait, "pthread_barrier_wait", "")

// Symbol and version strings with static storage (template arguments of the bootstraps).
#define NAMES(field, name, version)        \
  constexpr char k_name_##field[] = name; \
  constexpr char k_version_##field[] = version;
PROFAGENT_LOCK_FNS(NAMES)

// Each slot's bootstrap: resolve, store, call. Its address is a constant expression, so
// g_real_lock is constant-initialised: valid before any constructor runs.
template <typename Fn>
struct Boot;
template <typename R, typename... A, bool kNoexcept>
struct Boot<R (*)(A...) noexcept(kNoexcept)> {
  using Fn = R (*)(A...) noexcept(kNoexcept);
  template <std::atomic<Fn> RealLockFns::*kField, const char* kName, const char* kVersion>
  static R call(A... args) noexcept(kNoexcept) {
    return resolve_into(&(g_real_lock.*kField), kName, kVersion[0] ? kVersion : nullptr)(args...);
  }
};

#define BOOT(field, name, version)                                                  \
  .field{&Boot<decltype(RealLockFns{}.field.load())>::call<&RealLockFns::field,    \
                                                           k_name_##field,          \
                                                           k_version_##field>},

constinit RealLockFns g_real_lock = {PROFAGENT_LOCK_FNS(BOOT)};

namespace {

// Resolves every slot early (before the program's own constructors that come after
// libprofagent.so), while the process normally has one thread: a later first use then never
// takes the loader lock, which a thread inside dlopen could hold while it waits for a lock
// whose hook is resolving.
#define EARLY(field, name, version) \
  resolve_into(&g_real_lock.field, name, version[0] ? version : nullptr);

__attribute__((constructor(101))) PROFAGENT_START_PATH void resolve_early() {
  PROFAGENT_LOCK_FNS(EARLY)
}

}  // namespace
}  // namespace profagent
