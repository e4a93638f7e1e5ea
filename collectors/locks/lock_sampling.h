// Sampling and weighting rules of the block and mutex profiles (docs/pprof-semantics.md §5.2,
// §5.3), as pure functions plus a per-thread random source. HOOK CONTEXT: everything here is
// allocation-free, lock-free and async-signal-safe; the random state is initial-exec TLS.
#pragma once

#include <cstdint>

namespace profagent {

// What one event adds to its bucket (nothing when record is false).
struct ContentionWeight {
  bool record = false;
  double count = 0;   // contentions (a float, as Go keeps it: block events shorter than the
                      // rate count rate/d each)
  int64_t delay = 0;  // nanoseconds
};

// Go's block rule (runtime.blockevent, Go >= 1.17): with d = max(delay, 1),
// an event with d >= rate is always recorded as (1, d); a shorter one is recorded with
// probability d/rate (kept unless random % rate > d, as Go's blocksampled) and then counts
// (rate/d, rate). E[count] = 1 and E[delay] = d per event. rate <= 0: never recorded.
ContentionWeight block_event_weight(int64_t delay_nanos, int64_t rate, uint64_t random) noexcept;

// Go's mutex rule (runtime.mutexevent, Go >= 1.20 record-time scaling): an event is kept
// with probability 1/fraction (random % fraction == 0) and then counts (fraction,
// fraction * delay). fraction <= 0: never recorded. Negative delays count as 0.
ContentionWeight mutex_event_weight(int64_t delay_nanos, int64_t fraction,
                                    uint64_t random) noexcept;

// A fast per-thread random number (xorshift64*, seeded from the tid and the clock on first
// use). Not for cryptography; good enough to decide samples.
uint64_t lock_random() noexcept;
// Fork child: the child must not repeat the parent's random sequence.
void reset_lock_random() noexcept;

}  // namespace profagent
