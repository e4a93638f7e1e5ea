// SIGNAL-SAFE: the pid-tagged waiting termination signal of termination_wait.h (atomics and
// the getpid system call).
#include "agent/core/termination_wait.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace profagent {
namespace {

std::atomic<int> g_signal{0};
std::atomic<pid_t> g_pid{0};

pid_t own_pid() noexcept { return static_cast<pid_t>(syscall(SYS_getpid)); }

}  // namespace

void note_termination_waiting(int sig) noexcept {
  g_pid.store(own_pid(), std::memory_order_relaxed);
  g_signal.store(sig, std::memory_order_release);
}

void clear_termination_waiting() noexcept { g_signal.store(0, std::memory_order_release); }

int termination_waiting() noexcept {
  int sig = g_signal.load(std::memory_order_acquire);
  if (sig == 0 || g_pid.load(std::memory_order_relaxed) != own_pid()) return 0;
  return sig;
}

}  // namespace profagent
