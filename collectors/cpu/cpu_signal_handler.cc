// SIGNAL CONTEXT. The CPU timer's SIGPROF handler: unwinds the interrupted thread with
// the agent's walker from the signal's ucontext into a stack array, and adds it to the fixed-size
// CpuSampleBuffer. No allocation, no locks, bounded work; errno is saved by the dispatcher
// (agent/runtime/sampling_signal.cc). Samples that cannot be stored are counted, never waited for.
#include "collectors/cpu/cpu_signal_handler.h"
#include "agent/core/large_bss.h"

#include "agent/core/cost_clock.h"
#include "agent/core/sample_path.h"
#include "agent/core/wakeup.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/signal_stack_room.h"
#include "collectors/common/self_stats.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/runtime/unwind/unwind_tables.h"
#include "agent/runtime/unwind/unwinder.h"
#include "agent/core/code_layout.h"

namespace profagent {

PROFAGENT_FORK_PATH CpuHandlerState& cpu_handler_state() noexcept {
  // Constant-initialised (no guard, no allocation); a fork child resets its buffer here.
  PROFAGENT_FORK_BSS constinit static CpuHandlerState state;
  return state;
}

namespace {

// The sample's stack, walked (its 64-frame array lives only in this frame), or the
// interrupted PC alone where the signal stack has no room for the walk.
PROFAGENT_SAMPLE_PATH __attribute__((noinline)) bool record_walked(CpuHandlerState& state,
                                                                void* ucontext,
                                                                uint64_t weight) noexcept {
  uintptr_t pcs[kMaxFrames];
  int depth = unwind_from_signal(ucontext, pcs, kMaxFrames);
  return depth > 0 &&
         state.buffer.add(current_tid(), pcs, static_cast<uint32_t>(depth), weight);
}

bool record_interrupted_pc(CpuHandlerState& state, void* ucontext, uint64_t weight) noexcept {
  uintptr_t pc[1];
  int depth = unwind_from_signal(ucontext, pc, 1);  // the PC alone here: no room to walk
  return depth > 0 && state.buffer.add(current_tid(), pc, 1, weight);
}

}  // namespace

PROFAGENT_SAMPLE_PATH void cpu_sample_handler(siginfo_t* info, void* ucontext) noexcept {
  CpuHandlerState& state = cpu_handler_state();
  if (!state.active.load(std::memory_order_acquire)) return;
  // The kernel checks CPU-time timers on its scheduler tick (250 Hz on Debian's kernels):
  // above that rate one signal stands for several expirations, counted in si_overrun. Each
  // one is a period of CPU time, so the sample carries them all (totals stay right).
  uint64_t weight = 1 + (info->si_overrun > 0 ? static_cast<uint64_t>(info->si_overrun) : 0);
  if (in_agent()) {
    // The thread is inside the agent's own slow path (possibly mid-walk already):
    // charge the sample to the agent instead of re-entering the unwinder.
    if (!state.buffer.add(current_tid(), &kInAgentPc, 1, weight))
      state.in_agent.fetch_add(weight, std::memory_order_relaxed);
    request_collector_tick();
    return;
  }
  // Self-accounting: the handler's own time (the cost clock: one rdtsc) goes into the
  // profiles' comments, so the overhead can be checked from the files (self_stats.h).
  uint64_t start = cost_clock_now();
  bool recorded = signal_stack_room(ucontext) >= kRoomForCpuWalk
                      ? record_walked(state, ucontext, weight)
                      : record_interrupted_pc(state, ucontext, weight);
  if (!recorded) state.lost.fetch_add(weight, std::memory_order_relaxed);
  request_collector_tick();  // the dump thread drains the buffer ~100 ms from now
  // (A deferred dump thread; one that forked waits until the table fills or a table lacks.)
  offer_point_for_dump_thread(ucontext, state.buffer.filling() || unknown_pc_noted());
  self_add_cost_ticks(SelfCost::kCpuHandler, cost_clock_now() - start);
}

}  // namespace profagent
