// The agent's threads never keep a process alive. glibc ends the process (exit(0), so atexit
// handlers and the exit dump run) when its last thread ends, counting every thread; the
// agent's own threads would keep that count above zero forever once the program's last
// thread (main calling pthread_exit, then every worker returning) is gone. So the agent
// counts the program's threads itself and, when the last one has ended, a short-lived thread
// the last one starts (sharing the program's file table, which the dump thread does not)
// calls exit(0) on the program's behalf, as glibc would have.
//
// program_thread_creating/_create_failed/_started run in HOOK CONTEXT (pthread_create
// interposer and trampoline: atomics and pthread_setspecific only). The rest is normal
// context.
#pragma once

namespace profagent {

// From the constructor (the main thread): counts the threads that exist and marks this one so
// its end is seen.
void start_program_thread_tracking();

// Around the real pthread_create of a program thread: counted before it can run (its
// creator may end first), uncounted if creation failed.
void program_thread_creating() noexcept;
void program_thread_create_failed() noexcept;
// On the new thread before its start routine: its end will be seen.
void program_thread_started() noexcept;

}  // namespace profagent
