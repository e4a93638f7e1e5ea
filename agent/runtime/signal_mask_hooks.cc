// HOOK CONTEXT (these may be called from signal handlers: no allocation, no locks). The
// interposers that keep the program-visible signal mask exact while the agent's SIGPROF stays
// deliverable (agent/runtime/signal_mask.h): pthread_sigmask, sigprocmask, the BSD/System V mask
// calls, and the calls that wait for a signal (sigwait, sigwaitinfo, sigtimedwait,
// signalfd), which really block SIGPROF on the thread when the program waits for it.
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "agent/runtime/hook_guard.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/signal_mask.h"
#include "agent/core/real_sigaction.h"
#include "agent/core/code_layout.h"
#include "agent/core/next_symbol.h"

namespace {

using profagent::kSamplingSignal;

template <typename Fn>
Fn next_function(const char* name) {
  return reinterpret_cast<Fn>(profagent::next_symbol(name));
}

// SIGPROF in a set (bit 26 of its first word, the kernel's view), tested and changed in line:
// libc's sigismember and sigdelset lie on a page a shell's fork child, which sets its mask
// before the exec, would not touch otherwise.
constexpr uint64_t kSamplingBit = uint64_t{1} << (kSamplingSignal - 1);

PROFAGENT_FORK_PATH bool has_sampling_signal(const sigset_t* set) noexcept {
  uint64_t word;
  memcpy(&word, set, sizeof word);
  return (word & kSamplingBit) != 0;
}

PROFAGENT_FORK_PATH void set_sampling_signal(sigset_t* set, bool on) noexcept {
  uint64_t word;
  memcpy(&word, set, sizeof word);
  word = on ? word | kSamplingBit : word & ~kSamplingBit;
  memcpy(set, &word, sizeof word);
}

// The real mask change, as pthread_sigmask (returns an errno value).
PROFAGENT_FORK_PATH int real_mask(int how, const sigset_t* set, sigset_t* old) {
  return profagent::raw_sigmask(how, set, old);
}

PROFAGENT_FORK_PATH bool passes_through() noexcept {
  return !profagent::mask_virtualized() || profagent::in_agent();
}

// pthread_sigmask semantics (errno value returned) with SIGPROF virtualized.
PROFAGENT_FORK_PATH int virtual_mask(int how, const sigset_t* set, sigset_t* old) {
  if (passes_through()) return real_mask(how, set, old);
  bool has_sigprof = set != nullptr && has_sampling_signal(set);
  bool held = profagent::sigprof_held();
  // Whether SIGPROF is stripped depends only on the hold, not on the view.
  profagent::MaskChange strip = profagent::plan_mask_change(how, has_sigprof, false, held);
  sigset_t copy, real_old;
  if (set != nullptr) {
    memcpy(&copy, set, sizeof copy);
    if (strip.strip_sigprof) set_sampling_signal(&copy, false);
  }
  int rc = real_mask(how, set != nullptr ? &copy : nullptr, &real_old);
  if (rc != 0) return rc;
  unsigned long long old_word = profagent::kernel_mask_word(&real_old);
  bool view_before = profagent::sigprof_view_blocked(old_word);
  if (set != nullptr) {
    profagent::MaskChange change =
        profagent::plan_mask_change(how, has_sigprof, view_before, profagent::sigprof_held());
    profagent::set_sigprof_flags(
        change.view_after, change.held_after,
        profagent::mask_after(how, old_word, profagent::kernel_mask_word(&copy)));
  }
  if (old != nullptr) {
    memcpy(old, &real_old, sizeof real_old);
    if (view_before) set_sampling_signal(old, true);
  }
  return 0;
}

// The agent's own SIGPROFs are filtered out of what a sigwait-family call returns to the
// program (a pending timer signal of the agent on a thread that blocks SIGPROF for real).
bool is_agents(int sig, const siginfo_t& info) {
  return sig == kSamplingSignal && profagent::is_agent_signal(&info);
}

}  // namespace

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // sigblock & co. are legacy

