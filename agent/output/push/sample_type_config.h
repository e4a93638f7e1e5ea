// How Pyroscope should read a profile kind we push: the `sample_type_config` part of an
// ingest request (units, aggregation, display names), built from the kind's descriptor
// (agent/core/profile_kind.h). Pyroscope names a pushed profile from these display names (see
// docs/operations.md, "Pushing to Pyroscope"). Pure functions, normal context.
#pragma once

#include <string>

#include "agent/core/profile_kind.h"

namespace profagent {

// The JSON object for `kind`: one entry per sample type.
std::string sample_type_config_json(const ProfileKind& kind);

}  // namespace profagent
