// The room left on the stack the agent's code runs on (see signal_stack_room.h). SIGNAL/HOOK
// CONTEXT: TLS loads, and a sigaltstack query only off the thread's own stack.
#include "agent/runtime/signal_stack_room.h"

#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "agent/core/code_layout.h"
#include "agent/core/real_sigaction.h"
#include "agent/runtime/unwind/thread_stack.h"

namespace profagent {
namespace {

// The program's altstack for this thread, as set through the sigaltstack hook.
constinit thread_local uintptr_t t_altstack_base __attribute__((tls_model("initial-exec"))) = 0;
constinit thread_local size_t t_altstack_size __attribute__((tls_model("initial-exec"))) = 0;

inline uintptr_t stack_pointer() noexcept {
  uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  return sp;
}

// Room below sp on [base, base + size), or SIZE_MAX if sp is not on it.
inline size_t room_on(uintptr_t sp, uintptr_t base, size_t size) noexcept {
  return sp - base < size ? sp - base : SIZE_MAX;
}

// The recorded altstack: what SS_AUTODISARM hides from uc_stack and from sigaltstack while
// a handler runs on it.
inline size_t room_on_recorded_altstack(uintptr_t sp) noexcept {
  return room_on(sp, t_altstack_base, t_altstack_size);
}

}  // namespace

PROFAGENT_START_PATH size_t signal_stack_room(const void* ucontext) noexcept {
  const uintptr_t sp = stack_pointer();
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  size_t room = room_on(sp, reinterpret_cast<uintptr_t>(uc->uc_stack.ss_sp),
                        uc->uc_stack.ss_size);
  return room != SIZE_MAX ? room : room_on_recorded_altstack(sp);
}

StackRoom current_stack_room() noexcept {
  const uintptr_t sp = stack_pointer();
  uintptr_t lo, hi;
  if (current_thread_stack(&lo, &hi) && sp >= lo && sp < hi) return {StackRoom::kThreadStack, sp - lo};
  if (size_t room = room_on_recorded_altstack(sp); room != SIZE_MAX)
    return {StackRoom::kAltStack, room};
  stack_t ss;
  if (syscall(SYS_sigaltstack, nullptr, &ss) == 0 && !(ss.ss_flags & SS_DISABLE)) {
    size_t room = room_on(sp, reinterpret_cast<uintptr_t>(ss.ss_sp), ss.ss_size);
    if (room != SIZE_MAX) return {StackRoom::kAltStack, room};
  }
  return {StackRoom::kUnknown, SIZE_MAX};
}

SamplingSignalHeldOnAltstack::SamplingSignalHeldOnAltstack(const StackRoom& room) noexcept {
  if (room.where != StackRoom::kAltStack) return;
  sigset_t prof;
  sigemptyset(&prof);
  sigaddset(&prof, SIGPROF);
  held_ = raw_sigmask(SIG_BLOCK, &prof, &old_) == 0;
}

SamplingSignalHeldOnAltstack::~SamplingSignalHeldOnAltstack() {
  // The exact mask back (the program's view of its mask stays valid, signal_mask.h); a
  // SIGPROF that came meanwhile is delivered now, on the room the hook has left.
  if (held_) raw_sigmask(SIG_SETMASK, &old_, nullptr);
}

void note_current_altstack(const stack_t& ss) noexcept {
  if (ss.ss_flags & SS_DISABLE) {
    t_altstack_size = 0;
    t_altstack_base = 0;
    return;
  }
  t_altstack_base = reinterpret_cast<uintptr_t>(ss.ss_sp);
  t_altstack_size = ss.ss_size;
}

}  // namespace profagent
