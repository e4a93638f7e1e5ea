// The agent's own threads out of the way for a moment: the program is about to make a change
// the kernel allows only to a process's only thread (unshare or setns of a user, mount or
// time namespace; agent/namespace_hooks.cc). Normal context, on the program's thread, while
// it is the program's only thread.
#pragma once

namespace profagent {

// Ends the agent's threads (each collector's own first, then the dump thread, each after the
// work it is doing), keeping everything gathered. True if none is left: call
// agent_threads_come_back after the change, whatever its result. False if one could not
// end (the HTTP or push thread, which are not ended for this; a dump thread busy for longer
// than a second): those already ended are back, and the change fails as it would have.
bool agent_threads_step_aside();

// Starts again the threads agent_threads_step_aside ended.
void agent_threads_come_back();

// Whether the calling thread is the program's only thread (agent threads aside). Reads
// /proc/self/task unless the program never made a thread.
bool program_thread_alone();

}  // namespace profagent
