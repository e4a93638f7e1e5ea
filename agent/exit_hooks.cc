// HOOK CONTEXT. Interposes _exit and _Exit: a process forked without exec that ends with
// _exit (Python multiprocessing workers, prefork servers) writes its profiles first, as
// exit() would. Only in a real fork child, recognised by the pid the agent's fork handler
// recorded: a vfork child shares the parent's memory (that record is the parent's) and no
// fork handler ran in it, so it and posix_spawn's child never run agent code here, and the
// process the agent started in keeps _exit's meaning (no dump), except that a termination
// signal waiting for its deferred dump thread (signals.h, pid-tagged) ends it instead, in
// any process. Ends the process with the exit_group system call, exactly as glibc's _exit
// does.
//
// The dump itself runs on the dump thread, this thread waiting at most 5 s: _exit is
// async-signal-safe and children often call it from a signal handler (a server's
// quick-exit handler) that may have interrupted malloc or stdio on this very thread, where
// dumping inline would deadlock the child. A child whose dump thread is still deferred
// (dump_thread.h) dumps here when _exit runs in normal context, and starts the thread only
// where that is safe (agent.cc final_dump_with_thread_deferred).
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/runtime/hook_guard.h"
#include "agent/core/termination_wait.h"
#include "agent/runtime/threads/thread_registry.h"
#include "agent/core/fork_child.h"

namespace profagent {
namespace {

constexpr int64_t kExitDumpWaitNanos = 5 * 1000000000LL;

[[noreturn]] void exit_now(int status) {
  if (agent_running() && !in_agent()) {
    // A termination signal waiting for a deferred dump thread ends the process instead
    // (signals.h), fork child or not (pid-tagged: never a vfork parent's).
    if (int sig = termination_waiting()) die_of_waiting_termination(sig, current_tid());
    if (is_recorded_fork_child()) final_dump_maybe_in_handler(kExitDumpWaitNanos, current_tid());
  }
  for (;;) syscall(SYS_exit_group, status);
}

}  // namespace
}  // namespace profagent

extern "C" __attribute__((visibility("default"), noreturn)) void _exit(int status) {
  profagent::exit_now(status);
}

extern "C" __attribute__((visibility("default"), noreturn)) void _Exit(int status) {
  profagent::exit_now(status);
}
