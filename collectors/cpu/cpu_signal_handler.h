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
  std::atomic<uint64_t> in_agent{0};   // the thread was running agent code (hook slow path)
};

CpuHandlerState& cpu_handler_state() noexcept;

// Registered with set_cpu_sample_handler. SIGNAL CONTEXT.
void cpu_sample_handler(siginfo_t* info, void* ucontext) noexcept;

}  // namespace profagent
