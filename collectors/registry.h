// The list of every profile kind the agent knows. Normal context.
#pragma once

#include <memory>
#include <vector>

#include "agent/collector.h"

namespace profagent {

// One instance of every collector, in file-kind order (cpu, heap, mutex, block, threads).
std::vector<std::unique_ptr<Collector>> make_all_collectors();

}  // namespace profagent