extern "C" {

__attribute__((visibility("default"))) PROFAGENT_FORK_PATH
int pthread_sigmask(int how, const sigset_t* set, sigset_t* old) {
  return virtual_mask(how, set, old);
}

__attribute__((visibility("default"))) PROFAGENT_FORK_PATH
int sigprocmask(int how, const sigset_t* set, sigset_t* old) {
  int rc = virtual_mask(how, set, old);
  if (rc == 0) return 0;
  errno = rc;
  return -1;
}

// BSD: the first 32 signals as a bit mask.
__attribute__((visibility("default"))) int sigblock(int mask) {
  sigset_t set, old;
  sigemptyset(&set);
  for (int sig = 1; sig < 32; ++sig)
    if (mask & (1 << (sig - 1))) sigaddset(&set, sig);
  if (virtual_mask(SIG_BLOCK, &set, &old) != 0) return -1;
  int result = 0;
  for (int sig = 1; sig < 32; ++sig)
    if (sigismember(&old, sig) == 1) result |= 1 << (sig - 1);
  return result;
}

__attribute__((visibility("default"))) int sigsetmask(int mask) {
  sigset_t set, old;
  sigemptyset(&set);
  for (int sig = 1; sig < 32; ++sig)
    if (mask & (1 << (sig - 1))) sigaddset(&set, sig);
  if (virtual_mask(SIG_SETMASK, &set, &old) != 0) return -1;
  int result = 0;
  for (int sig = 1; sig < 32; ++sig)
    if (sigismember(&old, sig) == 1) result |= 1 << (sig - 1);
  return result;
}

__attribute__((visibility("default"))) int siggetmask(void) { return sigblock(0); }

// System V.
__attribute__((visibility("default"))) int sighold(int sig) {
  sigset_t set;
  sigemptyset(&set);
  if (sigaddset(&set, sig) != 0) return -1;
  return sigprocmask(SIG_BLOCK, &set, nullptr);
}

__attribute__((visibility("default"))) int sigrelse(int sig) {
  sigset_t set;
  sigemptyset(&set);
  if (sigaddset(&set, sig) != 0) return -1;
  return sigprocmask(SIG_UNBLOCK, &set, nullptr);
}

__attribute__((visibility("default"))) int sigwaitinfo(const sigset_t* set, siginfo_t* info) {
  static auto real = next_function<int (*)(const sigset_t*, siginfo_t*)>("sigwaitinfo");
  if (passes_through()) return real(set, info);
  profagent::hold_sigprof_for_wait(set);
  for (;;) {
    siginfo_t local;
    int sig = real(set, &local);
    profagent::stop_timer_while_held();  // (once nothing is pending: signal_mask.h)
    if (sig > 0 && is_agents(sig, local)) {
      // The agent's, not the program's; unless it swallowed a program SIGPROF the agent had
      // deferred on this thread (signal_mask.h), which is the program's to take now.
      if (!profagent::take_deferred_program_sigprof(&local)) continue;
    } else if (sig == profagent::kSamplingSignal) {
      profagent::forget_deferred_program_sigprof();  // the re-sent one itself
    }
    if (sig > 0 && info != nullptr) *info = local;
    return sig;
  }
}

__attribute__((visibility("default"))) int sigtimedwait(const sigset_t* set, siginfo_t* info,
                                                       const struct timespec* timeout) {
  static auto real = next_function<int (*)(const sigset_t*, siginfo_t*, const struct timespec*)>(
      "sigtimedwait");
  if (passes_through()) return real(set, info, timeout);
  profagent::hold_sigprof_for_wait(set);
  timespec deadline{};
  if (timeout != nullptr) {
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout->tv_sec;
    deadline.tv_nsec += timeout->tv_nsec;
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_nsec -= 1000000000;
      ++deadline.tv_sec;
    }
  }
  timespec remaining = timeout != nullptr ? *timeout : timespec{};
  for (;;) {
    siginfo_t local;
    int sig = real(set, &local, timeout != nullptr ? &remaining : nullptr);
    profagent::stop_timer_while_held();  // (once nothing is pending: signal_mask.h)
    if (sig == profagent::kSamplingSignal && !is_agents(sig, local))
      profagent::forget_deferred_program_sigprof();  // the re-sent one itself
    if (sig > 0 && is_agents(sig, local) && profagent::take_deferred_program_sigprof(&local)) {
      if (info != nullptr) *info = local;  // a program SIGPROF it swallowed (sigwaitinfo)
      return sig;
    }
    if (sig > 0 && is_agents(sig, local)) {
      if (timeout != nullptr) {  // what is left of the program's timeout
        timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t left = (deadline.tv_sec - now.tv_sec) * 1000000000LL +
                       (deadline.tv_nsec - now.tv_nsec);
        if (left < 0) left = 0;
        remaining.tv_sec = left / 1000000000;
        remaining.tv_nsec = left % 1000000000;
      }
      continue;
    }
    if (sig > 0 && info != nullptr) *info = local;
    return sig;
  }
}

__attribute__((visibility("default"))) int sigwait(const sigset_t* set, int* sig) {
  for (;;) {
    int got = sigwaitinfo(set, nullptr);
    if (got > 0) {
      *sig = got;
      return 0;
    }
    if (errno != EINTR) return errno;
  }
}

__attribute__((visibility("default"))) int signalfd(int fd, const sigset_t* mask, int flags) {
  static auto real = next_function<int (*)(int, const sigset_t*, int)>("signalfd");
  if (!passes_through()) profagent::hold_sigprof_for_wait(mask);
  return real(fd, mask, flags);
}

}  // extern "C"
