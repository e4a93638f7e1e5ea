// The shared object's constructor: starts the agent when libprofagent.so is loaded
// (LD_PRELOAD). Runs in normal context, before the program's main, possibly after other
// libraries' constructors (every hook works before this runs: they pass through).
// Priority 101 runs it before this library's own C++ dynamic initializers: everything the
// agent touches at start must be constant-initialized (atomics, PODs, pointers, constexpr
// constructors such as std::mutex) or a function-local static, never a global with a
// dynamic constructor (it would be reset after the agent set it).
#include "agent/core/code_layout.h"
#include "agent/lifecycle.h"

__attribute__((constructor(101))) PROFAGENT_START_PATH static void profagent_constructor() {
  profagent::agent_start();
}
