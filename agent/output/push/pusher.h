// Push of every dump to a Pyroscope server (PROFAGENT_PUSH_URL): the dump thread writes the
// files first, then hands each profile to a bounded queue; a dedicated agent thread sends
// them (cumulative kinds turned into per-window deltas by profile_delta), with a timeout per request and
// bounded retries, so a slow or dead server never delays a dump or the program. Normal
// context; push_after_fork_child is called in a fork child before the program continues.
#pragma once

#include <cstdint>
#include <string>

#include "agent/core/config.h"
#include "agent/core/profile_kind.h"
#include "agent/profile/pprof/symbolized_profile.h"

namespace profagent {

// Sets up the push path when config.push_url is set (from agent_start). `exe` names the
// application when PROFAGENT_APP_NAME is not set.
void push_start(const Config& config, const std::string& exe);

// True once push_start set up a push path.
bool push_enabled() noexcept;

// One profile file just written (or that could not be written) for `kind`, taken at
// `until_unix_nanos`: its bytes, and the profile they encode (kept only when the kind has
// cumulative sample types, to push its per-window delta). Never waits for the network:
// queued, the oldest dropped when full.
void push_profile(const ProfileKind& kind, std::string gzipped, int64_t until_unix_nanos,
                  SymbolizedProfile profile);

// At the final dump: lets the push thread send what is queued, waiting at most 1 s, and not
// at all when the server's last answer was a failure or a request has been hanging since
// before the exit.
void push_flush_at_exit();

// Fork child: the parent's push thread and queue belong to the parent; start afresh.
void push_after_fork_child() noexcept;

}  // namespace profagent
