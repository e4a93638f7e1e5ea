// The C library's sigaction and the default-action raise (real_sigaction.h).
// raise_with_default_action runs in signal handlers: async-signal-safe calls only.
#include "agent/real_sigaction.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

namespace profagent {

SigactionFn real_sigaction() {
  static SigactionFn fn = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
  return fn != nullptr ? fn : &::sigaction;
}

void raise_with_default_action(int sig) noexcept {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  real_sigaction()(sig, &dfl, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
}

}  // namespace profagent
