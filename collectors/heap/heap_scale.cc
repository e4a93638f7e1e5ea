// Go's scaleHeapSample (runtime/pprof/protomem.go). Normal context.
#include "collectors/heap/heap_scale.h"

#include <cmath>

namespace profagent {

// An object of S bytes is sampled with probability P(S) = 1 - exp(-S/R) (heap_sampler.cc),
// so each sampled object stands for 1/P(S) objects on average. A bucket holds objects of one
// size; Go uses the bucket's average size (bytes/count), which is exact for one size and is
// what makes our output comparable with Go's. Values are truncated, as Go does.
ScaledHeapValue scale_heap_sample(int64_t count, int64_t bytes, int64_t rate) {
  if (count <= 0 || bytes <= 0) return {0, 0};
  if (rate <= 1) return {count, bytes};
  double avg = static_cast<double>(bytes) / static_cast<double>(count);
  double scale = 1.0 / (1.0 - std::exp(-avg / static_cast<double>(rate)));
  return {static_cast<int64_t>(static_cast<double>(count) * scale),
          static_cast<int64_t>(static_cast<double>(bytes) * scale)};
}

}  // namespace profagent
