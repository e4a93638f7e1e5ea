// HOOK CONTEXT. Interposes pthread_setname_np and prctl so a thread rename invalidates the
// names the hooks and handlers cache per thread (agent/runtime/threads/thread_identity.h).
// Both pass straight through to libc; the real functions are looked up without a guarded
// static (dlsym may allocate, and the malloc hook may run here).
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>

#include "agent/runtime/threads/thread_identity.h"
#include "agent/core/next_symbol.h"

namespace {

using SetnameFn = int (*)(pthread_t, const char*);
using PrctlFn = int (*)(int, unsigned long, unsigned long, unsigned long, unsigned long);

std::atomic<SetnameFn> g_real_setname{nullptr};
std::atomic<PrctlFn> g_real_prctl{nullptr};

template <typename Fn>
Fn real(std::atomic<Fn>& slot, const char* name) {
  Fn fn = slot.load(std::memory_order_acquire);
  if (fn == nullptr) {
    fn = reinterpret_cast<Fn>(profagent::next_symbol(name));
    slot.store(fn, std::memory_order_release);
  }
  return fn;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int pthread_setname_np(pthread_t thread,
                                                                         const char* name) {
  SetnameFn fn = real(g_real_setname, "pthread_setname_np");
  if (fn == nullptr) return ENOSYS;
  int rc = fn(thread, name);
  profagent::note_thread_renamed();
  return rc;
}

extern "C" __attribute__((visibility("default"))) int prctl(int option, ...) {
  va_list ap;
  va_start(ap, option);
  unsigned long a2 = va_arg(ap, unsigned long);
  unsigned long a3 = va_arg(ap, unsigned long);
  unsigned long a4 = va_arg(ap, unsigned long);
  unsigned long a5 = va_arg(ap, unsigned long);
  va_end(ap);
  PrctlFn fn = real(g_real_prctl, "prctl");
  int rc = fn != nullptr ? fn(option, a2, a3, a4, a5)
                         : static_cast<int>(syscall(SYS_prctl, option, a2, a3, a4, a5));
  if (option == PR_SET_NAME) {
    int saved = errno;
    profagent::note_thread_renamed();
    errno = saved;
  }
  return rc;
}
