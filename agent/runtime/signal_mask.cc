// The program-visible SIGPROF mask bookkeeping (see signal_mask.h). SIGNAL-SAFE and
// HOOK-SAFE: initial-exec TLS flags, raw system calls, no allocation, no locks.
#include "agent/runtime/signal_mask.h"

#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "agent/core/running_flag.h"
#include "agent/core/sample_path.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/core/real_sigaction.h"
#include "agent/core/code_layout.h"
#include "agent/core/large_bss.h"

namespace profagent {
namespace {

thread_local bool t_view __attribute__((tls_model("initial-exec"))) = false;
thread_local bool t_held __attribute__((tls_model("initial-exec"))) = false;
thread_local unsigned long long t_real __attribute__((tls_model("initial-exec"))) = 0;
// A program SIGPROF deferred and re-sent to this thread that has not reached the program's
// handler yet, and the head of its siginfo (signo, errno, code and the union's first 16
// bytes: sender pid and uid, or timer id and overrun, and the value).
constexpr size_t kInfoHead = 32;
thread_local bool t_deferred __attribute__((tls_model("initial-exec"))) = false;
thread_local unsigned char t_deferred_info[kInfoHead] __attribute__((tls_model("initial-exec")));
static_assert(kInfoHead <= sizeof(siginfo_t));

constexpr unsigned long long bit(int sig) { return 1ull << (sig - 1); }
constexpr unsigned long long kCompared = ~(bit(SIGPROF) | bit(SIGKILL) | bit(SIGSTOP));

// Whether this thread's CPU timer is stopped for its hold (set_sigprof_hold_listener).
thread_local bool t_timer_stopped __attribute__((tls_model("initial-exec"))) = false;
std::atomic<SigprofHoldListener> g_hold_listener{nullptr};

// The threads that hold SIGPROF (thread_holds_sigprof): tid, or 0 for a free slot.
constexpr int kMaxHolders = 64;
PROFAGENT_LARGE_BSS constinit std::atomic<pid_t> g_holders[kMaxHolders] = {};  // (large_bss.h)

// (A handler that interrupted the listing of its own thread may list it twice: the end of the
// hold removes every copy.)
void note_holder(pid_t tid, bool holds) noexcept {
  if (!holds) {
    for (auto& slot : g_holders)
      if (slot.load(std::memory_order_relaxed) == tid) slot.store(0, std::memory_order_release);
    return;
  }
  for (auto& slot : g_holders)
    if (slot.load(std::memory_order_relaxed) == tid) return;
  for (auto& slot : g_holders) {
    pid_t free = 0;
    if (slot.compare_exchange_strong(free, tid, std::memory_order_acq_rel)) return;
  }
}

pid_t own_tid() noexcept { return static_cast<pid_t>(syscall(SYS_gettid)); }

// t_held set, the thread listed as a holder.
void begin_hold() noexcept {
  if (t_held) return;
  note_holder(own_tid(), true);
  t_held = true;
}

// Whether the listener stopped (restarted) the thread's timer. Its system call may fail (a
// timer deleted at stop): the program's errno stays.
bool tell_hold_listener(bool stop) noexcept {
  SigprofHoldListener listener = g_hold_listener.load(std::memory_order_acquire);
  if (listener == nullptr) return false;
  const int saved_errno = errno;
  const bool done = listener(stop);
  errno = saved_errno;
  return done;
}

void stop_timer() noexcept {
  if (tell_hold_listener(true)) t_timer_stopped = true;
}

// The hold ends: the timer, if stopped for it, runs again.
void end_hold() noexcept {
  if (t_held) note_holder(own_tid(), false);
  t_held = false;
  if (!t_timer_stopped) return;
  t_timer_stopped = false;
  tell_hold_listener(false);
}

void really_block_sigprof() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kSamplingSignal);
  raw_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

PROFAGENT_FORK_PATH
MaskChange plan_mask_change(int how, bool set_has_sigprof, bool view, bool held) noexcept {
  MaskChange c;
  c.view_after = view;
  switch (how) {
    case SIG_BLOCK:
      if (set_has_sigprof) {
        c.view_after = true;
        c.strip_sigprof = !held;
      }
      break;
    case SIG_UNBLOCK:
      if (set_has_sigprof) c.view_after = false;
      break;
    case SIG_SETMASK:
      c.view_after = set_has_sigprof;
      c.strip_sigprof = set_has_sigprof && !held;
      break;
    default:  // invalid: the kernel refuses it, nothing changes
      break;
  }
  c.held_after = c.view_after && held;
  return c;
}

PROFAGENT_FORK_PATH
bool mask_virtualized() noexcept { return agent_running() && sampling_signal_owned(); }

PROFAGENT_FORK_PATH unsigned long long kernel_mask_word(const sigset_t* set) noexcept {
  unsigned long long word;
  memcpy(&word, set, sizeof word);
  return word;
}

PROFAGENT_FORK_PATH bool sigprof_view_blocked(unsigned long long real_now) noexcept {
  if (!t_view && !t_held) return false;
  if ((real_now & kCompared) != (t_real & kCompared)) {  // changed behind libc's back
    t_view = false;
    end_hold();
    return false;
  }
  return t_view;
}

PROFAGENT_FORK_PATH bool sigprof_held() noexcept { return t_held; }

PROFAGENT_FORK_PATH
void set_sigprof_flags(bool view, bool held, unsigned long long real_mask) noexcept {
  t_view = view;
  t_real = real_mask;
  if (!held && t_held) end_hold();  // (a mask change never begins a hold: plan_mask_change)
}

PROFAGENT_START_PATH void set_sigprof_hold_listener(SigprofHoldListener listener) noexcept {
  g_hold_listener.store(listener, std::memory_order_release);
}

PROFAGENT_FORK_PATH
unsigned long long mask_after(int how, unsigned long long old_real,
                              unsigned long long set) noexcept {
  switch (how) {
    case SIG_BLOCK: return old_real | set;
    case SIG_UNBLOCK: return old_real & ~set;
    case SIG_SETMASK: return set;
    default: return old_real;
  }
}

void hold_sigprof_for_wait(const sigset_t* set) noexcept {
  if (set == nullptr || !t_view || sigismember(set, kSamplingSignal) != 1) return;
  if (t_held) {
    stop_timer_while_held();
    return;
  }
  sigset_t now;
  if (raw_sigmask(SIG_BLOCK, nullptr, &now) != 0 || !sigprof_view_blocked(kernel_mask_word(&now)))
    return;
  // Listed first (the wall sampler and snapshot stop asking it), the timer stopped while
  // SIGPROF is open (an expiration before that is delivered now), blocked, and only then
  // held: a program SIGPROF landing before the block is deferred as usual, not taken for one
  // the program let through.
  note_holder(own_tid(), true);
  stop_timer();
  really_block_sigprof();
  t_held = true;
}

PROFAGENT_FORK_PATH void stop_timer_while_held() noexcept {  // (every fork child calls it)
  if (!t_held || t_timer_stopped || g_hold_listener.load(std::memory_order_relaxed) == nullptr)
    return;
  const int saved_errno = errno;  // (after a sigwait-family call: its errno is the program's)
  sigset_t pending;
  const bool quiet = syscall(SYS_rt_sigpending, &pending, kKernelSigsetBytes) == 0 &&
                     sigismember(&pending, kSamplingSignal) == 0;
  errno = saved_errno;
  if (quiet) stop_timer();
}

bool defer_program_sigprof_if_blocked(const siginfo_t* info, void* ucontext) noexcept {
  if (!t_view || ucontext == nullptr) {
    t_deferred = false;  // delivered now: the re-sent one, or one it merged with
    return false;
  }
  if (t_held) {
    t_deferred = false;
    // SIGPROF was really blocked (held): that it is delivered now means the program's own
    // mask change (or sigsuspend, pselect, ppoll… with a temporary mask) opened it. The
    // program wants it now: deliver, never defer again (a second deferral would lose it and
    // spin a sigsuspend loop), and forget the hold the kernel no longer applies.
    t_view = false;
    end_hold();
    return false;
  }
  // The interrupted code's real mask: a view the program's runtime overrode is stale.
  if (!sigprof_view_blocked(kernel_mask_word(&static_cast<ucontext_t*>(ucontext)->uc_sigmask))) {
    t_deferred = false;
    return false;
  }
  // Really blocked from the handler's return on (the kernel restores this saved mask).
  sigaddset(&static_cast<ucontext_t*>(ucontext)->uc_sigmask, kSamplingSignal);
  begin_hold();  // (the timer runs on: stopping it now could drop a pending one, see .h)
  pid_t pid = getpid();
  bool to_thread = info != nullptr && info->si_code == SI_TKILL;
  if (to_thread) {
    // A thread has one pending SIGPROF at most: an agent timer signal that came while this
    // handler ran (SIGPROF blocked) is pending already and swallows the re-sent one. So the
    // program's is remembered too, and the agent's next SIGPROF on this thread, which can
    // only come once the program's mask lets SIGPROF in, delivers it
    // (take_deferred_program_sigprof).
    memcpy(t_deferred_info, info, kInfoHead);
    t_deferred = true;
    syscall(SYS_tgkill, pid, own_tid(), kSamplingSignal);
    return true;
  }
  // Process-directed: re-queued with its original siginfo where the kernel allows it (our
  // main thread), else as a plain kill.
  if (info == nullptr ||
      syscall(SYS_rt_sigqueueinfo, pid, kSamplingSignal, const_cast<siginfo_t*>(info)) != 0)
    syscall(SYS_kill, pid, kSamplingSignal);
  return true;
}

PROFAGENT_FORK_PATH void forget_deferred_sigprof_after_fork() noexcept {
  if (t_deferred) t_deferred = false;  // (a store only when it changes: fork_reset.h)
  if (t_timer_stopped) t_timer_stopped = false;  // the child's timer is new and running
}

PROFAGENT_SAMPLE_PATH bool program_sigprof_deferred() noexcept { return t_deferred; }

void forget_deferred_program_sigprof() noexcept { t_deferred = false; }

bool take_deferred_program_sigprof(siginfo_t* info) noexcept {
  if (!t_deferred) return false;
  t_deferred = false;
  memset(info, 0, sizeof *info);
  memcpy(info, t_deferred_info, kInfoHead);
  return true;
}

bool thread_holds_sigprof(pid_t tid) noexcept {
  for (const auto& slot : g_holders)
    if (slot.load(std::memory_order_acquire) == tid) return true;
  return false;
}

PROFAGENT_FORK_PATH void forget_other_sigprof_holders_after_fork() noexcept {
  // (A store only where a slot is taken, fork_reset.h: a shell's child touches no page.)
  for (auto& slot : g_holders)
    if (slot.load(std::memory_order_relaxed) != 0) slot.store(0, std::memory_order_relaxed);
  if (t_held) note_holder(own_tid(), true);
}

void forget_sigprof_hold_at_thread_exit() noexcept {
  if (t_held) note_holder(own_tid(), false);
}

void forget_ended_sigprof_holders() noexcept {
  const pid_t pid = getpid();
  for (auto& slot : g_holders) {
    pid_t tid = slot.load(std::memory_order_acquire);
    // tgkill with signal 0 only checks that the thread still exists in this process.
    if (tid != 0 && syscall(SYS_tgkill, pid, tid, 0) != 0 && errno == ESRCH)
      slot.compare_exchange_strong(tid, 0, std::memory_order_acq_rel);
  }
}

MaskInheritance current_mask_inheritance() noexcept { return {t_view, t_held, t_real}; }

void adopt_mask_inheritance(MaskInheritance inherited) noexcept {
  t_view = inherited.view;
  t_held = false;
  if (inherited.held) begin_hold();
  t_real = inherited.real_mask;
  t_timer_stopped = false;  // the new thread's timer runs until it waits for SIGPROF
}

}  // namespace profagent
