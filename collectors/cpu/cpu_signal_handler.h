// The CPU sampling signal handler and the counters it shares with the collector.
// SIGNAL CONTEXT: see cpu_signal_handler.cc.
#pragma once

#include <atomic>
#include <cstdint>
#include <signal.h>

#include "collectors/cpu/cpu_sample_buffer.h"

namespace profagent {

struct CpuHandlerState {
  CpuSampleBuffer buffer;
  std::atomic<bool> active{false};
  std::atomic<uint64_t> lost{0};       // buffer full or nothing could be unwound
  std::atomic<uint64_t> in_agent{0};   // in agent code, and the buffer was full
};

// The one-PC stack a sample taken inside the agent's own code (a hook's slow path) is
// recorded with, under the thread's tid: the collector counts it as "[profagent]" and as CPU
// time the thread was sampled for (not suspected of blocking SIGPROF).
inline constexpr uintptr_t kInAgentPc = ~uintptr_t{0} - 1;

CpuHandlerState& cpu_handler_state() noexcept;

// Registered with set_cpu_sample_handler. SIGNAL CONTEXT.
void cpu_sample_handler(siginfo_t* info, void* ucontext) noexcept;

}  // namespace profagent
