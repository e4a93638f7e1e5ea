// Lock calls made by the agent's own machinery that no AgentScope covers: libunwind takes
// its own pthread mutexes while it unwinds (for the program's C++ exceptions, or for an
// unwind the agent started). A lock hook whose caller is libunwind (or libprofagent.so
// itself) must pass straight through: profiling it would unwind again from inside
// libunwind's locked region and self-deadlock on that same mutex. HOOK CONTEXT (reads the
// unwinder's fixed address ranges, found by unwinder_init at agent start).
#pragma once

namespace profagent {

// True if `return_address` lies in libunwind or in libprofagent.so.
bool is_internal_lock_caller(const void* return_address) noexcept;

}  // namespace profagent
