// The pids recorded by the fork handlers (see fork_child.h). Async-signal-safe: atomics and
// the getpid system call.
#include "agent/core/fork_child.h"

#include <pthread.h>

#include <atomic>

#include "agent/core/process_id.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

std::atomic<pid_t> g_start_pid{0};  // the process the agent started in
std::atomic<pid_t> g_fork_child_pid{0};
std::atomic<pid_t> g_fork_parent_pid{0};

PROFAGENT_FORK_PATH void record_fork_child() { g_fork_child_pid.store(own_pid()); }

// Written at the first fork only: a store at every fork would copy its page in the parent
// (the child shares it until then), a page fault per fork of a shell.
PROFAGENT_FORK_PATH void record_fork_parent() {
  pid_t pid = own_pid();
  if (g_fork_parent_pid.load(std::memory_order_relaxed) != pid) g_fork_parent_pid.store(pid);
}

}  // namespace

PROFAGENT_START_PATH
void start_fork_child_record() {
  g_start_pid.store(own_pid());
  pthread_atfork(nullptr, record_fork_parent, record_fork_child);
}

bool is_recorded_fork_child() noexcept { return is_own_pid(g_fork_child_pid.load()); }

bool has_forked() noexcept { return is_own_pid(g_fork_parent_pid.load()); }

bool shares_its_parents_memory() noexcept {
  const pid_t start = g_start_pid.load();
  return start != 0 && !is_own_pid(start) && !is_recorded_fork_child();
}

}  // namespace profagent
