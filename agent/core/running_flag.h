// Whether the agent has started: set once by the lifecycle when the constructor has started
// the collectors, read by hooks (a hook passes through before that) and collectors' hook
// halves. HOOK/SIGNAL-SAFE (one atomic load).
#pragma once

namespace profagent {

// True once the constructor has finished starting the collectors.
bool agent_running() noexcept;

// Called once by the lifecycle (agent.cc) when start-up is complete.
void set_agent_running() noexcept;

}  // namespace profagent
