// The agent-started flag (running_flag.h). Constant-initialized: valid before the
// constructor and this library's dynamic initializers ran. HOOK/SIGNAL-SAFE.
#include "agent/core/running_flag.h"

#include <atomic>

namespace profagent {
namespace {

constinit std::atomic<bool> g_running{false};

}  // namespace

bool agent_running() noexcept { return g_running.load(std::memory_order_acquire); }

void set_agent_running() noexcept { g_running.store(true, std::memory_order_release); }

}  // namespace profagent
