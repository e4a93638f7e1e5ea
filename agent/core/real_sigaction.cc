// The C library's sigaction and the default-action raise (real_sigaction.h).
// raise_with_default_action runs in signal handlers: async-signal-safe calls only.
#include "agent/core/real_sigaction.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

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
  raw_sigmask(SIG_UNBLOCK, &set, nullptr);
  raise(sig);
}

int raw_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  if (old != nullptr) sigemptyset(old);
  // The kernel's sigset is 64 bits on Linux; glibc's sigset_t is larger, the head matches.
  if (syscall(SYS_rt_sigprocmask, how, set, old, kKernelSigsetBytes) != 0) return errno;
  return 0;
}

}  // namespace profagent
