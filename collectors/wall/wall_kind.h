// The descriptor of the wall-clock profile (agent/core/profile_kind.h). Constant data, any context.
#pragma once

#include "agent/core/profile_kind.h"

namespace profagent {

extern const ProfileKind kWallKind;

}  // namespace profagent
