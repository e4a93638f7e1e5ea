// The pid recorded by the fork child handler (see fork_child.h). Async-signal-safe: an
// atomic and the getpid system call.
#include "agent/core/fork_child.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>

namespace profagent {
namespace {

std::atomic<pid_t> g_fork_child_pid{0};

pid_t kernel_pid() noexcept { return static_cast<pid_t>(syscall(SYS_getpid)); }

void record_fork_child() { g_fork_child_pid.store(kernel_pid()); }

}  // namespace

void start_fork_child_record() { pthread_atfork(nullptr, nullptr, record_fork_child); }

bool is_recorded_fork_child() noexcept {
  pid_t recorded = g_fork_child_pid.load();
  return recorded != 0 && recorded == kernel_pid();
}

}  // namespace profagent
