// SIGNAL/HOOK CONTEXT. How much stack the agent's code has left where it runs: a program may
// give a thread an alternate signal stack barely larger than the kernel's own signal frame
// (4 KiB, where this CPU's frame takes ~3 KiB), run coroutines on small stacks, or call
// exit() from a handler on its altstack. Every agent handler is SA_ONSTACK, and the
// sampled hook paths and the exit dump run on whatever stack the program is on: each
// measures the room first and does less (or hands the work to an agent thread) where there
// is little. No system call on a thread's own stack; the thread's altstack comes from the
// signal's ucontext (uc_stack), or from the record the sigaltstack hook keeps
// (agent/runtime/altstack_hooks.cc) when SS_AUTODISARM cleared it for the handler's run.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>

namespace profagent {

// Bytes below the caller's stack pointer on the alternate signal stack it runs on, from the
// signal's ucontext; SIZE_MAX when it does not run on one (a thread's own stack, or a
// coroutine's: those are walked with their bounds checked, stack_walk.h).
size_t signal_stack_room(const void* ucontext) noexcept;

// Where the caller runs, and the bytes left below its stack pointer there.
struct StackRoom {
  enum Where { kThreadStack, kAltStack, kUnknown } where;
  size_t bytes;  // SIZE_MAX for kUnknown (a coroutine's stack, a thread the agent never saw)
};
StackRoom current_stack_room() noexcept;

// current_stack_room()'s bytes where the stack is known, 0 where it is not: for work that
// needs room it must be sure of (a coroutine's stack, an alternate stack set with a raw
// system call, count as none).
inline size_t known_stack_room() noexcept {
  const StackRoom room = current_stack_room();
  return room.where == StackRoom::kUnknown ? 0 : room.bytes;
}

// While a hook records a sample on an alternate signal stack (a program handler that
// allocates or locks there), the agent's own SIGPROF waits: a CPU sample nested under it
// would need another kernel signal frame (~3 KiB) below the hook's frames, which a small
// altstack has no room for. A no-op (no system call) on any other stack.
class SamplingSignalHeldOnAltstack {
 public:
  explicit SamplingSignalHeldOnAltstack(const StackRoom& room) noexcept;
  ~SamplingSignalHeldOnAltstack();
  SamplingSignalHeldOnAltstack(const SamplingSignalHeldOnAltstack&) = delete;
  SamplingSignalHeldOnAltstack& operator=(const SamplingSignalHeldOnAltstack&) = delete;

 private:
  bool held_ = false;
  sigset_t old_;
};

// The calling thread's alternate signal stack as the program last set it through glibc's
// sigaltstack (the hook records it; size 0 once disabled). Hook context.
void note_current_altstack(const stack_t& ss) noexcept;

// What each step needs below its entry: -fstack-usage of the frames on the way, with margin
// (SignalsE2E.SmallSignalStacksSurviveSampling runs altstacks from 3.5 to 8 KiB).
//   the dispatcher calls an agent handler at all (its frame, a handler's entry, a one-frame
//   sample):
constexpr size_t kRoomForAgentHandler = 512;
//   the CPU handler records a walked stack (its 64-frame array, then a walk):
constexpr size_t kRoomForCpuWalk = 2048;
//   unwind_from_signal walks (its 512-byte read window, walk_stack, the deepest read);
//   with less it returns the interrupted PC alone:
constexpr size_t kRoomForWalk = 1536;
//   the same walk before the first unwind tables, which reads each rule from the object's
//   .eh_frame (fde_lookup.h: a 512-byte copy of an FDE, the interpreter's state stack):
constexpr size_t kRoomForWalkWithoutTables = 3584;
//   a sampled allocation or lock event records its stack (its 64-frame array, then the
//   walk); with less the sample is given up and counted as lost:
constexpr size_t kRoomForHookSample = 2560;
//   the exit dump runs on the exiting thread's stack (symbolization may read DWARF with
//   libdw, whose frames take tens of KiB); with less, or on a stack of unknown extent, it
//   runs on a fresh stack (agent/runtime/fresh_stack.h):
constexpr size_t kRoomForExitDump = 1024 * 1024;
//   the agent starts a fork child's deferred dump thread from a handler or a hook
//   (thread_start_point.h: a 128-frame walk, then pthread_create, whose allocation and
//   system calls take ~2 KiB) only with this much left:
constexpr size_t kRoomToStartThread = 16 * 1024;

}  // namespace profagent
