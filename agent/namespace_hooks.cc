// HOOK CONTEXT. Interposes unshare and setns: a change of user, mount or time namespace that
// the kernel allows only to a process's only thread (agent/runtime/namespace_change.h) gets
// the agent's threads out of the way for the moment of the call (agent/threads_aside.h), so
// `unshare -U`, `nsenter -m`, bubblewrap and rootless container tools work under the agent as
// without it. Every other call is the system call itself. The program's asynchronous signals
// wait (blocked) for the few hundred microseconds the agent's threads are away, so a
// termination signal meanwhile still finds a dump thread. A mount namespace change first maps
// the cached unwind tables the start deferred (the cache may not be there after it). errno
// is the call's.
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent/core/real_sigaction.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/namespace_change.h"
#include "agent/runtime/unwind/deferred_tables.h"
#include "agent/dump_thread.h"
#include "agent/threads_aside.h"

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

namespace {

// Runs `call` (a system call) with the agent's threads aside when the program is alone.
template <typename Call>
long with_agent_threads_aside(Call call) {
  const int saved_errno = errno;
  sigset_t asynchronous, old;
  profagent::fill_asynchronous_signals(&asynchronous);
  profagent::raw_sigmask(SIG_BLOCK, &asynchronous, &old);
  bool aside = false;
  {
    profagent::AgentScope scope;
    aside = profagent::agent_threads_step_aside();
  }
  errno = saved_errno;
  long rc = call();
  if (rc == -1 && errno == EINVAL && aside) {
    // The kernel drops an ended thread from the thread group a few instructions after the
    // moment the wait for it saw it gone: once, a moment later.
    timespec pause{0, 50 * 1000};
    nanosleep(&pause, nullptr);
    errno = saved_errno;
    rc = call();
  }
  const int call_errno = errno;
  if (aside) {
    profagent::AgentScope scope;
    profagent::agent_threads_come_back();
  }
  profagent::raw_sigmask(SIG_SETMASK, &old, nullptr);
  errno = call_errno;
  return rc;
}

}  // namespace

namespace {

// After a PID namespace change the kernel makes no thread for the caller's process (its
// children go to the new namespace, it stays): a deferred dump thread (agent/dump_thread.h)
// is started first, while it still can be (the program's own call: a normal point).
void start_deferred_dump_thread_before_pid_namespace_change() {
  if (!profagent::dump_thread_deferred()) return;
  const int saved_errno = errno;
  profagent::start_deferred_dump_thread();
  errno = saved_errno;
}

// A mount namespace change may take the cache's directory away: tables the start deferred
// are mapped before it (agent/runtime/unwind/deferred_tables.h).
void map_deferred_tables_before_mount_namespace_change(int flags) {
  if ((flags & CLONE_NEWNS) || flags == 0) profagent::map_deferred_unwind_tables();  // (0: any)
}

}  // namespace

PROFAGENT_HOOK int unshare(int flags) noexcept {
  map_deferred_tables_before_mount_namespace_change(flags);
  if (flags & CLONE_NEWPID) start_deferred_dump_thread_before_pid_namespace_change();
  if (!profagent::unshare_needs_one_thread(flags))
    return static_cast<int>(syscall(SYS_unshare, flags));
  return static_cast<int>(with_agent_threads_aside([&] { return syscall(SYS_unshare, flags); }));
}

PROFAGENT_HOOK int setns(int fd, int nstype) noexcept {
  map_deferred_tables_before_mount_namespace_change(nstype);
  if (nstype == 0 || (nstype & CLONE_NEWPID))  // (0: any type, a PID namespace's too)
    start_deferred_dump_thread_before_pid_namespace_change();
  if (!profagent::setns_needs_one_thread(fd, nstype))
    return static_cast<int>(syscall(SYS_setns, fd, nstype));
  return static_cast<int>(
      with_agent_threads_aside([&] { return syscall(SYS_setns, fd, nstype); }));
}
