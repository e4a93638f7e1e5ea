// The agent's lifecycle as seen by the rest of the code: whether it is up, its collectors,
// and the two ways to ask for a dump. Normal context unless a function says otherwise.
#pragma once

#include <vector>

#include "agent/collector.h"

namespace profagent {

// True once the constructor has finished starting the collectors. HOOK/SIGNAL-safe.
bool agent_running() noexcept;

// The collectors that started (empty before the constructor ran).
const std::vector<Collector*>& running_collectors();

// Writes one dump of every running collector now, on the calling thread, under the dump lock.
void dump_now(bool final);

// Wakes the dump thread to write a dump. SIGNAL-SAFE (writes to an eventfd).
void request_dump() noexcept;

}  // namespace profagent
