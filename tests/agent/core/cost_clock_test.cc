// The self-accounting clock: ticks over a measured interval convert to that interval's
// nanoseconds, with the TSC (where glibc reports it invariant) and without it.
#include "agent/core/cost_clock.h"

#include <gtest/gtest.h>
#include <time.h>

namespace profagent {
namespace {

void sleep_ms(int ms) {
  timespec ts{0, ms * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

TEST(CostClock, TicksConvertToTheElapsedNanoseconds) {
  cost_clock_start(monotonic_nanos());
  sleep_ms(5);  // the ratio needs some time since the start
  uint64_t t0 = cost_clock_now();
  int64_t m0 = monotonic_nanos();
  sleep_ms(20);
  uint64_t t1 = cost_clock_now();
  int64_t m1 = monotonic_nanos();
  double nanos = static_cast<double>(t1 - t0) * cost_clock_nanos_per_tick();
  EXPECT_NEAR(nanos, static_cast<double>(m1 - m0), static_cast<double>(m1 - m0) * 0.02);
}

TEST(CostClock, WithoutTheTscTicksAreNanoseconds) {
  cost_clock_start(monotonic_nanos());
  bool tsc = g_cost_clock_tsc.load();
  g_cost_clock_tsc.store(false);
  EXPECT_EQ(cost_clock_nanos_per_tick(), 1.0);
  int64_t m0 = monotonic_nanos();
  uint64_t t = cost_clock_now();
  int64_t m1 = monotonic_nanos();
  EXPECT_GE(static_cast<int64_t>(t), m0);
  EXPECT_LE(static_cast<int64_t>(t), m1);
  g_cost_clock_tsc.store(tsc);
}

}  // namespace
}  // namespace profagent
