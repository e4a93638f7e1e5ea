// This process's pid, and pid-tagged state. SIGNAL-SAFE (the getpid system call, in line: in a
// vfork child glibc's cached pid would be the parent's; during the agent's start, read once).
//
// State the agent keeps per process (the running dump thread, a deferred one, a waiting
// termination signal, the retry timer, the fork-child record) stores the pid it belongs to
// rather than a flag: a fork child inherits the parent's memory, and a vfork child shares it,
// so only a pid that names this very process counts.
#pragma once

#include <sys/types.h>

#include "agent/core/raw_syscall.h"

namespace profagent {

// During the agent's start (its constructor, before the program's main: no vfork child can
// run there), the pid read once by StartPid; 0 everywhere else, where only the system call is
// sure (a vfork child shares its parent's memory, thread-locals included). A start asked for
// it ~7 times.
extern constinit thread_local pid_t t_start_pid __attribute__((tls_model("initial-exec")));

inline pid_t own_pid() noexcept {
  if (const pid_t pid = t_start_pid; pid != 0) return pid;
  return static_cast<pid_t>(raw_syscall(SYS_getpid));
}

// Scope of the agent's start on its thread: own_pid() answers without a system call.
class StartPid {
 public:
  StartPid() noexcept { t_start_pid = static_cast<pid_t>(raw_syscall(SYS_getpid)); }
  ~StartPid() { t_start_pid = 0; }
  StartPid(const StartPid&) = delete;
  StartPid& operator=(const StartPid&) = delete;
};

// True if `recorded` (0: nobody) names this process.
inline bool is_own_pid(pid_t recorded) noexcept { return recorded != 0 && recorded == own_pid(); }

}  // namespace profagent
