// The agent's own signal dispositions: the dump signal, and SIGTERM/SIGINT/SIGHUP while the
// program leaves them at SIG_DFL (dump, then die of the same signal). The two handlers are
// SIGNAL CONTEXT (futex wake-up, atomics, errno preserved); the rest is normal context.
//
// What the program sees: sigaction() queries of a signal the agent owns report the
// disposition the program itself last set (initially what it was before the agent), so the
// agent is invisible. The program installing a handler of its own always wins (the agent
// steps aside for that signal; see signal_hooks.cc). SIGPROF is not handled here: it is
// shared with the program (sampling_signal.cc).
#include "agent/core/large_bss.h"
#include "agent/signals.h"

#include <dlfcn.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "agent/agent.h"
#include "agent/core/code_layout.h"
#include "agent/core/config.h"
#include "agent/core/process_id.h"
#include "agent/dump_thread.h"
#include "agent/core/log.h"
#include "agent/core/termination_wait.h"
#include "agent/runtime/signal_mask.h"
#include "agent/runtime/signal_retry.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/core/fork_reset.h"

namespace profagent {
namespace {

constexpr int kMaxSignal = 65;
constexpr int kTerminationSignals[] = {SIGTERM, SIGINT, SIGHUP};

enum class Role : int { kNone, kDump, kTermination };

std::atomic<int> g_role[kMaxSignal];           // Role the agent has for each signal
PROFAGENT_LARGE_BSS constinit struct sigaction g_shown[kMaxSignal] = {};          // what the program believes is installed
std::atomic<int> g_pending_termination{0};

// Each agent handler blocks the others while it runs: a termination signal never lands in
// the middle of the dump signal's thread start, or the other way round.
void block_agent_signals(sigset_t* mask) {
  for (int sig : kTerminationSignals) sigaddset(mask, sig);
  if (int dump = config().dump_signal; dump > 0 && dump < kMaxSignal) sigaddset(mask, dump);
}

// A deferred dump thread (dump_thread.h: a fork child's, or a started process's) is
// started by the handler when the point it interrupted allows (thread_start_point.h); when
// not (the program was inside malloc, the loader, the agent), the handler returns, the
// program leaves that point, and the signal comes back after kRetryNanos, at most
// kMaxRetries times per signal kind. A
// program blocked in a system call where the rule refuses is not signalled again (each
// retry would only interrupt that call with the same answer).
constexpr int64_t kRetryNanos = 1000000;
constexpr int kMaxRetries = 100;
std::atomic<int> g_dump_retries{0};
std::atomic<int> g_termination_retries{0};

enum class ThreadFor {
  kGoOn,     // the dump thread runs, or none is deferred: the handler does as always
  kComeBack, // the handler returns; the signal comes back in kRetryNanos
  kNone      // no thread now, and no use waiting for one
};

// A signal the process sent itself (raise, kill(getpid()), pthread_kill): it is delivered
// as the sending wrapper returns, a glibc leaf that is not blocked, which the rule for an
// interrupted point refuses; a retry would let the program run on (`raise(SIGTERM);
// abort();` died of SIGABRT). Those wrappers hold no glibc state, so the point is judged
// as a call the program made, as a hook's is: the handler's own stack, walked through its
// signal frame, with a glibc chain on top allowed.
bool sent_by_this_process(const siginfo_t* info) noexcept {
  return info != nullptr && (info->si_code == SI_TKILL || info->si_code == SI_USER) &&
         info->si_pid == own_pid();
}

// `termination`: a termination signal (one already waiting is the one retried: the program
// dies of the first it got); else the dump signal, which leaves a waiting termination's
// retry alone (its dump request stands, and the one retry timer is the termination's).
ThreadFor thread_for_signal(int sig, const siginfo_t* info, void* ucontext,
                            std::atomic<int>& retries, bool termination) noexcept {
  if (!dump_thread_starting()) {
    if (!dump_thread_deferred()) return ThreadFor::kGoOn;
    switch (start_deferred_dump_thread_at(sent_by_this_process(info) ? nullptr : ucontext)) {
      case DeferredStart::kRunning: return ThreadFor::kGoOn;
      case DeferredStart::kNotWhileBlocked: return ThreadFor::kNone;
      case DeferredStart::kNotHere: break;
    }
  }
  // (Starting: the start this signal interrupted, on this very thread, finishes first.)
  const int waiting = termination_waiting();
  if (!termination && waiting != 0) return ThreadFor::kNone;
  const int retried = termination && waiting != 0 ? waiting : sig;
  if (retries.fetch_add(1) < kMaxRetries && send_signal_again_soon(retried, kRetryNanos))
    return ThreadFor::kComeBack;
  return ThreadFor::kNone;
}

void dump_signal_handler(int sig, siginfo_t* info, void* ucontext) {
  int saved = errno;
  request_dump();  // (stands until a dump thread runs)
  thread_for_signal(sig, info, ucontext, g_dump_retries, /*termination=*/false);
  errno = saved;
}

// How long a thread that received a termination signal waits for the dump thread to dump and
// end the process before it dies of the signal itself (a dump stuck behind a lock the
// interrupted thread holds must not keep the process alive).
constexpr int kTerminationDumpMillis = 5000;

void termination_handler(int delivered, siginfo_t* info, void* ucontext) {
  int saved = errno;
  int sig = delivered;
  const ThreadFor outcome = thread_for_signal(sig, info, ucontext, g_termination_retries,
                                              /*termination=*/true);
  if (int first = termination_waiting()) sig = first;  // the program dies of the first
  switch (outcome) {
    case ThreadFor::kComeBack:
      note_termination_waiting(sig);  // an exit or exec meanwhile still dies of it
      errno = saved;
      return;
    case ThreadFor::kNone:
      end_signal_retries();
      raise_with_default_action(sig);  // as a process without a dump thread: no dump
      break;
    case ThreadFor::kGoOn:
      end_signal_retries();
      break;
  }
  clear_termination_waiting();
  int expected = 0;
  if (!dump_thread_running() || !g_pending_termination.compare_exchange_strong(expected, sig)) {
    // No dump thread, or a second termination signal while dumping: die right away.
    raise_with_default_action(sig);
  }
  wake_dump_thread();
  // While the dump is written, another termination signal the agent handles (or its dump
  // signal) is taken at once, as it was before the agent's handlers blocked each other (see
  // block_agent_signals): a second termination signal ends the process right away. Only those
  // the interrupted code had not blocked itself; the one being handled stays blocked.
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  sigset_t others;
  sigemptyset(&others);
  for (int other = 1; other < kMaxSignal; ++other) {
    if (other == delivered || other == sig) continue;
    if (static_cast<Role>(g_role[other].load()) == Role::kNone) continue;
    if (uc != nullptr && sigismember(&uc->uc_sigmask, other) == 1) continue;
    sigaddset(&others, other);
  }
  raw_sigmask(SIG_UNBLOCK, &others, nullptr);
  // Never return to the program: it would run on (and could even exit normally, changing
  // its exit status) while the dump is written. The dump thread ends the process with this
  // same signal once the profiles are on disk (die_of_signal).
  for (int waited = 0; waited < kTerminationDumpMillis; waited += 10) {
    timespec ten_ms{0, 10 * 1000 * 1000};
    nanosleep(&ten_ms, nullptr);
  }
  raise_with_default_action(sig);
  errno = saved;
}

PROFAGENT_START_PATH
bool install(int sig, void (*handler)(int, siginfo_t*, void*), Role role) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;  // Go and coroutine stacks are small
  sigemptyset(&sa.sa_mask);
  block_agent_signals(&sa.sa_mask);
  struct sigaction old;  // what the program is shown: the action this one replaced
  if (real_sigaction()(sig, &sa, &old) != 0) return false;
  // The table holds zeros here (this runs once per signal, at the agent's start): the usual
  // plain default action is not stored, so a start neither reads nor writes a page of the
  // table, a page fault saved in every process. (Only the kernel's word of sa_mask counts:
  // libc leaves the rest of the mask it returns as its own stack had it.)
  bool plain_default = old.sa_handler == SIG_DFL && old.sa_flags == 0 &&
                       kernel_mask_word(&old.sa_mask) == 0;
  if (!plain_default) g_shown[sig] = old;
  g_role[sig].store(static_cast<int>(role));
  return true;
}

bool is_default(const struct sigaction& sa) {
  return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

// The program took the dump signal. A warning when the user chose that signal; with the
// default (USR2, which Go's runtime and others install handlers for) only an info line, so
// such a program's stderr stays its own.
void log_signal_taken(int sig, const char* what) {
  auto level = config().dump_signal_chosen ? spdlog::level::warn : spdlog::level::info;
  log().log(level, "the program {} signal {} (PROFAGENT_SIGNAL); dumps on signal are off",
            what, sig);
}

}  // namespace

PROFAGENT_START_PATH
void install_agent_signal_handlers(int dump_signal) {
  if (dump_signal > 0 && dump_signal < kMaxSignal) {
    struct sigaction current;
    real_sigaction()(dump_signal, nullptr, &current);
    if (!is_default(current) && current.sa_handler != SIG_IGN) {
      log_signal_taken(dump_signal, "already handles");
    } else if (!install(dump_signal, dump_signal_handler, Role::kDump)) {
      log().warn("cannot install the handler for signal {}; dumps on signal are off",
                 dump_signal);
    }
  }
  for (int sig : kTerminationSignals) {
    if (sig == dump_signal) continue;
    struct sigaction current;
    real_sigaction()(sig, nullptr, &current);
    if (is_default(current)) install(sig, termination_handler, Role::kTermination);
  }
}

PROFAGENT_FORK_PATH bool agent_owns_signal(int sig, struct sigaction* shown) {
  if (sig <= 0 || sig >= kMaxSignal) return false;
  if (static_cast<Role>(g_role[sig].load()) == Role::kNone) return false;
  if (shown != nullptr) *shown = g_shown[sig];
  return true;
}

bool program_sets_signal(int sig, const struct sigaction& wanted) {
  Role role = static_cast<Role>(g_role[sig].load());
  bool wants_default = is_default(wanted);
  // SIG_DFL keeps the agent's handler, which behaves as the default would (a termination
  // signal still terminates, after the dump; the dump signal's default would kill the
  // process, which is what PROFAGENT_SIGNAL asked us to prevent).
  if (wants_default && role != Role::kNone) {
    g_shown[sig] = wanted;
    return false;  // the agent keeps the signal
  }
  program_takes_signal(sig);
  return true;
}

void program_takes_signal(int sig) {
  Role role = static_cast<Role>(g_role[sig].exchange(static_cast<int>(Role::kNone)));
  end_signal_retries_of(sig);  // a retry of the agent's would reach the program's handler
  // A termination it was to die of, still waiting for a dump thread: it dies of it now.
  if (role == Role::kTermination && termination_waiting() == sig)
    die_of_waiting_termination(sig, current_tid());
  switch (role) {
    case Role::kDump:
      log_signal_taken(sig, "installed its own handler for");
      break;
    case Role::kTermination:
      log_debug("the program handles signal {} itself; no dump on it", sig);
      break;
    case Role::kNone:
      break;
  }
}


int pending_termination_signal() noexcept { return g_pending_termination.load(); }

PROFAGENT_FORK_PATH void reset_signal_retries_after_fork() noexcept {
  store_if_changed(g_dump_retries, 0);
  store_if_changed(g_termination_retries, 0);
  clear_termination_waiting();
}

void die_of_signal(int sig) {
  raise_with_default_action(sig);  // default action: the whole process dies of `sig`
  _exit(128 + sig);                 // not reached
}

}  // namespace profagent
