// A termination signal (SIGTERM, SIGINT, SIGHUP) that a process whose dump thread is
// deferred received at a point where the thread could not be started: the agent's handler
// returned, and the signal comes back in a millisecond (agent/signals.cc). Meanwhile the
// process is still to die of it: an exit writes the final dump and dies of the signal
// (agent.cc, exit_hooks.cc), an exec dies of it at once (runtime/exec_hooks.cc). Tagged with
// the pid, so a fork child (a grandchild of the signalled process) or a vfork child reading
// the parent's memory never sees its parent's. SIGNAL-SAFE.
#pragma once

namespace profagent {

void note_termination_waiting(int sig) noexcept;
void clear_termination_waiting() noexcept;
// The waiting signal in this process, 0 if none.
int termination_waiting() noexcept;

}  // namespace profagent
