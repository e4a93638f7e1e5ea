// Which process this is, told by fork handlers: a fork child records its pid (for the
// _exit/_Exit interposers, agent/exit_hooks.cc), and so does a process that forked (its
// deferred dump thread waits longer, agent/dump_thread.h). A vfork or posix_spawn runs no
// fork handler, so neither record names such a child or its parent. ASYNC-SIGNAL-SAFE except
// start.
#pragma once

#include <sys/types.h>

namespace profagent {

// Registers the parent's fork handler. Normal context, once, from agent_start.
void start_fork_child_record();

// Records a fork child's pid: called by the agent's own child fork handler (agent.cc), which
// knows it without a system call.
void record_fork_child(pid_t pid) noexcept;

// True in a process created by fork() (not vfork, not posix_spawn) since the agent started.
bool is_recorded_fork_child() noexcept;

// True in a process that has called fork() since the agent started in it (a fork child has
// not, until it forks itself).
bool has_forked() noexcept;

// has_forked() without its system call: also true in a vfork child of a process that forked
// (which must not start a thread either).
bool may_have_forked() noexcept;

// True in a child that shares its parent's memory (vfork, or a clone that ran no fork
// handler): neither the process the agent started in nor a recorded fork child. What it
// changes in the agent's state or mappings it changes for the parent.
bool shares_its_parents_memory() noexcept;

}  // namespace profagent
