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
#include <new>

#include "agent/core/real_sigaction.h"
#include "agent/runtime/unwind/unwinder.h"

namespace profagent {
namespace {

constexpr size_t kStackBytes = 8 * 1024 * 1024;
constexpr size_t kGuardBytes = 64 * 1024;
constexpr size_t kStandInAltstackBytes = 64 * 1024;

// At the bottom of the mapping, below the guard: what the switch needs.
struct SwitchArea {
  ucontext_t caller;
  ucontext_t callee;
  uintptr_t pcs[kMaxFrames];
  int depth;
  void (*fn)(void*);
  void* arg;
  // Left from the thread's altstack: asynchronous signals are held over the switches, and
  // while fn runs a stand-in altstack takes the program's (whose top holds live frames).
  bool from_altstack;
  sigset_t program_mask;  // the mask to run fn with
  sigset_t held;          // what is blocked over the switches
  alignas(16) char stand_in_altstack[kStandInAltstackBytes];
};

constinit thread_local SwitchArea* t_area __attribute__((tls_model("initial-exec"))) = nullptr;

void run_switched() {
  SwitchArea* area = t_area;
  stack_t program_altstack{};
  bool stood_in = false;
  if (area->from_altstack) {
    // Off the program's altstack now (as the kernel sees it), the thread may take signals
    // again if they go to an altstack of their own: SA_ONSTACK handlers (the program's, the
    // agent's) run on the stand-in, never over the frames live at the top of the program's,
    // and a termination signal works during the dump. Raw calls: the sigaltstack hook's
    // record keeps the program's altstack.
    stack_t stand_in{};
    stand_in.ss_sp = area->stand_in_altstack;
    stand_in.ss_size = sizeof area->stand_in_altstack;
    stood_in = syscall(SYS_sigaltstack, &stand_in, &program_altstack) == 0;
    if (stood_in) raw_sigmask(SIG_SETMASK, &area->program_mask, nullptr);
  }
  area->fn(area->arg);
  if (stood_in) {
    raw_sigmask(SIG_BLOCK, &area->held, nullptr);
    program_altstack.ss_flags &= ~SS_ONSTACK;
    syscall(SYS_sigaltstack, &program_altstack, nullptr);
  }
  // Returning goes on to uc_link: back to the caller's context.
}

}  // namespace

bool run_on_fresh_stack(void (*fn)(void*), void* arg) noexcept {
  const size_t area_bytes = (sizeof(SwitchArea) + 4095) & ~size_t{4095};
  const size_t total = kGuardBytes + area_bytes + kStackBytes;
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) return false;
  // [area][guard][stack]: the stack grows down into the guard, never into the area (whose
  // stand-in altstack is written downwards from its own top).
  char* base = static_cast<char*>(mem);
  SwitchArea* area = new (base) SwitchArea{};
  mprotect(base + area_bytes, kGuardBytes, PROT_NONE);
  char* stack = base + area_bytes + kGuardBytes;
  area->fn = fn;
  area->arg = arg;
  area->depth = unwind_from_hook(area->pcs, kMaxFrames);  // 0 without room to walk
  // Left from a handler running on the altstack, the kernel no longer sees the thread on it:
  // a signal delivered meanwhile would get its frame at the altstack's top, over the live
  // frames of exit() and that handler. Asynchronous signals are held over the switches:
  // blocked before the contexts are saved (the way back, setcontext, restores the saved mask
  // before the stack pointer, so it must restore "blocked"), unblocked on the fresh stack
  // once a stand-in altstack is in place (run_switched), and unblocked here for good, back
  // on the program's altstack, where they nest below the live frames.
  stack_t ss;
  if (syscall(SYS_sigaltstack, nullptr, &ss) == 0 && (ss.ss_flags & SS_ONSTACK)) {
    fill_asynchronous_signals(&area->held);
    area->from_altstack = raw_sigmask(SIG_BLOCK, &area->held, &area->program_mask) == 0;
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
  if (area->from_altstack) raw_sigmask(SIG_SETMASK, &area->program_mask, nullptr);
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
