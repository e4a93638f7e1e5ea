// The agent's dump thread: wakes on an eventfd (dump signal, termination signal), on every
// PROFAGENT_INTERVAL, and every 100 ms to let collectors do background work (on_tick).
// Normal context, except wake_dump_thread which is SIGNAL-SAFE.
#pragma once

#include <cstdint>

namespace profagent {

// Starts the thread (again, in a forked child), dumping every `interval_nanos` (0 = never).
// Returns false if it cannot be started.
bool start_dump_thread(int64_t interval_nanos);

// Asks the dump thread to run: a dump (request_dump) or a termination check. SIGNAL-SAFE.
void wake_dump_thread() noexcept;

// True once start_dump_thread succeeded in this process. SIGNAL-SAFE.
bool dump_thread_running() noexcept;

// In a forked child: the parent's thread does not exist here; forget it (ASYNC-SIGNAL-SAFE).
void forget_dump_thread_after_fork() noexcept;

}  // namespace profagent
