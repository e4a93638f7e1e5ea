// The descriptor of the wall-clock profile (agent/profile_kind.h). Constant data, any context.
#pragma once

#include "agent/profile_kind.h"

namespace profagent {

extern const ProfileKind kWallKind;

}  // namespace profagent
