// The SIGPROF dispatcher shared by the CPU timers and thread snapshots. The dispatcher and
// send_snapshot_signal are SIGNAL CONTEXT: async-signal-safe, no allocation, errno saved and
// restored around the registered handlers. Installation is normal context.
#include "agent/sampling_signal.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "agent/log.h"
#include "agent/signals.h"

namespace profagent {
namespace {

std::atomic<SignalHandlerFn> g_cpu_handler{nullptr};
std::atomic<SignalHandlerFn> g_snapshot_handler{nullptr};
std::atomic<bool> g_owned{false};
std::mutex g_install_mutex;

void dispatch(int, siginfo_t* info, void* ucontext) {
  int saved_errno = errno;
  if (info != nullptr) {
    if (info->si_code == SI_TIMER) {
      if (SignalHandlerFn fn = g_cpu_handler.load(std::memory_order_acquire)) fn(info, ucontext);
    } else if (info->si_code == SI_QUEUE && info->si_pid == getpid()) {
      if (SignalHandlerFn fn = g_snapshot_handler.load(std::memory_order_acquire))
        fn(info, ucontext);
    }
    // Anything else (a stray kill -PROF) is swallowed: the default action would kill the
    // process, which the program never asked for while the agent owns SIGPROF.
  }
  errno = saved_errno;
}

}  // namespace

bool install_sampling_signal() {
  std::lock_guard<std::mutex> lock(g_install_mutex);
  if (g_owned.load()) return true;
  struct sigaction current;
  if (real_sigaction()(kSamplingSignal, nullptr, &current) != 0) return false;
  bool program_has_handler = (current.sa_flags & SA_SIGINFO) ? current.sa_sigaction != nullptr
                                                             : current.sa_handler != SIG_DFL;
  if (program_has_handler) {
    log().warn("the program has its own SIGPROF handler; CPU and threads profiles are off");
    return false;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = dispatch;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (real_sigaction()(kSamplingSignal, &sa, nullptr) != 0) return false;
  g_owned.store(true);
  return true;
}

bool sampling_signal_owned() noexcept { return g_owned.load(std::memory_order_acquire); }

constexpr int kMaxReleaseCallbacks = 4;
std::atomic<void (*)() noexcept> g_release_callbacks[kMaxReleaseCallbacks];

void release_sampling_signal() noexcept {
  if (!g_owned.exchange(false)) return;
  for (auto& cb : g_release_callbacks)
    if (auto fn = cb.load()) fn();
}

void on_sampling_signal_released(void (*callback)() noexcept) noexcept {
  for (auto& cb : g_release_callbacks) {
    void (*expected)() noexcept = nullptr;
    if (cb.load() == callback) return;
    if (cb.compare_exchange_strong(expected, callback)) return;
  }
}

void set_cpu_sample_handler(SignalHandlerFn fn) noexcept {
  g_cpu_handler.store(fn, std::memory_order_release);
}

void set_thread_snapshot_handler(SignalHandlerFn fn) noexcept {
  g_snapshot_handler.store(fn, std::memory_order_release);
}

int send_snapshot_signal(pid_t tid, int cookie) noexcept {
  if (!sampling_signal_owned()) return EPERM;
  siginfo_t info;
  memset(&info, 0, sizeof info);
  info.si_signo = kSamplingSignal;
  info.si_code = SI_QUEUE;
  info.si_pid = getpid();
  info.si_uid = getuid();
  info.si_value.sival_int = cookie;
  if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, kSamplingSignal, &info) != 0) return errno;
  return 0;
}

}  // namespace profagent
