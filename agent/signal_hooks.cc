// HOOK CONTEXT (sigaction may be called from a signal handler: no allocation, no locks on
// the common path). Interposes sigaction, signal and setitimer so that the program's own
// signal handling always wins: queries of a signal the agent owns show what the program
// set; installing a handler of its own makes the agent step aside for that signal
// (SIGPROF: CPU and threads profiles stop, with one warning); an ITIMER_PROF of its own
// does the same.
#include <dlfcn.h>
#include <signal.h>
#include <sys/time.h>

#include <cstring>

#include "agent/agent.h"
#include "agent/hook_guard.h"
#include "agent/signals.h"

namespace {

using SetitimerFn = int (*)(int, const struct itimerval*, struct itimerval*);

SetitimerFn real_setitimer() {
  static SetitimerFn fn = reinterpret_cast<SetitimerFn>(dlsym(RTLD_NEXT, "setitimer"));
  return fn;
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int sigaction(int sig,
                                                                const struct sigaction* act,
                                                                struct sigaction* old) {
  profagent::SigactionFn real = profagent::real_sigaction();
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

extern "C" __attribute__((visibility("default"))) int setitimer(int which,
                                                                const struct itimerval* value,
                                                                struct itimerval* old) {
  SetitimerFn real = real_setitimer();
  if (which == ITIMER_PROF && value != nullptr && profagent::agent_running() &&
      !profagent::in_agent() &&
      (value->it_value.tv_sec != 0 || value->it_value.tv_usec != 0) &&
      profagent::agent_owns_signal(SIGPROF, nullptr))
    profagent::program_takes_signal(SIGPROF);
  return real(which, value, old);
}
