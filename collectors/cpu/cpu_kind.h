// The descriptor of the CPU profile (agent/core/profile_kind.h). Constant data, any context.
#pragma once

#include "agent/core/profile_kind.h"

namespace profagent {

extern const ProfileKind kCpuKind;

}  // namespace profagent
