// Loads libprofagent-symbolize.so (the elfutils-based backend) on first use, privately:
// dlopen(RTLD_NOW | RTLD_LOCAL) of the file installed next to libprofagent.so, so libdw and
// libelf are mapped only once something needs symbolizing and never join the host's global
// symbol scope. Normal (dump-thread) context only.
#pragma once

#include "agent/profile/symbolize/backend_api.h"

namespace profagent::symbolize {

// Notes where the backend lives (next to this object), while the working directory is still
// the one a relative LD_PRELOAD path was given in. Called once at start.
void remember_backend_directory();

// The backend, loading it on the first call; nullptr (one warning) if it cannot be loaded.
const BackendApi* symbolize_backend();

// Whether the backend has been loaded in this process (for the self-accounting comment).
bool symbolize_backend_loaded();

}  // namespace profagent::symbolize
