// The descriptor of the heap profile (agent/core/profile_kind.h) and its lost-event counter
// (HOOK-SAFE: the recorder bumps it). Constant data otherwise, any context.
#pragma once

#include "agent/core/profile_kind.h"

namespace profagent {

extern const ProfileKind kHeapKind;
extern LostCounter g_heap_lost;

}  // namespace profagent
