// SIGNAL CONTEXT (handler half of the wall-clock profile): the sampler thread asks a thread
// that /proc shows running to unwind itself, with a SIGPROF whose cookie carries
// kWallCookieBit; the shared dispatcher (agent/sampling_signal.*) routes it here. The handler
// writes the stack into a fixed-size, preallocated slot (gperftools profiledata style: no
// allocation, no lock, errno preserved by the dispatcher).
//
// Slot states are (generation << 3 | phase) in one atomic word: idle -> requested (sampler,
// before signalling) -> writing (handler, by CAS, only for the current generation) -> done
// (handler). The sampler CASes requested -> abandoned at its deadline, so a late signal finds
// nothing to write. handler(): SIGNAL CONTEXT. The rest: normal context (sampler thread),
// except reset_after_fork (async-signal-safe).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>

#include "agent/unwind/unwinder.h"

namespace profagent {

class WallSignalSlots {
 public:
  static constexpr uint32_t kMaxSlots = 1024;  // running threads asked per tick, at most
  static constexpr int kInAgentDepth = -3;

  // Maps the slots once. False if mmap fails.
  bool init() noexcept;
  bool ready() const noexcept { return slots_ != nullptr; }

  // Starts a new round of requests (invalidates the previous round's late answers).
  void begin_round() noexcept;
  // Asks thread `tid` for its stack. Returns the slot index, or -1 (no free slot, or the
  // signal could not be sent: ESRCH when the thread exited is reported in *err).
  int ask(pid_t tid, int* err) noexcept;
  // Waits until every slot asked this round answered or `deadline_mono` passed.
  void wait(int64_t deadline_mono) noexcept;
  // The answer of slot `index` this round: frames copied into pcs, kInAgentDepth if the thread
  // was running the agent's own code, or -1 if it did not answer (then the slot is abandoned:
  // a late answer writes nothing).
  int take(int index, uintptr_t* pcs, int max_frames) noexcept;

  static void handler(siginfo_t* info, void* ucontext) noexcept;

  void reset_after_fork() noexcept;

 private:
  struct Slot {
    std::atomic<uint32_t> state;
    int32_t depth;
    uintptr_t pcs[kMaxFrames];
  };
  Slot* slots_ = nullptr;
  uint32_t generation_ = 0;
  uint32_t used_ = 0;  // slots asked this round
};

// The process's wall slots (the handler reads them).
extern WallSignalSlots g_wall_slots;

}  // namespace profagent
