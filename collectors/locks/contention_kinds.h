// The descriptors of the two contention profiles, mutex and block (agent/core/profile_kind.h),
// and their lost-event counters (HOOK-SAFE). Constant data otherwise, any context.
#pragma once

#include "agent/core/profile_kind.h"

namespace profagent {

extern const ProfileKind kMutexKind;
extern const ProfileKind kBlockKind;
extern LostCounter g_mutex_lost;
extern LostCounter g_block_lost;

}  // namespace profagent
