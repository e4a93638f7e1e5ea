// The clock the agent measures its own cost with inside signal handlers and hooks (the
// self-accounting). The time-stamp counter when glibc reports it invariant: one instruction,
// where a cold vDSO clock_gettime cost ~0.4 us per sample in a handler (its data page and
// code missed the cache between two samples). Ticks become nanoseconds at dump time, with the
// ratio of CLOCK_MONOTONIC to the counter measured since the agent started. Without an
// invariant TSC the ticks are CLOCK_MONOTONIC nanoseconds. cost_clock_now is SIGNAL-SAFE;
// cost_clock_start and cost_clock_nanos_per_tick are normal context.
#pragma once

#include <x86intrin.h>

#include <atomic>
#include <cstdint>

#include "agent/core/clock.h"

namespace profagent {

extern std::atomic<bool> g_cost_clock_tsc;

// Records the starting point (CLOCK_MONOTONIC now, ns) and decides TSC or not. Once, at
// agent start.
void cost_clock_start(int64_t monotonic_now) noexcept;

inline uint64_t cost_clock_now() noexcept {
  if (g_cost_clock_tsc.load(std::memory_order_relaxed)) return __rdtsc();
  return static_cast<uint64_t>(monotonic_nanos());
}

// Nanoseconds per tick now (1 without the TSC, or before enough time passed to measure).
double cost_clock_nanos_per_tick() noexcept;

}  // namespace profagent
