// The agent-started flag (running_flag.h). Constant-initialized: valid before the
// constructor and this library's dynamic initializers ran. HOOK/SIGNAL-SAFE.
#include "agent/core/running_flag.h"
#include "agent/core/code_layout.h"

#include <atomic>

namespace profagent {
namespace {

enum State : int { kUndecided, kRunning, kDeclined };
constinit std::atomic<int> g_state{kUndecided};

}  // namespace

PROFAGENT_FORK_PATH
bool agent_running() noexcept { return g_state.load(std::memory_order_acquire) == kRunning; }

PROFAGENT_START_PATH
void set_agent_running() noexcept { g_state.store(kRunning, std::memory_order_release); }

void set_agent_declined() noexcept { g_state.store(kDeclined, std::memory_order_release); }

// (With the fork path: every fork child's handler asks; the start runs fork-path code too.)
PROFAGENT_FORK_PATH
bool agent_start_decided() noexcept {
  return g_state.load(std::memory_order_acquire) != kUndecided;
}

}  // namespace profagent
