// Turns successive cumulative profiles of one kind (heap alloc_*, mutex, block: since the
// start of the process, as Go writes them) into the per-window deltas a continuous-profiling
// backend adds up. Works on the encoded Profile message, so it needs nothing from the
// collectors. Samples are matched by stack (location addresses and function names) and
// labels; values the kind's descriptor marks instantaneous (inuse_*) pass through unchanged. Normal context (the push
// thread).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "agent/profile_kind.h"

namespace profagent {

// The cumulative values of the last profile the backend accepted.
struct CumulativeBaseline {
  std::unordered_map<std::string, std::vector<int64_t>> values;  // sample key -> values
  int64_t time_unix_nanos = 0;  // when that profile was taken (0: none yet)
};

struct DeltaResult {
  std::string encoded;        // the delta profile (uncompressed Profile message)
  CumulativeBaseline current; // the baseline to keep if the backend accepts it
};

// The delta of `current_encoded` (an uncompressed Profile) against `base`, for the window
// from base.time_unix_nanos (or `start_unix_nanos` without a baseline) to
// `until_unix_nanos`: cumulative values minus the baseline's (a counter that went down, as
// after a reset, counts from 0), samples left all zero dropped, duration_nanos set to the
// window. nullopt if the bytes do not decode.
std::optional<DeltaResult> cumulative_delta(const ProfileKind& kind,
                                            std::string_view current_encoded,
                                            const CumulativeBaseline& base,
                                            int64_t start_unix_nanos, int64_t until_unix_nanos);

}  // namespace profagent
