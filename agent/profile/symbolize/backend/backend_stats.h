// The backend's work counters (see BackendStats). Part of libprofagent-symbolize.so; normal
// (dump-thread) context only.
#pragma once

#include "agent/profile/symbolize/backend_api.h"

namespace profagent::symbolize {

BackendStats& backend_counters();

}  // namespace profagent::symbolize
