// Writes a ContentionTable as a Go-style mutex or block profile (pprof-semantics.md §4):
// sample types contentions/count, delay/nanoseconds; period_type contentions/count, period 1;
// tid and thread_name labels; counts truncated and raised to 1 as Go does. Normal context.
#pragma once

#include <cstdint>

#include "agent/pprof/profile_builder.h"
#include "collectors/contention_table.h"

namespace profagent {

ProfileBuilder build_contention_profile(const ContentionTable& table, int64_t time_nanos);

}  // namespace profagent
