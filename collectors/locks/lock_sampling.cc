// Block/mutex sampling rules (see lock_sampling.h). HOOK CONTEXT: no allocation, no locks.
#include "collectors/locks/lock_sampling.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "agent/core/clock.h"

namespace profagent {
namespace {

constinit thread_local uint64_t t_lock_rng __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace

ContentionWeight block_event_weight(int64_t delay_nanos, int64_t rate, uint64_t random) noexcept {
  ContentionWeight w;
  if (rate <= 0) return w;
  int64_t d = delay_nanos <= 0 ? 1 : delay_nanos;
  if (d >= rate) {
    w.record = true;
    w.count = 1;
    w.delay = d;
    return w;
  }
  // Go: blocksampled() drops the event when rate > cycles && random % rate > cycles.
  if (static_cast<int64_t>(random % static_cast<uint64_t>(rate)) > d) return w;
  w.record = true;
  w.count = static_cast<double>(rate) / static_cast<double>(d);
  w.delay = rate;
  return w;
}

ContentionWeight mutex_event_weight(int64_t delay_nanos, int64_t fraction,
                                    uint64_t random) noexcept {
  ContentionWeight w;
  if (fraction <= 0) return w;
  if (fraction > 1 && random % static_cast<uint64_t>(fraction) != 0) return w;
  int64_t d = delay_nanos < 0 ? 0 : delay_nanos;
  w.record = true;
  w.count = static_cast<double>(fraction);
  // Saturate rather than overflow for absurd fractions.
  w.delay = d > INT64_MAX / fraction ? INT64_MAX : d * fraction;
  return w;
}

uint64_t lock_random() noexcept {
  uint64_t x = t_lock_rng;
  if (x == 0) {
    x = static_cast<uint64_t>(monotonic_nanos()) ^
        (static_cast<uint64_t>(syscall(SYS_gettid)) * 0x9e3779b97f4a7c15ULL);
    if (x == 0) x = 0x2545f4914f6cdd1dULL;
  }
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  t_lock_rng = x;
  return x * 0x2545f4914f6cdd1dULL;
}

void reset_lock_random() noexcept { t_lock_rng = 0; }

}  // namespace profagent
