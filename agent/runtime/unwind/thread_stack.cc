// Per-thread stack bounds (see thread_stack.h). note_current_thread_stack runs in normal
// context; current_thread_stack is async-signal-safe (initial-exec TLS, no lazy allocation).
#include "agent/runtime/unwind/thread_stack.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/core/process_id.h"
#include "agent/core/sample_path.h"
#include "agent/core/code_layout.h"
#include "agent/runtime/threads/thread_registry.h"

extern "C" void* __libc_stack_end;  // ld.so's (GLIBC_2.1): where the initial stack began

namespace profagent {
namespace {

struct StackBounds {
  uintptr_t lo = 0, hi = 0;
};
constinit thread_local StackBounds t_stack __attribute__((tls_model("initial-exec")));

}  // namespace

// The main thread's stack without reading /proc/self/maps (pthread_getattr_np reads it all
// through stdio, a noticeable part of a short process's start). The top is glibc's own: the
// end of the page holding __libc_stack_end (the dynamic loader's record of the initial
// stack, just below argv). Below, the region extends by RLIMIT_STACK (1 GiB when unlimited),
// a little lower than glibc's bound (which also subtracts the argument area and stops at the
// previous mapping); the low end only decides whether an SP is on this stack, and the
// kernel keeps at least that much unmapped below the stack for it to grow into.
// False when this is not the main thread or the answer does not hold together.
PROFAGENT_START_PATH
bool main_thread_stack(uintptr_t* lo, uintptr_t* hi) {
  if (current_tid() != own_pid()) return false;  // (both cached during the start)
  auto stack_end = reinterpret_cast<uintptr_t>(__libc_stack_end);
  long page = sysconf(_SC_PAGESIZE);
  if (stack_end == 0 || page <= 0) return false;
  uintptr_t top = (stack_end & ~(static_cast<uintptr_t>(page) - 1)) + static_cast<uintptr_t>(page);
  uintptr_t sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  constexpr uintptr_t kMaxSize = uintptr_t{1} << 30;
  if (sp >= top || top - sp > kMaxSize) return false;
  rlimit limit;
  uintptr_t size = kMaxSize;
  if (getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < kMaxSize)
    size = limit.rlim_cur;
  if (top - sp > size) return false;
  *lo = top - size;
  *hi = top;
  return true;
}

PROFAGENT_START_PATH
void note_current_thread_stack() noexcept {
  uintptr_t lo, hi;
  if (main_thread_stack(&lo, &hi)) {
    t_stack.lo = lo;
    t_stack.hi = hi;
    return;
  }
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

PROFAGENT_SAMPLE_PATH bool current_thread_stack(uintptr_t* lo, uintptr_t* hi) noexcept {
  if (t_stack.hi == 0) return false;
  *lo = t_stack.lo;
  *hi = t_stack.hi;
  return true;
}

}  // namespace profagent
