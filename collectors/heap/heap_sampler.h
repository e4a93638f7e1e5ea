// Heap sampling decision (docs/pprof-semantics.md §5.1), shaped after tcmalloc's
// tcmalloc/sampler.h: a per-thread byte countdown in initial-exec TLS. HOOK CONTEXT: the fast
// path below is one thread-local compare and one subtraction, inlined into every malloc hook;
// the slow path (heap_sampler.cc) runs once per sample, allocates nothing, takes no lock and
// is async-signal-safe.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace profagent {

// Mean bytes between samples (PROFAGENT_HEAP_RATE) while the heap collector runs; 0 when it
// does not (before the constructor: every allocation looks again; once the agent runs with
// heap profiling off or stopped, or stays off (valgrind): never again). Read by the slow path.
extern std::atomic<int64_t> g_heap_sample_rate;

// log2(v) for an integer v >= 1, within 1e-15 of libm's, without libm. Pure arithmetic.
double log2_of_count(uint64_t v) noexcept;

class HeapSampler {
 public:
  constexpr HeapSampler() = default;

  // True if an allocation of `size` bytes is to be sampled. Go's rule: sampled iff
  // size >= the countdown; otherwise the countdown shrinks by size. A fresh thread's
  // countdown is 0, so its first allocation takes the slow path, which primes it (draws a
  // first interval and applies the same rule, so a thread's first allocation is not
  // favoured).
  bool record_allocation(size_t size) noexcept {
    if (__builtin_expect(try_record_allocation_fast(size), 1)) return false;
    return record_allocation_slow(size);
  }

  // The fast half alone (tcmalloc's TryRecordAllocationFast): true when the allocation is
  // not sampled and the countdown was decremented; false means "ask record_allocation_slow".
  // Hooks use it so both outcomes end in a tail call and the fast path needs no stack frame.
  bool try_record_allocation_fast(size_t size) noexcept {
    if (__builtin_expect(size < bytes_until_sample_, 1)) {
      bytes_until_sample_ -= size;
      return true;
    }
    return false;
  }

  // Countdown exhausted: decides with the current rate and draws the next interval.
  bool record_allocation_slow(size_t size) noexcept;

  // One exponentially distributed interval with mean `rate` (0 when rate <= 1: every
  // allocation is sampled). Exposed for tests.
  size_t pick_next_interval(int64_t rate) noexcept;

  // Deterministic seeding (tests), for this process; seed 0 means "seed from tid and clock on
  // next use".
  void seed(uint64_t seed) noexcept;
  size_t bytes_until_sample() const noexcept { return bytes_until_sample_; }

  // The countdown once the agent runs without heap sampling: the slow path never runs again.
  static constexpr size_t kOffCountdown = SIZE_MAX;

 private:
  uint64_t next_random() noexcept;

  size_t bytes_until_sample_ = 0;
  uint64_t rng_ = 0;
  // The process rng_ was seeded in. A fork child keeps the countdown it inherits (what is
  // left of an exponential interval is one: the process is memoryless) and draws its next
  // intervals from a seed of its own, so it does not repeat the parent's sampling points.
  // Nothing is reset at the fork: a shell's fork child, which execs after a few allocations,
  // writes no page of the sampler's and runs none of the slow path.
  pid_t seeded_in_ = 0;
  bool primed_ = false;  // a first interval was drawn while the collector ran
};

// The calling thread's sampler. constinit: no TLS wrapper, no dynamic initialisation, so the
// hooks reach it with one %fs-relative load.
extern constinit thread_local HeapSampler t_heap_sampler
    __attribute__((tls_model("initial-exec")));

}  // namespace profagent
