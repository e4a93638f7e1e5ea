// The agent's one sampling signal (SIGPROF): the CPU timers and the threads-profile
// snapshots share it; the handler dispatches on si_code. SIGNAL CONTEXT for the handlers
// registered here: they must be async-signal-safe, allocation-free, preserve errno (the
// dispatcher saves and restores it), and never block.
#pragma once

#include <signal.h>
#include <sys/types.h>

namespace profagent {

using SignalHandlerFn = void (*)(siginfo_t* info, void* ucontext) noexcept;

// Installs the SIGPROF dispatcher (SA_RESTART|SA_SIGINFO) unless the program already has a
// SIGPROF handler of its own. Returns false (after one warning) when the agent steps aside.
// Normal context; idempotent.
bool install_sampling_signal();

// True while the agent owns SIGPROF (false once the program installs its own handler).
bool sampling_signal_owned() noexcept;
// The program took SIGPROF (signal hooks, or its own ITIMER_PROF): the dispatcher is no
// longer in place; every callback registered below runs (e.g. the CPU collector deletes its
// timers). Any context the program's sigaction/setitimer call runs in.
void release_sampling_signal() noexcept;
void on_sampling_signal_released(void (*callback)() noexcept) noexcept;

// Handlers called by the dispatcher: timer expirations (si_code SI_TIMER) go to the CPU
// handler; thread snapshot requests (sent with send_snapshot_signal) to the snapshot handler.
void set_cpu_sample_handler(SignalHandlerFn fn) noexcept;
void set_thread_snapshot_handler(SignalHandlerFn fn) noexcept;

// Sends a snapshot request to thread `tid` of this process (rt_tgsigqueueinfo, SI_QUEUE,
// si_value.sival_int = cookie). Returns 0 or an errno value. Any context.
int send_snapshot_signal(pid_t tid, int cookie) noexcept;

// The signal number in use (SIGPROF).
constexpr int kSamplingSignal = SIGPROF;

}  // namespace profagent
