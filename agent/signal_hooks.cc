// HOOK CONTEXT (sigaction may be called from a signal handler: no allocation, no locks on
// the common path). Interposes sigaction and signal so that the program's own signal
// handling always wins: queries of a signal the agent owns show what the program set;
// installing a handler of its own for the dump signal or a termination signal makes the
// agent step aside for that signal. SIGPROF is shared: the program's disposition is
// recorded and the agent's dispatcher forwards every SIGPROF that is not the agent's own to
// it (its ITIMER_PROF or its own timers keep working, and so do the agent's profiles).
#include <dlfcn.h>
#include <signal.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/hook_guard.h"
#include "agent/sampling_signal.h"
#include "agent/signals.h"

namespace {

// Says once (at info level: nothing is wrong) that SIGPROF is shared with the program. The
// message is logged from the dump thread's next tick, never from here (this may run in a
// signal handler).
void note_shared_sigprof() noexcept { profagent::note_program_uses_sigprof(); }

}  // namespace

extern "C" __attribute__((visibility("default"))) int sigaction(int sig,
                                                                const struct sigaction* act,
                                                                struct sigaction* old) {
  profagent::SigactionFn real = profagent::real_sigaction();
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

extern "C" __attribute__((visibility("default"))) sighandler_t signal(int sig,
                                                                      sighandler_t handler) {
  // glibc's signal() has BSD semantics: SA_RESTART, handler stays installed.
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sig > 0 && sig < NSIG) sigaddset(&sa.sa_mask, sig);
  if (sigaction(sig, &sa, &old) != 0) return SIG_ERR;
  return old.sa_handler;
}
