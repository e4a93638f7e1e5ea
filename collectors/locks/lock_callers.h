// Lock calls made by the agent's own machinery that no AgentScope covers: a lock hook whose
// caller is libprofagent.so itself passes straight through. HOOK CONTEXT (reads the agent's
// fixed address range, found by unwinder_init at agent start).
#pragma once

namespace profagent {

// True if `return_address` lies in libprofagent.so.
bool is_internal_lock_caller(const void* return_address) noexcept;

}  // namespace profagent
