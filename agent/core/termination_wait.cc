// SIGNAL-SAFE: the pid-tagged waiting termination signal of termination_wait.h (atomics and
// core/process_id.h).
#include "agent/core/termination_wait.h"

#include <atomic>

#include "agent/core/process_id.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

std::atomic<int> g_signal{0};
std::atomic<pid_t> g_pid{0};

}  // namespace

void note_termination_waiting(int sig) noexcept {
  g_pid.store(own_pid(), std::memory_order_relaxed);
  g_signal.store(sig, std::memory_order_release);
}

PROFAGENT_FORK_PATH void clear_termination_waiting() noexcept {
  // (Loaded first: a fork child whose parent had none waiting leaves the page shared.)
  if (g_signal.load(std::memory_order_relaxed) != 0) g_signal.store(0, std::memory_order_release);
}

PROFAGENT_FORK_PATH int termination_waiting() noexcept {
  int sig = g_signal.load(std::memory_order_acquire);
  return sig != 0 && is_own_pid(g_pid.load(std::memory_order_relaxed)) ? sig : 0;
}

}  // namespace profagent
