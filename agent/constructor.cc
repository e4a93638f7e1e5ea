// The shared object's constructor: starts the agent when libprofagent.so is loaded
// (LD_PRELOAD). Runs in normal context, before the program's main, possibly after other
// libraries' constructors (every hook works before this runs: they pass through).
// Priority 101 runs it before this library's own C++ dynamic initializers: everything the
// agent touches at start must be constant-initialized (atomics, PODs, pointers, constexpr
// constructors such as std::mutex) or a function-local static, never a global with a
// dynamic constructor (it would be reset after the agent set it).
// Also the terminate handler of the object's own C++ runtime (terminate_handler.h).
#include <exception>

#include "agent/core/code_layout.h"
#include "agent/core/terminate_handler.h"
#include "agent/lifecycle.h"

__attribute__((constructor(101))) PROFAGENT_START_PATH static void profagent_constructor() {
  profagent::agent_start();
}

// libstdc++'s variable (declared in its internal unwind-cxx.h), read by std::terminate and
// std::get_terminate of the agent's copy of the runtime. Its default,
// __gnu_cxx::__verbose_terminate_handler, demangles the exception's type name and so links
// the C++ demangler into the agent: 3.2 KiB of pointer tables the loader relocates (one more
// copy-on-write page in every process's start) and ~45 KiB of code. Defined here, it keeps
// libstdc++'s definition (eh_term_handler.o) and the demangler out of the link. Only in the
// shared object: a test binary keeps its own runtime's.
namespace __cxxabiv1 {
extern std::terminate_handler __terminate_handler;
std::terminate_handler __terminate_handler = profagent::agent_terminate;
}  // namespace __cxxabiv1
