// The C library's sigaction and the default-action raise (real_sigaction.h).
// raise_with_default_action runs in signal handlers: async-signal-safe calls only.
#include "agent/core/real_sigaction.h"

#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <initializer_list>

#include "agent/core/code_layout.h"
#include "agent/core/raw_syscall.h"
#include "agent/core/next_symbol.h"

namespace profagent {

PROFAGENT_FORK_PATH SigactionFn real_sigaction() {
  static SigactionFn fn = reinterpret_cast<SigactionFn>(next_symbol("sigaction"));
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

PROFAGENT_START_PATH void fill_asynchronous_signals(sigset_t* set) noexcept {
  sigfillset(set);
  for (int fault : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS}) sigdelset(set, fault);
}

// (On a shell's fork child's path: in line, no call into libc, errno untouched: pthread_sigmask
// reports errors by value.)
PROFAGENT_FORK_PATH int raw_sigmask(int how, const sigset_t* set, sigset_t* old) noexcept {
  if (old != nullptr) __builtin_memset(old, 0, sizeof *old);
  // The kernel's sigset is 64 bits on Linux; glibc's sigset_t is larger, the head matches.
  uint64_t word = 0;
  if (set != nullptr) {
    memcpy(&word, set, sizeof word);
    // As glibc's pthread_sigmask does: never block its internal SIGCANCEL (32) and SIGSETXID
    // (33), whatever a hand-built set says (cancellation and setuid in threaded programs
    // would hang).
    if (how == SIG_BLOCK || how == SIG_SETMASK)
      word &= ~((uint64_t{1} << 31) | (uint64_t{1} << 32));
  }
  const long rc =
      raw_syscall(SYS_rt_sigprocmask, how, set != nullptr ? reinterpret_cast<long>(&word) : 0,
                  reinterpret_cast<long>(old), kKernelSigsetBytes);
  return rc < 0 ? static_cast<int>(-rc) : 0;
}

}  // namespace profagent
