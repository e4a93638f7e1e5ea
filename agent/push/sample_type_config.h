// How Pyroscope should read each profile kind we push: the `sample_type_config` part of an
// ingest request (units, aggregation, display names).
// Pyroscope names a pushed profile from these display names (see README, "Continuous
// profiling and Pyroscope"). Pure functions, normal context.
#pragma once

#include <string>
#include <string_view>

namespace profagent {

// The JSON object for a file kind ("cpu", "heap", "mutex", "block", "threads"); "" for a
// kind we do not know (then the part is left out and Pyroscope uses its defaults).
std::string sample_type_config_json(std::string_view kind);

}  // namespace profagent
