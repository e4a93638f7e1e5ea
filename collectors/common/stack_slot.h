// One answer slot a signal handler writes a thread's stack into, for the threads snapshot and
// the wall profile: a state word (generation << 3 | phase, moved by CAS), the depth and the
// frames. Fixed-size and allocation-free; the handler writes it in SIGNAL CONTEXT, the agent
// thread reads it after the state says the answer is complete.
#pragma once

#include <atomic>
#include <cstdint>

#include "agent/runtime/unwind/unwinder.h"

namespace profagent {

struct StackSlot {
  std::atomic<uint32_t> state;
  int32_t depth;
  uintptr_t pcs[kMaxFrames];
};

}  // namespace profagent
