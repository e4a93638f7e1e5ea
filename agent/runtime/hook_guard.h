// Per-thread reentrancy state shared by every hook and signal handler. HOOK/SIGNAL CONTEXT:
// the variables are initial-exec TLS (no __tls_get_addr, no allocation on first touch), and
// everything here is inline, lock-free and async-signal-safe.
#pragma once

namespace profagent {

// Non-zero while this thread runs agent code that may allocate, lock or unwind (a hook's
// slow path, the dump, the agent's own threads). Hooks seeing it pass straight through to the
// real function; the CPU signal handler seeing it charges the sample to "[profagent]".
// constinit: no dynamic initializer, so no access goes through a TLS wrapper that first asks
// the loader for one (a weak undefined symbol every process looked up in every library).
extern constinit thread_local int t_in_agent __attribute__((tls_model("initial-exec")));

class AgentScope {
 public:
  AgentScope() noexcept { ++t_in_agent; }
  ~AgentScope() { --t_in_agent; }
  AgentScope(const AgentScope&) = delete;
  AgentScope& operator=(const AgentScope&) = delete;
};

inline bool in_agent() noexcept { return t_in_agent != 0; }

}  // namespace profagent
