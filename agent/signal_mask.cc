// The program-visible SIGPROF mask bookkeeping (see signal_mask.h). SIGNAL-SAFE and
// HOOK-SAFE: initial-exec TLS flags, raw system calls, no allocation, no locks.
#include "agent/signal_mask.h"

#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>

#include "agent/agent.h"
#include "agent/sampling_signal.h"
#include "agent/signals.h"

namespace profagent {
namespace {

thread_local bool t_view __attribute__((tls_model("initial-exec"))) = false;
thread_local bool t_held __attribute__((tls_model("initial-exec"))) = false;

void really_block_sigprof() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, kSamplingSignal);
  raw_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace

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

bool mask_virtualized() noexcept { return agent_running() && sampling_signal_owned(); }

bool sigprof_view_blocked() noexcept { return t_view; }
bool sigprof_held() noexcept { return t_held; }

void set_sigprof_flags(bool view, bool held) noexcept {
  t_view = view;
  t_held = held;
}

void hold_sigprof_for_wait(const sigset_t* set) noexcept {
  if (set == nullptr || !t_view || t_held || sigismember(set, kSamplingSignal) != 1) return;
  really_block_sigprof();
  t_held = true;
}

bool defer_program_sigprof_if_blocked(const siginfo_t* info, void* ucontext) noexcept {
  if (!t_view || ucontext == nullptr) return false;
  // Really blocked from the handler's return on (the kernel restores this saved mask).
  sigaddset(&static_cast<ucontext_t*>(ucontext)->uc_sigmask, kSamplingSignal);
  t_held = true;
  pid_t pid = getpid();
  bool to_thread = info != nullptr && info->si_code == SI_TKILL;
  if (to_thread) {
    syscall(SYS_tgkill, pid, static_cast<pid_t>(syscall(SYS_gettid)), kSamplingSignal);
    return true;
  }
  // Process-directed: re-queued with its original siginfo where the kernel allows it (our
  // main thread), else as a plain kill.
  if (info == nullptr ||
      syscall(SYS_rt_sigqueueinfo, pid, kSamplingSignal, const_cast<siginfo_t*>(info)) != 0)
    syscall(SYS_kill, pid, kSamplingSignal);
  return true;
}

MaskInheritance current_mask_inheritance() noexcept { return {t_view, t_held}; }

void adopt_mask_inheritance(MaskInheritance inherited) noexcept {
  t_view = inherited.view;
  t_held = inherited.held;
}

}  // namespace profagent
