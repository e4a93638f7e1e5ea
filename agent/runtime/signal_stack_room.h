// SIGNAL CONTEXT. How much stack a signal handler has left when the kernel ran it on the
// thread's alternate signal stack (sigaltstack + SA_ONSTACK, which every agent handler uses):
// a program may give a thread an altstack barely larger than the kernel's own signal frame
// (4 KiB, where this CPU's frame takes ~3 KiB), and a handler that walks the stack there would
// overflow it. The handlers measure the room first and do less where there is little
// (sampling_signal.cc, the CPU handler, unwind_from_signal). Read from the ucontext the kernel
// saved (uc_stack: the thread's altstack) and the stack pointer: no system call.
#pragma once

#include <signal.h>
#include <ucontext.h>

#include <cstddef>
#include <cstdint>

namespace profagent {

// Bytes below the caller's stack pointer on the alternate signal stack it runs on; SIZE_MAX
// when it does not run on it (a thread's own stack, or a coroutine's: those are walked with
// their bounds checked, stack_walk.h).
inline size_t signal_stack_room(const void* ucontext) noexcept {
  uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  const uintptr_t base = reinterpret_cast<uintptr_t>(uc->uc_stack.ss_sp);
  if (sp - base >= uc->uc_stack.ss_size) return SIZE_MAX;
  return sp - base;
}

// What each step needs below its entry: -fstack-usage of the frames on the way, with margin
// (the e2e test SignalsE2E.SmallSignalStacksSurviveSampling runs altstacks from 3.5 to 8 KiB).
//   the dispatcher calls an agent handler at all (its frame, a handler's entry, a one-frame
//   sample):
constexpr size_t kRoomForAgentHandler = 512;
//   the CPU handler records a walked stack (its 64-frame array, then a walk):
constexpr size_t kRoomForCpuWalk = 2048;
//   unwind_from_signal walks (its 512-byte read window, walk_stack, the deepest read);
//   with less it returns the interrupted PC alone:
constexpr size_t kRoomForWalk = 1536;

}  // namespace profagent
