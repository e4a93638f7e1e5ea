// The human-readable forms of a symbolized profile, after Go's net/http/pprof ?debug=1 and
// ?debug=2 pages. They read the agent's own SymbolizedProfile (no protobuf decoding).
// Normal context; pure, unit-tested.
//
// debug=1 (every kind): "<name> profile: total <sum of value 0>", then one record per
// distinct stack (labels such as tid and thread_name ignored, so identical threads group),
// largest first: "<values> @ <addresses>" and one "#\t<address>\t<function>\t<file:line>"
// line per frame (inline frames each on their own line).
// debug=2 (threads/goroutine): every thread's stack on its own, Go's goroutine dump style:
// "thread <tid> [<name>]:", then "<function>()" and "\t<file>:<line>" per frame, ordered
// by tid.
#pragma once

#include <string>

#include "agent/profile/pprof/symbolized_profile.h"

namespace profagent {

std::string render_grouped_text(const SymbolizedProfile& profile, const std::string& name);
std::string render_thread_dump(const SymbolizedProfile& profile);

}  // namespace profagent
