// The agent's one sampling signal (SIGPROF): the CPU timers and the threads-profile
// snapshots share it, and so does the program, if it wants SIGPROF for itself. SIGNAL
// CONTEXT for the handlers registered here: they must be async-signal-safe, allocation-free,
// and never block; the dispatcher saves and restores errno around them.
//
// Sharing: the dispatcher recognises the agent's own signals exactly (its timers carry
// kTimerCookie in si_value; its snapshot requests are SI_QUEUE from this process, or SI_TIMER
// from a one-shot timer on the thread's CPU clock, with kSnapshotMagic in the high half of
// si_value). Every other SIGPROF (the program's own
// ITIMER_PROF or timer, a kill -PROF) gets the disposition the program set with
// sigaction/signal, as if the agent were not there: its handler (honouring SA_SIGINFO,
// sa_mask, SA_RESETHAND), SIG_IGN, or SIG_DFL (the process dies of SIGPROF).
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <cstdint>

namespace profagent {

using SignalHandlerFn = void (*)(siginfo_t* info, void* ucontext) noexcept;

constexpr int kSamplingSignal = SIGPROF;
// si_value.sival_ptr of the agent's CPU timers. (The bits are what a timer is made with: an
// immediate, where the pointer constant is read from .rodata, a page of the library a shell's
// fork child would not touch otherwise.)
constexpr uintptr_t kTimerCookieBits = 0x70726f6661676e74ull;  // "profagnt"
inline void* const kTimerCookie = reinterpret_cast<void*>(kTimerCookieBits);
constexpr uint32_t kSnapshotMagic = 0x50524f46u;
// A snapshot-request cookie with this bit set is the wall-clock sampler's request: the
// dispatcher hands it to the wall handler instead of the threads profile's.
constexpr uint32_t kWallCookieBit = 0x80000000u;

// True for the agent's own SIGPROFs (a timer's cookie, a snapshot request). SIGNAL-SAFE.
bool is_agent_signal(const siginfo_t* info) noexcept;

// Installs the dispatcher (SA_RESTART|SA_SIGINFO|SA_ONSTACK). A SIGPROF disposition the program set
// before the agent started becomes the program's disposition the dispatcher forwards to.
// Returns false (after one warning) if sigaction fails. Normal context; idempotent.
bool install_sampling_signal();

// True once the dispatcher is installed.
bool sampling_signal_owned() noexcept;

// Exec keeps an ignored signal ignored but resets a handled one (the dispatcher) to the
// default. Called right before a real exec: if the program's own SIGPROF disposition is
// SIG_IGN, installs SIG_IGN for real (true), so the new program starts with SIGPROF ignored
// as it would without the agent; restore_sigprof_after_failed_exec puts the dispatcher back
// when the exec returned. HOOK CONTEXT, also in a vfork child (its handler table is its own).
bool ignore_sigprof_for_exec() noexcept;
void restore_sigprof_after_failed_exec() noexcept;

// The program's own SIGPROF disposition, as the sigaction/signal interposers see it: what a
// query reports, and what a set records (never installed for real: the dispatcher
// forwards). HOOK CONTEXT (sigaction may run in a signal handler): lock-free.
void program_sigprof_action(struct sigaction* out) noexcept;
void set_program_sigprof_action(const struct sigaction& action) noexcept;
// In a forked child: another parent thread may have been mid-write at the fork; the child's
// copy is released (the last complete disposition stands). Async-signal-safe.
void reset_program_sigprof_action_after_fork() noexcept;

// The program set a SIGPROF handler of its own (HOOK CONTEXT: only sets a flag), and the
// matching one-time log line (normal context, from the dump thread).
void note_program_uses_sigprof() noexcept;
void log_sigprof_sharing_once();

// Handlers called by the dispatcher for the agent's own signals.
void set_cpu_sample_handler(SignalHandlerFn fn) noexcept;
void set_thread_snapshot_handler(SignalHandlerFn fn) noexcept;
void set_wall_sample_handler(SignalHandlerFn fn) noexcept;

// The CPU-time clock of thread `tid` of this process (any thread, not only the caller's).
clockid_t thread_cpu_clock(pid_t tid) noexcept;

// Asks running thread `tid` of this process for a sample (threads snapshot, wall profile):
// a one-shot timer on the thread's own CPU clock, 1 ns ahead, whose signal carries
// kSnapshotMagic and `cookie` in si_value. A CPU clock advances only while the thread runs,
// and the kernel handles the expiry on the thread's way back to user space, after any
// system call in progress has finished: so the request never lands in a wait, which a plain
// signal sent after reading "running" in /proc would do whenever the thread blocked in
// between. Returns 0 (the caller deletes *out once answered or given up) or an errno value
// (ESRCH: the thread is gone; EPERM: the agent does not own SIGPROF; EAGAIN: the thread
// holds SIGPROF for the program, signal_mask.h, and could not answer). Normal context.
int arm_cpu_clock_request(pid_t tid, uint32_t cookie, timer_t* out) noexcept;

}  // namespace profagent
