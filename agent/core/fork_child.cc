// The pids recorded by the fork handlers (see fork_child.h). Async-signal-safe: atomics and
// the getpid system call.
#include "agent/core/fork_child.h"

#include <pthread.h>

#include <atomic>

#include "agent/core/large_bss.h"
#include "agent/core/process_id.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

std::atomic<pid_t> g_start_pid{0};  // the process the agent started in
// Written by every fork child (with the rest of what it writes, large_bss.h): its pid, and 0
// for "has forked" until it forks itself.
PROFAGENT_FORK_BSS constinit std::atomic<pid_t> g_fork_child_pid{0};
PROFAGENT_FORK_BSS constinit std::atomic<pid_t> g_fork_parent_pid{0};

// Written only when it changes (at the first fork): a store at every fork would copy its page
// in the parent (the child shares it until then), a page fault per fork of a shell. Checked
// against the pid at every fork (one getpid): a child that ran no handler of ours (glibc's
// _Fork, a raw clone) inherits the parent's value and corrects it here.
PROFAGENT_FORK_PATH void record_fork_parent() {
  pid_t pid = own_pid();
  if (g_fork_parent_pid.load(std::memory_order_relaxed) != pid) g_fork_parent_pid.store(pid);
}

}  // namespace

PROFAGENT_START_PATH
void start_fork_child_record() {
  g_start_pid.store(own_pid());
  pthread_atfork(nullptr, record_fork_parent, nullptr);
}

PROFAGENT_FORK_PATH void record_fork_child(pid_t pid) noexcept {
  g_fork_child_pid.store(pid);
  if (g_fork_parent_pid.load(std::memory_order_relaxed) != 0) g_fork_parent_pid.store(0);
}

bool is_recorded_fork_child() noexcept { return is_own_pid(g_fork_child_pid.load()); }

bool has_forked() noexcept { return is_own_pid(g_fork_parent_pid.load()); }

bool may_have_forked() noexcept { return g_fork_parent_pid.load(std::memory_order_relaxed) != 0; }

bool shares_its_parents_memory() noexcept {
  const pid_t start = g_start_pid.load();
  return start != 0 && !is_own_pid(start) && !is_recorded_fork_child();
}

}  // namespace profagent
