// Per-thread stack bounds (see thread_stack.h). note_current_thread_stack runs in normal
// context; current_thread_stack is async-signal-safe (initial-exec TLS, no lazy allocation).
#include "agent/runtime/unwind/thread_stack.h"

#include <pthread.h>

namespace profagent {
namespace {

struct StackBounds {
  uintptr_t lo = 0, hi = 0;
};
constinit thread_local StackBounds t_stack __attribute__((tls_model("initial-exec")));

}  // namespace

void note_current_thread_stack() noexcept {
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) != 0) return;
  void* addr = nullptr;
  size_t size = 0;
  if (pthread_attr_getstack(&attr, &addr, &size) == 0 && addr != nullptr && size != 0) {
    t_stack.lo = reinterpret_cast<uintptr_t>(addr);
    t_stack.hi = t_stack.lo + size;
  }
  pthread_attr_destroy(&attr);
}

bool current_thread_stack(uintptr_t* lo, uintptr_t* hi) noexcept {
  if (t_stack.hi == 0) return false;
  *lo = t_stack.lo;
  *hi = t_stack.hi;
  return true;
}

}  // namespace profagent
