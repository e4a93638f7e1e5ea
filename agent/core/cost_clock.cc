// The self-accounting clock (see cost_clock.h). Normal context, except cost_clock_now (inline,
// SIGNAL-SAFE).
#include "agent/core/cost_clock.h"

#include <sys/platform/x86.h>

#include "agent/core/code_layout.h"

namespace profagent {

constinit std::atomic<bool> g_cost_clock_tsc{false};

namespace {

constinit std::atomic<uint64_t> g_tsc0{0};
constinit std::atomic<int64_t> g_mono0{0};

}  // namespace

PROFAGENT_START_PATH void cost_clock_start(int64_t monotonic_now) noexcept {
  // glibc's cached CPUID (no CPUID instruction here: it traps to the hypervisor in a VM).
  bool invariant = CPU_FEATURE_PRESENT(INVARIANT_TSC);
  g_mono0.store(monotonic_now, std::memory_order_relaxed);
  g_tsc0.store(__rdtsc(), std::memory_order_relaxed);
  g_cost_clock_tsc.store(invariant, std::memory_order_relaxed);
}

double cost_clock_nanos_per_tick() noexcept {
  if (!g_cost_clock_tsc.load(std::memory_order_relaxed)) return 1.0;
  uint64_t ticks = __rdtsc() - g_tsc0.load(std::memory_order_relaxed);
  int64_t nanos = monotonic_nanos() - g_mono0.load(std::memory_order_relaxed);
  // Both read within tens of ns of each other: over 10 us the ratio is good to 0.5%, over a
  // millisecond to 1e-5. Nothing worth counting is recorded in the first 10 us.
  if (nanos < 10000 || ticks == 0) return 1.0;
  return static_cast<double>(nanos) / static_cast<double>(ticks);
}

}  // namespace profagent
