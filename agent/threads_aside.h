// The agent's own threads out of the way for a moment: the program is about to make a change
// the kernel allows only to a process's only thread (unshare or setns of a user, mount or
// time namespace; agent/namespace_hooks.cc). Normal context, on the program's thread, while
// it is the program's only thread.
#pragma once

namespace profagent {

// When the calling thread is the program's only thread, ends the agent's threads (each
// collector's own and the dump thread, each after the work it is doing), keeping everything
// gathered. True if none is left: call agent_threads_come_back after the change, whatever
// its result. False, with every agent thread running, if the program has other threads, if
// the agent has no thread of this process (a vfork child), or if one could not end (the HTTP
// or push thread, which are not ended for this; a dump thread busy for more than a second):
// the change then fails or not as it would have.
bool agent_threads_step_aside();

// Starts again the threads agent_threads_step_aside ended.
void agent_threads_come_back();

}  // namespace profagent
