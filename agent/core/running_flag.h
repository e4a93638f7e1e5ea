// Whether the agent has started: set once by the lifecycle when the constructor has started
// the collectors (or decided not to run in this process), read by hooks (a hook passes
// through before that) and collectors' hook halves. HOOK/SIGNAL-SAFE (one atomic load).
#pragma once

namespace profagent {

// True once the constructor has finished starting the collectors.
bool agent_running() noexcept;

// Called once by the lifecycle (agent.cc) when start-up is complete.
void set_agent_running() noexcept;

// Called instead by a constructor that keeps the agent off in this process (under valgrind):
// every hook passes straight through for good.
void set_agent_declined() noexcept;

// True once the constructor has decided either way: a hook that looks again at each call
// until the start (the heap sampler's countdown) stops looking.
bool agent_start_decided() noexcept;

}  // namespace profagent
