// The ?seconds=N delta of a cumulative profile (heap, allocs, mutex, block), as Go >= 1.16's
// net/http/pprof serveDeltaProfile does: two snapshots N seconds apart, the first subtracted
// from the second. Works on decoded Profile messages, so it needs no collector internals.
// Normal context; pure, unit-tested.
#pragma once

#include "profile.pb.h"

namespace profagent {

// `after` minus `before`, sample by sample, matched on the symbolized stack (address and
// function/line of every frame) and the labels. Value columns whose type starts with
// "inuse_" are a state, not a counter: they keep `after`'s value (the heap in use now).
// Samples that end up all zero are dropped. A sample present only in `before` is left out
// (the counters of a cumulative profile never shrink). time_nanos is `before`'s,
// duration_nanos the time between the two, as Go writes. Returns false (and leaves `out`
// unspecified) if the two profiles have different sample types.
bool subtract_profiles(const pprof::Profile& before, const pprof::Profile& after,
                       pprof::Profile* out);

}  // namespace profagent
