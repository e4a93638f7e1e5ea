// Entry points from the interposers and the constructor into the agent's lifecycle
// (agent.cc). Each says which context it runs in.
#pragma once

namespace profagent {

// The constructor: reads the configuration, starts collectors, the dump thread and the
// signal handlers, registers the exit dump and fork handlers. Normal context, once.
void agent_start();

// On a program thread right after it starts (before its start routine) and when it exits.
// Normal context on a host thread; AgentScope held by the callers.
void agent_thread_started() noexcept;
void agent_thread_exiting() noexcept;

}  // namespace profagent
