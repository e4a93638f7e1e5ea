// A fresh stack for one call on the calling thread (see fresh_stack.h): makecontext and
// swapcontext, with everything they need (the two contexts, the walked caller stack) kept in
// the mapping, not on the small stack being left. Normal context.
#include "agent/runtime/fresh_stack.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstddef>
#include <initializer_list>
#include <new>

#include "agent/core/real_sigaction.h"
#include "agent/runtime/unwind/unwinder.h"

namespace profagent {
namespace {

constexpr size_t kStackBytes = 8 * 1024 * 1024;
constexpr size_t kGuardBytes = 64 * 1024;

// At the bottom of the mapping, above the guard: what the switch needs.
struct SwitchArea {
  ucontext_t caller;
  ucontext_t callee;
  uintptr_t pcs[kMaxFrames];
  int depth;
  void (*fn)(void*);
  void* arg;
};

constinit thread_local SwitchArea* t_area __attribute__((tls_model("initial-exec"))) = nullptr;

void run_switched() {
  SwitchArea* area = t_area;
  area->fn(area->arg);
  // Returning goes on to uc_link: back to the caller's context.
}

}  // namespace

bool run_on_fresh_stack(void (*fn)(void*), void* arg) noexcept {
  const size_t area_bytes = (sizeof(SwitchArea) + 4095) & ~size_t{4095};
  const size_t total = kGuardBytes + area_bytes + kStackBytes;
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) return false;
  // [area][guard][stack]: the stack grows down into the guard, never into the area.
  char* base = static_cast<char*>(mem);
  SwitchArea* area = new (base) SwitchArea{};
  mprotect(base + area_bytes, kGuardBytes, PROT_NONE);
  char* stack = base + area_bytes + kGuardBytes;
  area->fn = fn;
  area->arg = arg;
  area->depth = unwind_from_hook(area->pcs, kMaxFrames);  // 0 without room to walk
  // Left from a handler running on the altstack, the kernel no longer sees the thread on it:
  // a signal delivered meanwhile would get its frame at the altstack's top, over the live
  // frames of exit() and that handler. Asynchronous signals wait until the thread is back
  // on the altstack: blocked before the contexts are saved (the way back, setcontext,
  // restores the saved mask before the stack pointer, so it must restore "blocked"), and
  // unblocked here, where they nest below the live frames as they would without the agent.
  sigset_t held, old;
  bool hold = false;
  stack_t ss;
  if (syscall(SYS_sigaltstack, nullptr, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
    sigfillset(&held);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS}) sigdelset(&held, sig);
    hold = raw_sigmask(SIG_BLOCK, &held, &old) == 0;
  }
  bool ran = false;
  if (getcontext(&area->callee) == 0) {
    area->callee.uc_stack.ss_sp = stack;
    area->callee.uc_stack.ss_size = kStackBytes;
    area->callee.uc_stack.ss_flags = 0;
    area->callee.uc_link = &area->caller;
    makecontext(&area->callee, run_switched, 0);
    SwitchArea* outer = t_area;  // (never nested in practice)
    t_area = area;
    ran = swapcontext(&area->caller, &area->callee) == 0;
    t_area = outer;
  }
  if (hold) raw_sigmask(SIG_SETMASK, &old, nullptr);
  munmap(mem, total);
  return ran;
}

bool stack_before_switch(const uintptr_t** pcs, int* depth) noexcept {
  SwitchArea* area = t_area;
  if (area == nullptr || area->depth <= 0) return false;
  *pcs = area->pcs;
  *depth = area->depth;
  return true;
}

}  // namespace profagent
