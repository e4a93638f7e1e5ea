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

void resume_collectors(size_t count) {
  const std::vector<Collector*>& collectors = running_collectors();
  for (size_t i = 0; i < count && i < collectors.size(); ++i) collectors[i]->resume_thread();
}

}  // namespace

bool agent_threads_step_aside() {
  if (!agent_running()) return true;  // not started, declined (valgrind) or stopped: none
  // The HTTP server and the pusher keep their threads (README, Limits).
  if (!config().http.empty() || !config().push_url.empty()) return false;
  const std::vector<Collector*>& collectors = running_collectors();
  size_t paused = 0;
  for (; paused < collectors.size(); ++paused) {
    if (!collectors[paused]->pause_thread()) {
      resume_collectors(paused);
      return false;
    }
  }
  if (!stop_dump_thread(kDumpThreadStopNanos)) {
    log_debug("the dump thread is busy; a namespace change goes ahead without it ending");
    resume_collectors(paused);
    return false;
  }
  return true;
}

void agent_threads_come_back() {
  if (!agent_running()) return;
  restart_dump_thread();
  resume_collectors(running_collectors().size());
}

bool program_thread_alone() {
  if (!program_may_have_other_threads()) return true;
  const pid_t self = current_tid();
  for (pid_t tid : list_threads())
    if (tid != self && !is_agent_thread(tid)) return false;
  return true;
}

}  // namespace profagent
