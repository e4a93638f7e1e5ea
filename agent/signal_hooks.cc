// HOOK CONTEXT (sigaction may be called from a signal handler: no allocation, no locks on
// the common path). Interposes sigaction and every libc entry that installs a handler
// (signal, bsd_signal, sysv_signal, __sysv_signal, sigset) so that the program's own signal
// handling always wins: queries of a signal the agent owns show what the program set;
// installing a handler of its own for the dump signal or a termination signal makes the
// agent step aside for that signal. SIGPROF is shared: the program's disposition is
// recorded and the agent's dispatcher forwards every SIGPROF that is not the agent's own to
// it (its ITIMER_PROF or its own timers keep working, and so do the agent's profiles).
// A process whose dump thread is deferred starts it when the program installs a handler
// (not for SIGCHLD, nor in a process that forked: agent/dump_thread.h).
#include <dlfcn.h>
#include <signal.h>

#include <cerrno>
#include <cstring>

#include "agent/agent.h"
#include "agent/core/code_layout.h"
#include "agent/core/fork_child.h"
#include "agent/dump_thread.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/signals.h"

namespace {

// Says once (at info level: nothing is wrong) that SIGPROF is shared with the program. The
// message is logged from the dump thread's next tick, never from here (this may run in a
// signal handler).
void note_shared_sigprof() noexcept { profagent::note_program_uses_sigprof(); }

// A handler the program installs may end the process with exit() over a point where no
// thread can start (it interrupted malloc), and the exit dump then needs the dump thread: a
// process whose thread is deferred (agent/dump_thread.h) starts it now, if this call's own
// point allows (a call from another handler, or from a library's constructor, does not).
// Not for a SIGCHLD handler (it reaps children; a shell installs one before its first fork),
// nor in a process that forked: a second thread would make each of its later forks glibc's
// multi-threaded one (dump_thread.h).
void start_deferred_dump_thread_for(int sig, const struct sigaction& act) noexcept {
  if (act.sa_handler == SIG_DFL || act.sa_handler == SIG_IGN) return;  // (sa_sigaction's word)
  // (A shell installs its SIGINT handler around every command: after its first fork that
  // costs no system call here.)
  if (sig == SIGCHLD || profagent::in_agent() || profagent::may_have_forked()) return;
  if (!profagent::dump_thread_deferred()) return;
  int saved = errno;
  profagent::start_deferred_dump_thread_at(nullptr);
  errno = saved;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) PROFAGENT_FORK_PATH
int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  profagent::SigactionFn real = profagent::real_sigaction();
  if (act != nullptr) start_deferred_dump_thread_for(sig, *act);
  if (sig == SIGPROF && profagent::sampling_signal_owned() && !profagent::in_agent()) {
    struct sigaction previous;
    profagent::program_sigprof_action(&previous);
    if (act != nullptr) {
      if ((act->sa_flags & SA_SIGINFO) || act->sa_handler != SIG_DFL) note_shared_sigprof();
      profagent::set_program_sigprof_action(*act);
    }
    if (old != nullptr) *old = previous;
    return 0;
  }
  struct sigaction shown;
  if (!profagent::agent_running() || profagent::in_agent() ||
      !profagent::agent_owns_signal(sig, &shown))
    return real(sig, act, old);
  if (act == nullptr) {
    if (old != nullptr) *old = shown;
    return 0;
  }
  int rc = 0;
  if (profagent::program_sets_signal(sig, *act)) rc = real(sig, act, nullptr);
  if (rc == 0 && old != nullptr) *old = shown;
  return rc;
}

namespace {

// Installs `handler` through the sigaction interposer (so the sharing rules apply) with the
// given flags; sa_mask holds `sig` itself unless SA_NODEFER. Returns the previous handler.
sighandler_t install_with(int sig, sighandler_t handler, int flags) {
  if (handler == SIG_ERR || sig <= 0 || sig >= NSIG) {
    errno = EINVAL;
    return SIG_ERR;
  }
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = flags;
  sigemptyset(&sa.sa_mask);
  if (!(flags & SA_NODEFER)) sigaddset(&sa.sa_mask, sig);
  if (sigaction(sig, &sa, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}

const sighandler_t kSigHold = reinterpret_cast<sighandler_t>(2);  // SIG_HOLD

}  // namespace

// glibc's signal() and bsd_signal() have BSD semantics: SA_RESTART, handler stays installed,
// the signal blocked while its handler runs.
extern "C" __attribute__((visibility("default"))) sighandler_t signal(int sig,
                                                                      sighandler_t handler) {
  return install_with(sig, handler, SA_RESTART);
}

extern "C" __attribute__((visibility("default"))) sighandler_t bsd_signal(int sig,
                                                                          sighandler_t handler) {
  return install_with(sig, handler, SA_RESTART);
}

// System V semantics (what signal() becomes under -std=c11): one-shot, not blocked while the
// handler runs, no restart.
extern "C" __attribute__((visibility("default"))) sighandler_t sysv_signal(int sig,
                                                                           sighandler_t handler) {
  return install_with(sig, handler, SA_RESETHAND | SA_NODEFER);
}

extern "C" __attribute__((visibility("default"))) sighandler_t __sysv_signal(
    int sig, sighandler_t handler) {
  return install_with(sig, handler, SA_RESETHAND | SA_NODEFER);
}

// System V sigset(): SIG_HOLD adds the signal to the mask; any other disposition is
// installed (empty sa_mask, no flags) and the signal removed from the mask. Returns SIG_HOLD
// if the signal was blocked before, else the previous disposition.
extern "C" __attribute__((visibility("default"))) sighandler_t sigset(int sig,
                                                                      sighandler_t disposition) {
  if (disposition == SIG_ERR || sig <= 0 || sig >= NSIG) {
    errno = EINVAL;
    return SIG_ERR;
  }
  sigset_t set, old_mask;
  sigemptyset(&set);
  sigaddset(&set, sig);
  struct sigaction old;
  if (disposition == kSigHold) {
    if (sigprocmask(SIG_BLOCK, &set, &old_mask) != 0) return SIG_ERR;
    if (sigismember(&old_mask, sig) == 1) return kSigHold;
    if (sigaction(sig, nullptr, &old) != 0) return SIG_ERR;
    return old.sa_handler;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = disposition;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, &old) != 0) return SIG_ERR;
  if (sigprocmask(SIG_UNBLOCK, &set, &old_mask) != 0) return SIG_ERR;
  return sigismember(&old_mask, sig) == 1 ? kSigHold : old.sa_handler;
}
