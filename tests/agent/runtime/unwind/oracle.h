// Test helpers: libunwind (the oracle, in tests only) walking the same ucontext as ours, and
// symbol names for failure messages.
#pragma once

#include <cstdint>
#include <string>

namespace profagent::testing {

// Loads libunwind privately (call outside signal handlers, before the first use).
void load_libunwind();
// unw_backtrace of the calling thread.
int libunwind_backtrace(void** out, int max);

// libunwind's stack from a signal handler's ucontext, in the agent's address convention
// (interrupted PC exact, return addresses - 1, the frame after a signal frame exact).
int libunwind_from_ucontext(void* ucontext, uintptr_t* pcs, int max_frames);

// "symbol+0xoff (object)" for failure messages.
std::string describe_pc(uintptr_t pc);
std::string describe_stack(const uintptr_t* pcs, int n);

}  // namespace profagent::testing
