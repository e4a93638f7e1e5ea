// The program-visible signal mask for SIGPROF. A thread that blocks every signal (liblzma's
// workers, jemalloc's background threads) would never take the agent's timer signal and
// vanish from the CPU profile; so the agent keeps SIGPROF really deliverable while every
// query of the mask shows the program exactly the mask it set. Per-thread state, in
// initial-exec TLS:
//   view  — the program believes SIGPROF is blocked although it is really left open;
//   held  — SIGPROF is really blocked as the program asked, because the program waits for
//           SIGPROF (sigwait, signalfd) or one of its own SIGPROFs arrived while its view
//           blocked it (re-sent, so it stays pending until the program unblocks it).
// The program's own SIGPROFs never reach its handler while its view blocks them.
// SIGNAL-SAFE and HOOK-SAFE throughout: TLS flags and raw system calls only.
#pragma once

#include <signal.h>
#include <sys/types.h>

namespace profagent {

// Pure bookkeeping of one pthread_sigmask/sigprocmask call (unit-tested).
struct MaskChange {
  bool view_after = false;    // the view flag after the call
  bool held_after = false;    // the held flag after the call
  bool strip_sigprof = false; // remove SIGPROF from the set passed to the kernel
};
MaskChange plan_mask_change(int how, bool set_has_sigprof, bool view, bool held) noexcept;

// Whether masks are virtualized at all: the agent's SIGPROF dispatcher is installed.
bool mask_virtualized() noexcept;

// The kernel's 64-bit view of a signal set (its first word).
unsigned long long kernel_mask_word(const sigset_t* set) noexcept;

// The calling thread's flags. The view is valid only while the thread's real mask is the one
// the agent last set for it (`real_mask`, compared outside SIGPROF, KILL and STOP): a runtime
// that changes its mask with the raw system call (Go) makes it stale, and then the real mask
// is the truth. sigprof_view_blocked(real_now) checks, and forgets a stale view.
bool sigprof_view_blocked(unsigned long long real_now) noexcept;
bool sigprof_held() noexcept;
void set_sigprof_flags(bool view, bool held, unsigned long long real_mask) noexcept;
// The real mask after a pthread_sigmask-style change of `old_real` by (how, set) where `set`
// is what the kernel was given.
unsigned long long mask_after(int how, unsigned long long old_real,
                              unsigned long long set) noexcept;

// The program asks to wait for SIGPROF (sigwait family, signalfd): if its view blocks
// SIGPROF, block it for real on this thread now.
void hold_sigprof_for_wait(const sigset_t* set) noexcept;

// While a thread waits for SIGPROF its CPU timer must not expire: the agent's signal would
// stay pending (SIGPROF is held), a thread-directed SIGPROF of the program sent after it would
// merge into it (a standard signal is pending once per thread), and the sigwait hooks would
// filter both out (~1 round in 100 of a sigtimedwait loop at 1000 Hz). The CPU collector
// registers how to stop (true) and restart (false) the calling thread's timer. It is stopped
// when a wait begins the hold, before SIGPROF is blocked (an expiration just before is still
// delivered); when the thread already holds SIGPROF (a deferral), only while no SIGPROF is
// pending on it: since Linux 6.13 the pending signal of a timer stopped or re-armed is dropped
// when dequeued, and a program SIGPROF merged into it with it. Restarted when the hold ends.
// The listener returns whether the thread had a timer to stop or restart. Hook and signal
// context.
using SigprofHoldListener = bool (*)(bool stop) noexcept;
void set_sigprof_hold_listener(SigprofHoldListener listener) noexcept;
// After a sigwait-family call returned, before one waits, and once a new thread or a fork
// child that inherited a hold has its timer: stops the thread's timer if it holds SIGPROF
// with the timer running and no SIGPROF is pending on it.
void stop_timer_while_held() noexcept;

// Whether thread `tid` holds SIGPROF now (it is listed before SIGPROF is blocked). The wall
// sampler and the threads snapshot ask no holding thread by signal: it could not answer until
// the hold ends, and their SIGPROF pending there would swallow a program SIGPROF sent to it
// after. Up to 64 holding threads are known at once (more: asked as before). A hold the
// program ends with the raw system call (not through libc) is seen only at its next hook.
// Any context.
bool thread_holds_sigprof(pid_t tid) noexcept;
// In a fork child: the parent's threads are not there; the child's one thread keeps its hold.
void forget_other_sigprof_holders_after_fork() noexcept;
// A thread that ends (its pthread key destructor) is no holder any more, so a later thread
// given its tid is asked as any other; the dump thread's tick forgets holders that ended
// without one (threads from before the agent, raw clones). Normal context.
void forget_sigprof_hold_at_thread_exit() noexcept;
void forget_ended_sigprof_holders() noexcept;

// From the dispatcher, for a SIGPROF that is the program's: if the thread's view blocks it,
// re-send it (process- or thread-directed as it came) and block SIGPROF for real once the
// handler returns (through the interrupted context's saved mask). Returns true if deferred.
bool defer_program_sigprof_if_blocked(const siginfo_t* info, void* ucontext) noexcept;

// From the dispatcher, after one of the agent's own SIGPROFs on this thread: a program
// SIGPROF deferred here and re-sent may have merged into it (a standard signal is pending at
// most once per thread). If one is still waiting, fills `info` with what it carried and
// returns true: the caller delivers it now (the agent's signal came, so SIGPROF is open).
bool take_deferred_program_sigprof(siginfo_t* info) noexcept;
// Whether one waits (a TLS load: the dispatcher's fast check).
bool program_sigprof_deferred() noexcept;
// The program took the re-sent one itself (sigwaitinfo, sigtimedwait): nothing waits now.
void forget_deferred_program_sigprof() noexcept;
// In a fork child: a SIGPROF pending in the parent is not pending in the child (fork clears
// the pending set), so the child forgets the one it deferred.
void forget_deferred_sigprof_after_fork() noexcept;

// Inheritance by a new thread: the creator's flags, taken before pthread_create and adopted
// by the new thread before its start routine.
struct MaskInheritance {
  bool view = false;
  bool held = false;
  unsigned long long real_mask = 0;
};
MaskInheritance current_mask_inheritance() noexcept;
void adopt_mask_inheritance(MaskInheritance inherited) noexcept;

}  // namespace profagent
