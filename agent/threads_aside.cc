// Ends and restarts the agent's threads around a namespace change that wants the program to
// be the process's only thread (see threads_aside.h). Normal context, on the program's
// thread (called from the unshare/setns hooks, inside an AgentScope).
#include "agent/threads_aside.h"

#include "agent/agent.h"
#include "agent/core/config.h"
#include "agent/core/log.h"
#include "agent/dump_thread.h"
#include "agent/runtime/threads/thread_registry.h"

namespace profagent {
namespace {

// How long the dump thread may take to finish the work it is doing (a dump) before the
// change goes ahead without it ending (and fails as it would have).
constexpr int64_t kDumpThreadStopNanos = 1000 * 1000000LL;

void resume_collectors() {
  for (Collector* c : running_collectors()) c->resume_thread();
}

bool pause_collectors() {
  for (Collector* c : running_collectors())
    if (!c->pause_thread()) return false;
  return true;
}

// Whether the calling thread is the program's only thread (agent threads aside). Reads
// /proc/self/task unless the program never made a thread.
bool program_thread_alone() {
  if (!program_may_have_other_threads()) return true;
  // (Allocation-free: it runs in the unshare/setns hooks, which must not throw.)
  return !other_program_thread(current_tid(), /*live_only=*/false);
}

}  // namespace

bool agent_threads_step_aside() {
  // No agent threads (not started, declined under valgrind, stopped), or none of this
  // process: a vfork child shares the parent's memory and must touch none of its state.
  if (!agent_running() || !dump_thread_running()) return false;
  // The HTTP server and the pusher keep their threads (README, Limits).
  if (!config().http.empty() || !config().push_url.empty()) return false;
  if (!program_thread_alone()) return false;  // the change fails as it would anyway
  // Collectors' threads first (a wall thread waiting for the first unwind tables gets them
  // from the dump thread), then the dump thread, then the collectors again: a tick of the
  // dump thread in between may have started one (a fork child's first wall thread).
  // On failure every collector is resumed (a no-op for one whose thread runs).
  if (!pause_collectors()) {
    resume_collectors();
    return false;
  }
  if (!stop_dump_thread(kDumpThreadStopNanos)) {
    log_debug("the dump thread is busy; a namespace change goes ahead without it ending");
    resume_collectors();
    return false;
  }
  if (!pause_collectors()) {
    agent_threads_come_back();
    return false;
  }
  return true;
}

void agent_threads_come_back() {
  // Collectors first: the restarted dump thread's tick must find their threads back (in a
  // fork child it starts a wall thread that is missing).
  resume_collectors();
  restart_dump_thread();
}

}  // namespace profagent
