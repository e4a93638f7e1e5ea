// The agent's dump thread: sleeps on a futex word until its next deadline — every
// PROFAGENT_INTERVAL, a collector's tick it asked for (on_tick), or a wake-up (dump signal,
// termination signal, the program's last thread ending). No descriptor is involved. A fork
// child, and a started process whose unwind tables are cached, start it only when something
// needs it ("deferred", below).
// Normal context, except the functions marked SIGNAL-SAFE.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "agent/core/process_id.h"
#include "agent/core/wakeup.h"

namespace profagent {

// Starts the thread (again, in a forked child), dumping every `interval_nanos` (0 = never).
// Returns false if it cannot be started.
bool start_dump_thread(int64_t interval_nanos);

// wake_dump_thread() and request_collector_tick(): agent/core/wakeup.h.

// A check the dump thread runs at every wake-up (the last-program-thread exit, agent.cc).
using LastThreadCheck = void (*)();
void set_last_thread_check(LastThreadCheck check) noexcept;

// Has the dump thread write the final dump and waits for it, at most `timeout_nanos` (the
// caller, thread `exiting_tid`, ends the process either way). False if there is no dump
// thread. SIGNAL-SAFE: the caller may be a signal handler (a fork child's _exit) that
// interrupted malloc or stdio, which the dump does not need on the caller's thread.
bool final_dump_on_dump_thread(int64_t timeout_nanos, pid_t exiting_tid) noexcept;

// For a moment the program must be the process's only thread (a namespace change,
// agent/namespace_hooks.cc): the dump thread ends once the work it is doing is done, and
// this waits until it has left the process. False if it was not told to end within
// `timeout_nanos` (a long dump: it then runs on); true means restart_dump_thread is due. A
// termination signal meanwhile waits for the restarted thread (it dumps first thing).
// Normal context.
bool stop_dump_thread(int64_t timeout_nanos);
// Starts the thread stop_dump_thread ended again (its start grace anew; the agent's start is
// not redone). False if it cannot be started: dumps then happen only at exit.
bool restart_dump_thread();

// True once start_dump_thread succeeded in this process. SIGNAL-SAFE.
bool dump_thread_running() noexcept;

// A fork child whose configuration needs no periodic work (agent.cc fork_child), and a
// process started with such a configuration whose unwind tables are all cached (agent.cc
// defer_dump_thread_at_start), do not start the thread at once: most such children (a
// shell's, make's) exec within a millisecond, most such processes (`true`, `sed`, a
// compiler) end within a few, and a thread made and torn down again cost each ~0.15-0.25 ms.
// The thread is "deferred" until something needs it:
//   - the program starts a thread (start_deferred_dump_thread, from the pthread_create hook:
//     the thread walks and signals the others);
//   - the program installs a signal handler (start_deferred_dump_thread_at(nullptr), from the
//     sigaction hook, where thread_start_point.h accepts the point): a handler may end the
//     process by exit() over a point where no thread can start, and the exit dump then
//     needs the thread; not for SIGCHLD (a handler that reaps children), nor in a process
//     that forked (below);
//   - a termination or dump signal, CPU samples to drain, sampled allocations (from the third
//     since the fork on, or one whose stack meets a library the unwind tables lack)
//     (start_deferred_dump_thread_at, where thread_start_point.h accepts the point); in a
//     process that forked, only samples that cannot wait for the exit dump (a CPU sample
//     table a quarter full, a library the unwind tables lack);
//   - an exit from inside a signal handler, whose dump cannot run on the exiting thread
//     (agent.cc final_dump_with_thread_deferred).
// Until then the exit dump runs on the exiting thread as always.
// A process that forked (bash, a prefork server's master: fork_child.h has_forked)
// keeps the thread deferred longer, because once a process has had a second thread glibc's
// fork() takes its multi-threaded path for good: it locks and resets the allocator's arenas,
// stdio's list and more around every fork, writes that copy ~12 pages (page faults in the
// parent and the child), and a shell's loop of `true` ran ~1.5x slower instead of ~1.35x.
// What it gives up: an exit() from a handler that interrupted a point where no thread can
// start (malloc, the loader, a glibc leaf not blocked in a system call), in such a process
// that has no thread yet, skips its exit dump with a warning. Normal context, except the
// functions marked SIGNAL-SAFE.
// `pid`: this process's (a fork child's handler passes the one it knows: no system call).
void defer_dump_thread(int64_t interval_nanos, pid_t pid = own_pid()) noexcept;
// True while deferred in this process. SIGNAL-SAFE.
bool dump_thread_deferred() noexcept;
// True while a deferred thread is being started in this process (on its only thread: a
// handler that interrupted the start cannot wait for it). SIGNAL-SAFE.
bool dump_thread_starting() noexcept;
// Starts the deferred thread now (nothing if it is not deferred). `in_handler`: called where
// nothing may be logged or allocated beyond the thread start itself (an exit in a signal
// handler over a point the rule accepts).
void start_deferred_dump_thread(bool in_handler = false);
// Starts the deferred thread if the point allows it: the one a signal interrupted (its
// handler's ucontext), or the caller's own (nullptr: a hook). SIGNAL/HOOK-SAFE.
enum class DeferredStart {
  kRunning,         // the dump thread runs (started here or before)
  kNotHere,         // not at this point (or not deferred and not running): try later
  kNotWhileBlocked  // the program waits in a system call at a point the rule refuses
};
DeferredStart start_deferred_dump_thread_at(const void* ucontext) noexcept;

// A dump signal's request not yet written by a dump thread. SIGNAL-SAFE.
bool dump_requested() noexcept;

// In a forked child: the parent's thread does not exist here; forget it (ASYNC-SIGNAL-SAFE).
void forget_dump_thread_after_fork() noexcept;

}  // namespace profagent
