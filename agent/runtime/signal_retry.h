// SIGNAL CONTEXT. Sends a signal to the calling thread again a little later: a handler that
// cannot do its work at the point it interrupted (thread_start_point.h refused it) returns,
// lets the program leave that point, and gets the signal back. One one-shot POSIX timer per
// process, made at the first use (raw system calls: no allocation, no lock), aimed at the
// calling thread (SIGEV_THREAD_ID), and deleted when the retries are over. The program's own
// timers are untouched; a fork child makes its own (timers are not inherited).
#pragma once

#include <cstdint>

namespace profagent {

// Arms the timer to deliver `sig` to the calling thread in `delay_nanos`. False if no timer
// could be made or armed. Async-signal-safe; errno preserved.
bool send_signal_again_soon(int sig, int64_t delay_nanos) noexcept;

// Deletes this process's timer, if it made one (armed or not): no kernel timer of the
// agent's stays listed in /proc/self/timers once the retries are over. Async-signal-safe.
void end_signal_retries() noexcept;
// The same, only if the timer was made for `sig` (the program took that signal over).
void end_signal_retries_of(int sig) noexcept;

}  // namespace profagent
