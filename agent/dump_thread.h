// The agent's dump thread: sleeps on a futex word until its next deadline — every
// PROFAGENT_INTERVAL, a collector's tick it asked for (on_tick), or a wake-up (dump signal,
// termination signal, the program's last thread ending). No descriptor is involved.
// Normal context, except the functions marked SIGNAL-SAFE.
#pragma once

#include <sys/types.h>

#include <cstdint>

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

// In a forked child: the parent's thread does not exist here; forget it (ASYNC-SIGNAL-SAFE).
void forget_dump_thread_after_fork() noexcept;

}  // namespace profagent
