// Threads collector (see threads_collector.h). Normal context.
#include "collectors/threads/threads_collector.h"

#include <unistd.h>

#include <algorithm>

#include "agent/runtime/hook_guard.h"
#include "agent/core/log.h"
#include "agent/runtime/sampling_signal.h"
#include "agent/runtime/threads/thread_registry.h"
#include "collectors/common/syscall_names.h"
#include "collectors/threads/thread_snapshot.h"
#include "agent/core/code_layout.h"

namespace profagent {

PROFAGENT_START_PATH
bool ThreadsCollector::start(const Config&) {
  // (The snapshotter's slots are mapped by its first capture: most processes of a shell
  // script end without one, and an mmap and a mapping fewer is ~10 us of each start.)
  set_thread_snapshot_handler(&ThreadSnapshotter::handler);
  if (!install_sampling_signal()) return false;
  running_ = true;
  return true;
}

void ThreadsCollector::stop() { running_ = false; }

PROFAGENT_FORK_PATH
void ThreadsCollector::on_fork_child() noexcept { g_thread_snapshotter.reset_after_fork(); }

namespace {

// At exit()/_exit(): whether every program thread listed, other than the exiting one, is
// gone (a thread just joined may still be listed for a moment: only live ones count).
bool only_the_exiting_thread_left(const std::vector<pid_t>& tids, pid_t exiting_tid) {
  return std::all_of(tids.begin(), tids.end(),
                     [&](pid_t tid) { return tid == exiting_tid || !thread_alive(tid); });
}

std::vector<pid_t> program_threads() {
  std::vector<pid_t> tids;
  for (pid_t tid : list_threads())
    if (!is_agent_thread(tid)) tids.push_back(tid);
  return tids;
}

}  // namespace

// The exit()/_exit() of a process whose program never made another thread (nor had one when
// the agent started) leaves the threads profile out without listing /proc/self/task (~40 us
// of every short process's exit). Threads glibc makes for itself (a SIGEV_THREAD timer's, AIO)
// and raw clone() threads are not seen: the profile is then left out too.
PROFAGENT_START_PATH
bool ThreadsCollector::nothing_to_write_at_exit(const DumpRequest& request) {
  return !running_ || (request.exiting_tid != 0 && gathered_nothing());
}

// (An exit on the process's only thread writes no threads profile.)
PROFAGENT_START_PATH bool ThreadsCollector::gathered_nothing() noexcept {
  return !running_ || !program_may_have_other_threads();
}

std::optional<ProfileBuilder> ThreadsCollector::snapshot(const DumpRequest& request) {
  if (!running_) return std::nullopt;
  AgentScope scope;
  std::vector<pid_t> tids = program_threads();
  // At exit, a process whose only thread is the one calling exit() would show just that
  // call: nothing to write (a thread left running, or a termination signal, is worth it).
  if (request.final && request.exiting_tid != 0 &&
      only_the_exiting_thread_left(tids, request.exiting_tid))
    return std::nullopt;
  std::vector<CapturedThread> threads = g_thread_snapshotter.capture(tids, kAnswerTimeoutNanos);

  ProfileBuilder builder(shape_of(kThreadsKind, 1));
  builder.set_time(request.now_unix_nanos);
  const int64_t one[1] = {1};
  int blocked = 0, signalled = 0, silent = 0, lost = 0;
  for (const CapturedThread& t : threads) {
    std::vector<Label> labels;
    labels.push_back(ProfileBuilder::num_label("tid", t.tid));
    std::string name = thread_name(t.tid);
    if (!name.empty()) labels.push_back(ProfileBuilder::str_label("thread_name", name));
    labels.push_back(ProfileBuilder::str_label("state", t.blocked ? "blocked" : "running"));
    if (t.blocked && t.syscall_nr >= 0)
      labels.push_back(ProfileBuilder::str_label("syscall", syscall_label(t.syscall_nr)));
    if (t.blocked) ++blocked;
    else ++signalled;
    if (t.answered) {
      std::vector<uint64_t> stack(t.stack.begin(), t.stack.end());
      builder.add_sample(stack, one, std::move(labels));
    } else if (t.lost) {
      ++lost;
      builder.add_synthetic_sample("[profagent: lost]", one, std::move(labels));
    } else {
      ++silent;
      builder.add_synthetic_sample("[profagent: thread did not answer]", one, std::move(labels));
    }
  }
  builder.add_comment("profagent threads: " + std::to_string(blocked) +
                      " blocked (stack walked without a signal), " + std::to_string(signalled) +
                      " running (asked by a CPU-clock timer), " + std::to_string(silent) +
                      " did not answer (running with SIGPROF blocked, or stopped), " +
                      std::to_string(lost) + " lost (its wait changed under every walk)");
  return builder;
}

}  // namespace profagent
