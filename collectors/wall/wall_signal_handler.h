// SIGNAL CONTEXT (handler half of the wall-clock profile): the sampler thread asks a thread
// that /proc shows running to unwind itself, with a SIGPROF from a one-shot timer on that
// thread's CPU clock (it fires only while the thread runs, on its way back to user space, so
// it never interrupts a wait) whose cookie carries kWallCookieBit; the shared dispatcher
// (agent/sampling_signal.*) routes it here. The handler
// writes the stack into a fixed-size, preallocated slot (gperftools profiledata style: no
// allocation, no lock, errno preserved by the dispatcher).
//
// Slot states are (generation << 3 | phase) in one atomic word: idle -> requested (sampler,
// before signalling; a new generation per request) -> writing (handler, by CAS, only if the
// generation in the signal's cookie is the slot's) -> done (handler, which then wakes the
// sampler's futex) -> idle (sampler, after copying). Giving up is requested -> idle by CAS, so
// a late signal finds another state and writes nothing. handler(): SIGNAL CONTEXT. The rest: normal context (sampler thread),
// except reset_after_fork (async-signal-safe).
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <atomic>
#include <cstdint>

#include "agent/runtime/unwind/unwinder.h"
#include "collectors/common/stack_slot.h"

namespace profagent {

class WallSignalSlots {
 public:
  static constexpr uint32_t kMaxSlots = 1024;  // running threads asked per tick, at most
  static constexpr int kInAgentDepth = -3;
  static constexpr int kPendingDepth = -4;

  // Maps the slots once. False if mmap fails.
  bool init() noexcept;
  bool ready() const noexcept { return slots_ != nullptr; }

  // Asks thread `tid` for its stack. Returns the slot index, or -1 (no idle slot, or the
  // request timer could not be made: ESRCH, the thread exited, is reported in *err). The request
  // stays open until poll() sees it answered or abandon() gives it up, across ticks if need
  // be (a runnable thread waiting for a CPU answers when it gets one).
  int ask(pid_t tid, int* err) noexcept;
  // Waits until every slot in `indices` (negative entries ignored) answered, or the deadline.
  // Sleeps on a futex the handler wakes: no polling.
  void wait(const int* indices, size_t count, int64_t deadline_mono) noexcept;
  // The answer of slot `index`: frames copied into pcs (the slot is freed), kInAgentDepth if
  // the thread was running the agent's own code (freed), kPendingDepth if not answered yet,
  // -1 if the slot holds no request.
  int poll(int index, uintptr_t* pcs, int max_frames) noexcept;
  // Gives the request up (deletes its timer): a late signal writes nothing.
  void abandon(int index) noexcept;

  static void handler(siginfo_t* info, void* ucontext) noexcept;

  void reset_after_fork() noexcept;

 private:
  using Slot = StackSlot;
  Slot* slots_ = nullptr;
  uint32_t generation_ = 0;
  uint32_t cursor_ = 0;  // where ask() looks for an idle slot next
  void drop_timer(int index) noexcept;
  // Each open request's timer (sampler thread only; the handler never touches them).
  timer_t timers_[kMaxSlots] = {};
  bool timer_live_[kMaxSlots] = {};
};

// The process's wall slots (the handler reads them).
extern WallSignalSlots g_wall_slots;

}  // namespace profagent
