// The SIGPROF dispatcher shared by the CPU timers, thread snapshots and the program itself.
// The dispatcher and the program-disposition accessors are SIGNAL
// CONTEXT: async-signal-safe, no allocation, no locks, errno saved and restored.
// Installation is normal context.
#include "agent/runtime/sampling_signal.h"

#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "agent/core/code_layout.h"
#include "agent/core/sample_path.h"
#include "agent/core/wakeup.h"
#include "agent/core/log.h"
#include "agent/core/real_sigaction.h"
#include "agent/runtime/signal_mask.h"
#include "agent/runtime/signal_stack_room.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

std::atomic<SignalHandlerFn> g_cpu_handler{nullptr};
std::atomic<SignalHandlerFn> g_snapshot_handler{nullptr};
std::atomic<SignalHandlerFn> g_wall_handler{nullptr};
std::atomic<bool> g_owned{false};
constinit struct sigaction g_dispatch_action = {};  // what install_sampling_signal installed
std::atomic<int> g_execs_ignoring{0};  // execs under way with SIGPROF ignored for real
constinit std::mutex g_install_mutex;

// The program's disposition behind a sequence lock: a writer makes the sequence odd, writes,
// makes it even; a reader copies and retries while a write was under way. A writer holds
// the turn with every signal blocked, so a reader can never be a handler interrupting a
// write on its own thread (which would retry forever).
constinit struct sigaction g_program_action = {};
std::atomic<uint32_t> g_program_sequence{0};
std::atomic<int> g_program_writers{0};

bool is_snapshot_value(const siginfo_t* info) noexcept {
  return (reinterpret_cast<uintptr_t>(info->si_value.sival_ptr) >> 32) == kSnapshotMagic;
}

}  // namespace

bool is_agent_signal(const siginfo_t* info) noexcept {
  // Timers: the CPU timers, and the one-shot snapshot timers on a running thread's CPU clock.
  if (info->si_code == SI_TIMER)
    return info->si_value.sival_ptr == kTimerCookie || is_snapshot_value(info);
  if (info->si_code == SI_QUEUE && info->si_pid == getpid()) return is_snapshot_value(info);
  return false;
}

namespace {

// Delivers a SIGPROF that is not the agent's as the program's own disposition would,
// honouring its flags: SA_SIGINFO, SA_RESETHAND, SA_NODEFER and sa_mask. SA_ONSTACK needs
// nothing more: the dispatcher itself is SA_ONSTACK, so it already runs on the thread's
// alternate stack when there is one. A thread whose program-visible mask blocks SIGPROF
// (signal_mask.h) gets it later, when the program unblocks it, as without the agent.
void forward_to_program(int sig, siginfo_t* info, void* ucontext) {
  if (defer_program_sigprof_if_blocked(info, ucontext)) return;
  struct sigaction action;
  program_sigprof_action(&action);
  bool has_info = (action.sa_flags & SA_SIGINFO) != 0;
  // SIG_IGN and SIG_DFL are what the kernel sees in the handler field, SA_SIGINFO or not.
  if (action.sa_handler == SIG_IGN) return;
  if ((has_info && action.sa_sigaction == nullptr) || (!has_info && action.sa_handler == SIG_DFL)) {
    // SIGPROF's default action terminates the process: do exactly that.
    raise_with_default_action(sig);
    return;
  }
  if (action.sa_flags & SA_RESETHAND) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    set_program_sigprof_action(dfl);
  }
  // The program's handler runs with the mask the kernel would have given it: the interrupted
  // context's, plus its own sa_mask, plus SIGPROF unless it asked for SA_NODEFER (the
  // dispatcher itself runs with every asynchronous signal blocked). Raw syscalls: the
  // program-visible mask bookkeeping is not involved.
  sigset_t during;
  if (ucontext != nullptr)
    memcpy(&during, &static_cast<const ucontext_t*>(ucontext)->uc_sigmask, sizeof during);
  else
    raw_sigmask(SIG_BLOCK, nullptr, &during);
  sigorset(&during, &during, &action.sa_mask);
  if (action.sa_flags & SA_NODEFER) {
    if (!sigismember(&action.sa_mask, sig)) sigdelset(&during, sig);
  } else {
    sigaddset(&during, sig);
  }
  sigset_t old;
  raw_sigmask(SIG_SETMASK, &during, &old);
  if (has_info) action.sa_sigaction(sig, info, ucontext);
  else action.sa_handler(sig);
  raw_sigmask(SIG_SETMASK, &old, nullptr);
}

