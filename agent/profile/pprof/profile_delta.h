// The one profile delta, for HTTP ?seconds=N (as Go >= 1.16's net/http/pprof
// serveDeltaProfile) and for push (per-window deltas a continuous-profiling backend adds
// up). Works on ProfileBuilder samples before symbolization, so it needs no decoder and no
// collector internals. Normal context; pure, unit-tested.
#pragma once

#include <optional>

#include "agent/profile/pprof/profile_builder.h"

namespace profagent {

// `after` minus `before`, for the window between them. Samples are matched by their key:
// the stack's addresses (or synthetic frame name) and the labels; line numbers play no part.
// The rule per sample type is its ProfileShape accumulation:
//  - kCumulative: after's value minus before's; a counter that went down (a reset) counts
//    from 0, i.e. keeps after's value;
//  - kCurrent: after's value (the heap in use now, a window of its own).
// Samples left all zero are dropped; a sample only in `before` is left out. The header is
// after's (shape, comments); time_nanos is before's and duration_nanos the time between the
// two when both times are set and after is later (as Go writes), after's times otherwise.
// nullopt if the two have different sample types.
std::optional<ProfileBuilder> profile_delta(const ProfileBuilder& before,
                                            const ProfileBuilder& after);

}  // namespace profagent
