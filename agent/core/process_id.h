// This process's pid, and pid-tagged state. SIGNAL-SAFE (the getpid system call, in line: in a
// vfork child glibc's cached pid would be the parent's).
//
// State the agent keeps per process (the running dump thread, a deferred one, a waiting
// termination signal, the retry timer, the fork-child record) stores the pid it belongs to
// rather than a flag: a fork child inherits the parent's memory, and a vfork child shares it,
// so only a pid that names this very process counts.
#pragma once

#include <sys/types.h>

#include "agent/core/raw_syscall.h"

namespace profagent {

inline pid_t own_pid() noexcept { return static_cast<pid_t>(raw_syscall(SYS_getpid)); }

// True if `recorded` (0: nobody) names this process.
inline bool is_own_pid(pid_t recorded) noexcept { return recorded != 0 && recorded == own_pid(); }

}  // namespace profagent