// Out of line: its siginfo copy stays out of the dispatcher's frame, below which the room an
// agent handler needs on a small altstack is measured (80 bytes of frame; 208 with it inline
// left a 3.5 KiB altstack without room for any sample).
__attribute__((noinline)) void deliver_deferred_program_sigprof(int sig, void* ucontext) {
  siginfo_t deferred;
  if (take_deferred_program_sigprof(&deferred)) forward_to_program(sig, &deferred, ucontext);
}

PROFAGENT_SAMPLE_PATH void dispatch(int sig, siginfo_t* info, void* ucontext) {
  int saved_errno = errno;
  if (info != nullptr && is_agent_signal(info)) {
    // An alternate signal stack with barely room for the kernel's frame: no agent handler can
    // run safely (the sample is lost, a snapshot or wall walk finds no answer); anything
    // else would overflow it.
    if (signal_stack_room(ucontext) >= kRoomForAgentHandler) {
      SignalHandlerFn fn = info->si_code == SI_TIMER && info->si_value.sival_ptr == kTimerCookie
                               ? g_cpu_handler.load(std::memory_order_acquire)
                           : (static_cast<uint32_t>(info->si_value.sival_int) & kWallCookieBit)
                               ? g_wall_handler.load(std::memory_order_acquire)
                               : g_snapshot_handler.load(std::memory_order_acquire);
      if (fn != nullptr) fn(info, ucontext);
    }
    // The program's own SIGPROF, deferred on this thread and swallowed by this one.
    if (program_sigprof_deferred()) {
      errno = saved_errno;
      deliver_deferred_program_sigprof(sig, ucontext);
    }
    errno = saved_errno;
    return;
  }
  errno = saved_errno;  // the program's handler sees the errno it would have seen
  forward_to_program(sig, info, ucontext);
  errno = saved_errno;
}

}  // namespace

PROFAGENT_START_PATH
bool install_sampling_signal() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (g_owned.load()) return true;
  struct sigaction current;
  if (real_sigaction()(kSamplingSignal, nullptr, &current) != 0) return false;
  bool program_has_handler = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                                             : current.sa_handler != SIG_DFL;
  if (program_has_handler)
    log_info("sharing SIGPROF with the program's own handler (installed before the agent)");
  // The usual plain default action, with nothing recorded yet, is what the zeroed record
  // already says: not written, so a start makes no two mask changes for it (only the kernel's
  // word of sa_mask counts: libc leaves the rest of the mask as its own stack had it).
  const bool plain_default = current.sa_handler == SIG_DFL && current.sa_flags == 0 &&
                             kernel_mask_word(&current.sa_mask) == 0;
  if (!plain_default || g_program_sequence.load(std::memory_order_acquire) != 0)
    set_program_sigprof_action(current);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = dispatch;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  // Every asynchronous signal waits while the dispatcher runs (microseconds): a program
  // handler that leaves with siglongjmp without restoring the mask must never leave from
  // inside the agent's handler, which would keep SIGPROF blocked on that thread for good. The
  // signals a fault raises stay deliverable.
  fill_asynchronous_signals(&sa.sa_mask);
  g_dispatch_action = sa;
  if (real_sigaction()(kSamplingSignal, &sa, nullptr) != 0) {
    log().warn("cannot install the SIGPROF handler ({}); CPU and threads profiles are off",
               strerror(errno));
    return false;
  }
  g_owned.store(true);
  return true;
}

PROFAGENT_FORK_PATH
bool sampling_signal_owned() noexcept { return g_owned.load(std::memory_order_acquire); }

PROFAGENT_FORK_PATH bool ignore_sigprof_for_exec() noexcept {
  if (!sampling_signal_owned()) return false;
  struct sigaction program;
  program_sigprof_action(&program);
  if (program.sa_handler != SIG_IGN) return false;  // (with SA_SIGINFO or not)
  struct sigaction ignore;
  memset(&ignore, 0, sizeof ignore);
  ignore.sa_handler = SIG_IGN;
  g_execs_ignoring.fetch_add(1, std::memory_order_relaxed);
  if (real_sigaction()(kSamplingSignal, &ignore, nullptr) == 0) return true;
  g_execs_ignoring.fetch_sub(1, std::memory_order_relaxed);
  return false;
}

void restore_sigprof_after_failed_exec() noexcept {
  int saved = errno;
  real_sigaction()(kSamplingSignal, &g_dispatch_action, nullptr);
  g_execs_ignoring.fetch_sub(1, std::memory_order_relaxed);
  errno = saved;
}

