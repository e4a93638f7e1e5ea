// The descriptor of the threads profile (agent/core/profile_kind.h) and its lost-event counter.
// Constant data otherwise, any context.
#pragma once

#include "agent/core/profile_kind.h"

namespace profagent {

extern const ProfileKind kThreadsKind;
extern LostCounter g_threads_lost;

}  // namespace profagent
