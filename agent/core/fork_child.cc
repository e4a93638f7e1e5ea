// The pid recorded by the fork child handler (see fork_child.h). Async-signal-safe: an
// atomic and the getpid system call.
#include "agent/core/fork_child.h"

#include <pthread.h>

#include <atomic>

#include "agent/core/process_id.h"
#include "agent/core/code_layout.h"

namespace profagent {
namespace {

std::atomic<pid_t> g_fork_child_pid{0};

PROFAGENT_FORK_PATH void record_fork_child() { g_fork_child_pid.store(own_pid()); }

}  // namespace

PROFAGENT_START_PATH
void start_fork_child_record() { pthread_atfork(nullptr, nullptr, record_fork_child); }

bool is_recorded_fork_child() noexcept { return is_own_pid(g_fork_child_pid.load()); }

}  // namespace profagent