PROFAGENT_FORK_PATH void program_sigprof_action(struct sigaction* out) noexcept {
  for (;;) {
    uint32_t before = g_program_sequence.load(std::memory_order_acquire);
    if (before & 1) continue;  // a write is under way on another thread: microseconds
    memcpy(static_cast<void*>(out), static_cast<const void*>(&g_program_action), sizeof *out);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (g_program_sequence.load(std::memory_order_relaxed) == before) return;
  }
}

PROFAGENT_START_PATH void set_program_sigprof_action(const struct sigaction& action) noexcept {
  // Concurrent writers (two threads calling sigaction at once) take turns.
  // Signals are blocked while this thread holds the turn: a handler interrupting it here that
  // sets SIGPROF again (its own sigaction call, or SA_RESETHAND in forward_to_program) would
  // otherwise spin forever on a turn its own thread holds.
  sigset_t all, old;
  sigfillset(&all);
  raw_sigmask(SIG_BLOCK, &all, &old);
  while (g_program_writers.exchange(1, std::memory_order_acquire) != 0) {
  }
  g_program_sequence.fetch_add(1, std::memory_order_acq_rel);  // odd: write under way
  std::atomic_thread_fence(std::memory_order_release);
  memcpy(static_cast<void*>(&g_program_action), static_cast<const void*>(&action),
         sizeof action);
  g_program_sequence.fetch_add(1, std::memory_order_release);  // even: stable
  g_program_writers.store(0, std::memory_order_release);
  raw_sigmask(SIG_SETMASK, &old, nullptr);
}

std::atomic<int> g_program_sigprof_state{0};  // 0 no, 1 noted, 2 logged

void note_program_uses_sigprof() noexcept {
  int expected = 0;
  if (g_program_sigprof_state.compare_exchange_strong(expected, 1)) request_collector_tick();
}

void log_sigprof_sharing_once() {
  int expected = 1;
  if (g_program_sigprof_state.compare_exchange_strong(expected, 2))
    log_info("the program installed its own SIGPROF handler: SIGPROF is shared, its own "
             "signals go to its handler and the agent keeps profiling");
}

PROFAGENT_FORK_PATH void reset_program_sigprof_action_after_fork() noexcept {
  uint32_t sequence = g_program_sequence.load(std::memory_order_relaxed);
  if (sequence & 1) g_program_sequence.store(sequence + 1, std::memory_order_relaxed);
  store_if_changed(g_program_writers, 0);
  // Forked while another thread's exec had SIGPROF ignored for real: the child keeps the
  // dispatcher (it does not exec; the other thread is not there).
  if (g_execs_ignoring.load(std::memory_order_relaxed) != 0 &&
      g_execs_ignoring.exchange(0, std::memory_order_relaxed) != 0)
    real_sigaction()(kSamplingSignal, &g_dispatch_action, nullptr);
}

PROFAGENT_START_PATH void set_cpu_sample_handler(SignalHandlerFn fn) noexcept {
  g_cpu_handler.store(fn, std::memory_order_release);
}

PROFAGENT_START_PATH void set_thread_snapshot_handler(SignalHandlerFn fn) noexcept {
  g_snapshot_handler.store(fn, std::memory_order_release);
}

void set_wall_sample_handler(SignalHandlerFn fn) noexcept {
  g_wall_handler.store(fn, std::memory_order_release);
}

clockid_t thread_cpu_clock(pid_t tid) noexcept {
  // The kernel's MAKE_THREAD_CPUCLOCK(tid, SCHED).
  return static_cast<clockid_t>((~static_cast<unsigned>(tid) << 3) | 4 /*PERTHREAD*/ | 2 /*SCHED*/);
}

int arm_cpu_clock_request(pid_t tid, uint32_t cookie, timer_t* out) noexcept {
  if (!sampling_signal_owned()) return EPERM;
  if (thread_holds_sigprof(tid)) return EAGAIN;
  sigevent sev;
  memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = kSamplingSignal;
  sev.sigev_value.sival_ptr =
      reinterpret_cast<void*>((static_cast<uintptr_t>(kSnapshotMagic) << 32) | cookie);
  sev._sigev_un._tid = tid;
  timer_t timer;
  if (timer_create(thread_cpu_clock(tid), &sev, &timer) != 0) return errno == EINVAL ? ESRCH : errno;
  itimerspec its;
  memset(&its, 0, sizeof its);
  its.it_value.tv_nsec = 1;
  if (timer_settime(timer, 0, &its, nullptr) != 0) {
    int e = errno;
    timer_delete(timer);
    return e;
  }
  if (thread_holds_sigprof(tid)) {  // its hold began meanwhile: taken back before it fires
    timer_delete(timer);
    return EAGAIN;
  }
  *out = timer;
  return 0;
}

}  // namespace profagent
