// Write-time unsampling of heap bucket counters (Go's scaleHeapSample, docs/pprof-semantics.md
// §5.1). Normal context (pure arithmetic).
#pragma once

#include <cstdint>

namespace profagent {

struct ScaledHeapValue {
  int64_t count = 0;
  int64_t bytes = 0;
};

// Estimates the true (count, bytes) from sampled ones at mean sampling interval `rate`.
ScaledHeapValue scale_heap_sample(int64_t count, int64_t bytes, int64_t rate);

// libm's exp (opened at first use), or exp_without_libm if libm cannot be opened; and that
// fallback itself (x <= 0). Exposed for tests.
double exp_for_scaling(double x);
double exp_without_libm(double x);

}  // namespace profagent
