// The list of every profile kind the agent knows: one line per kind in registry.cc (its
// descriptor and how to make its collector). Normal context.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "collectors/common/collector.h"
#include "agent/core/profile_kind.h"

namespace profagent {

// Every kind's descriptor, in file-kind order.
std::span<const ProfileKind* const> all_kinds();

// The descriptor named `name` (file suffix), nullptr if none.
const ProfileKind* find_kind(std::string_view name);

// One instance of every collector, in the order of all_kinds().
std::vector<std::unique_ptr<Collector>> make_all_collectors();

}  // namespace profagent
