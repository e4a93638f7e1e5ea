// Heap sampler slow path and interval math. HOOK CONTEXT: called from malloc hooks once per
// sample; no allocation, no locks, only the vDSO clock, gettid and our own log2 (no libm).
#include "collectors/heap/heap_sampler.h"

#include <ctime>

#include "agent/core/code_layout.h"
#include "agent/core/running_flag.h"
#include "agent/core/clock.h"
#include "agent/core/process_id.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/threads/thread_registry.h"

namespace profagent {

std::atomic<int64_t> g_heap_sample_rate{0};
constinit thread_local HeapSampler t_heap_sampler __attribute__((tls_model("initial-exec")));

namespace {

uint64_t splitmix64(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

void HeapSampler::seed(uint64_t seed) noexcept {
  rng_ = seed;
  seeded_in_ = own_pid();
}

PROFAGENT_SAMPLE_PATH uint64_t HeapSampler::next_random() noexcept {
  const pid_t pid = own_pid();
  if (rng_ == 0 || seeded_in_ != pid) {
    // Distinct per thread and per process (a fork child seeds anew): tid, pid, clock, and
    // where this thread's TLS block lives.
    uint64_t seed = splitmix64(static_cast<uint64_t>(current_tid()));
    seed = splitmix64(seed ^ static_cast<uint64_t>(pid));
    seed = splitmix64(seed ^ static_cast<uint64_t>(monotonic_nanos()));
    seed = splitmix64(seed ^ reinterpret_cast<uintptr_t>(this));
    rng_ = seed | 1;
    seeded_in_ = pid;
  }
  // xorshift64* (Vigna): full period over non-zero states, good low and high bits.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545f4914f6cdd1dULL;
}

// log2 without libm (a C program or a shell would map libm.so for this line alone): the
// exponent from the leading bit, the fraction from ln m = 2·atanh(s), s = (m-1)/(m+1), on the
// mantissa m brought into [sqrt(1/2), sqrt(2)), where |s| <= 0.1716 and ten odd terms of the
// series leave an error below 1e-16 (|s|^21/21). Exact at powers of two. The series is summed
// by Horner's rule with the 1/k as constants: one division instead of eleven (each ~20 cycles
// on the sampled path, which runs on cold caches once per sample).
PROFAGENT_FORK_PATH double log2_of_count(uint64_t v) noexcept {
  if (v == 0) return -1.0 / 0.0;
  int e = 63 - __builtin_clzll(v);
  double m = static_cast<double>(v) / static_cast<double>(uint64_t{1} << e);  // [1, 2)
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  double s = (m - 1.0) / (m + 1.0);
  double s2 = s * s;
  // atanh(s) = s·(1 + s²/3 + s⁴/5 + ... + s¹⁸/19)
  double series = 1.0 / 19;
  series = series * s2 + 1.0 / 17;
  series = series * s2 + 1.0 / 15;
  series = series * s2 + 1.0 / 13;
  series = series * s2 + 1.0 / 11;
  series = series * s2 + 1.0 / 9;
  series = series * s2 + 1.0 / 7;
  series = series * s2 + 1.0 / 5;
  series = series * s2 + 1.0 / 3;
  series = series * s2 + 1.0;
  constexpr double kInvLn2 = 1.4426950408889634;
  return e + 2.0 * (s * series) * kInvLn2;
}

// Derivation (Go's fastexprand, runtime/malloc.go). We want sampling points to form a Poisson
// process over allocated bytes with mean spacing R, so that an allocation of S bytes is
// sampled with probability P(S) = 1 - exp(-S/R) whatever came before it (memoryless: the
// leftover of an interval is thrown away when a sample is taken). The spacing of a Poisson
// process is exponential with density (1/R)·exp(-x/R); its CDF is p = 1 - exp(-x/R), so with
// q = 1 - p uniform in (0,1]: x = -ln(q)·R = -log2(q)·ln(2)·R. q is built as Go does, from 26
// random bits: q = (n+1)/2^26 with n uniform in [0, 2^26), so log2(q) = log2(n+1) - 26 ∈
// [-26, 0] and the largest interval is about 18·R. Go adds 1 so the interval is never 0 for
// R > 1. Go also caps R at 0x7000000 to fit an int32; our countdown is a size_t, so we do not
// cap (a cap would bias the unsampling, which uses the uncapped R).
// R == 1 means "every allocation": interval 0 makes `size < countdown` always false.
// The unbiasing at write time (heap_scale.cc) inverts P(S) for the average size of a bucket.
PROFAGENT_SAMPLE_PATH size_t HeapSampler::pick_next_interval(int64_t rate) noexcept {
  if (rate <= 1) return 0;
  constexpr int kRandomBits = 26;
  uint64_t n = next_random() >> (64 - kRandomBits);
  double qlog = log2_of_count(n + 1) - kRandomBits;
  if (qlog > 0) qlog = 0;
  constexpr double kMinusLn2 = -0.6931471805599453;
  return static_cast<size_t>(qlog * (kMinusLn2 * static_cast<double>(rate))) + 1;
}

PROFAGENT_SAMPLE_PATH bool HeapSampler::record_allocation_slow(size_t size) noexcept {
  int64_t rate = g_heap_sample_rate.load(std::memory_order_relaxed);
  if (rate <= 0) {
    // Before the constructor has started the collectors, look again at the next allocation
    // (a countdown would make the first sampled bytes of this thread wait for it); once the
    // agent runs without the heap collector (off, or stopped), or stays off in this process
    // (valgrind), never come back.
    bytes_until_sample_ = agent_start_decided() ? kOffCountdown : 0;
    return false;
  }
  // The agent's own allocations (inside a hook's slow path, the dump) are never sampled;
  // the countdown is left as it is for the host's next allocation.
  if (in_agent()) return false;
  if (!primed_) {
    primed_ = true;
    bytes_until_sample_ = pick_next_interval(rate);
    if (size < bytes_until_sample_) {
      bytes_until_sample_ -= size;
      return false;
    }
  }
  bytes_until_sample_ = pick_next_interval(rate);
  return true;
}

}  // namespace profagent
