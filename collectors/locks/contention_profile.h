// Writes a ContentionTable as a Go-style mutex or block profile (docs/pprof-semantics.md §4)
// of the shape its descriptor declares (contentions/count, delay/nanoseconds; period 1);
// tid and thread_name labels; counts truncated and raised to 1 as Go does. Normal context.
#pragma once

#include <cstdint>

#include "collectors/common/collector.h"
#include "collectors/locks/contention_table.h"

namespace profagent {

ProfileBuilder build_contention_profile(const ProfileKind& kind, const ContentionTable& table,
                                        int64_t time_nanos);

}  // namespace profagent
