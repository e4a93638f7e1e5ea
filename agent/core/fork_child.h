// Which process this is, for the _exit/_Exit interposers (agent/exit_hooks.cc): a fork
// child records its pid in a fork handler; a vfork child shares its parent's memory and runs
// no fork handler, so the record never names it. ASYNC-SIGNAL-SAFE except start.
#pragma once

namespace profagent {

// Registers the fork handler. Normal context, once, from agent_start.
void start_fork_child_record();

// True in a process created by fork() (not vfork, not posix_spawn) since the agent started.
bool is_recorded_fork_child() noexcept;

}  // namespace profagent
