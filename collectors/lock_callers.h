// Lock calls made by the agent's own machinery that no AgentScope covers: libunwind takes
// its own pthread mutexes while it unwinds, also when the CPU profiler's signal handler
// unwinds an interrupted thread. A lock hook whose caller is libunwind (or libprofagent.so
// itself) must pass straight through: profiling it would unwind again from inside
// libunwind's locked region and self-deadlock on that same mutex. HOOK CONTEXT for
// is_internal_lock_caller (reads a fixed array); find_internal_lock_callers is normal
// context (dl_iterate_phdr), run at collector start.
#pragma once

#include <cstdint>

namespace profagent {

// Records the executable segments of libunwind (idempotent).
void find_internal_lock_callers() noexcept;
// True if `return_address` lies in libunwind or in libprofagent.so.
bool is_internal_lock_caller(const void* return_address) noexcept;

}  // namespace profagent
