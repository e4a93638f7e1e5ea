// The agent's lifecycle as seen by the rest of the code: whether it is up, its collectors,
// and the two ways to ask for a dump. Normal context unless a function says otherwise.
#pragma once

#include <string>
#include <vector>

#include "agent/collector.h"

namespace profagent {

// True once the constructor has finished starting the collectors. HOOK/SIGNAL-safe.
bool agent_running() noexcept;

// The collectors that started (empty before the constructor ran).
const std::vector<Collector*>& running_collectors();

// Writes one dump of every running collector now, on the calling thread, under the dump lock.
void dump_now(bool final);

// Wakes the dump thread to write a dump. SIGNAL-SAFE (a futex wake-up).
void request_dump() noexcept;

// On-demand profiles (the HTTP endpoint), besides the file dumps:
// Any collector the agent knows by kind ("cpu", "heap", ...), started or not; nullptr if none.
Collector* find_collector(const char* kind);
// c.snapshot() under the dump lock (the dump sequence number is not advanced), encoded as
// the uncompressed Profile message; nothing if the collector has nothing to write.
std::optional<std::string> snapshot_encoded(Collector& c);
// `builder` encoded (uncompressed Profile message) under the dump lock, with the shared
// symbolizer refreshed first (the Symbolizer is not thread-safe: this is the only way to
// encode outside dump_now).
std::string encode_profile(const ProfileBuilder& builder);

}  // namespace profagent
