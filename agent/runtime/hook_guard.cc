// Storage of the per-thread reentrancy flag (see hook_guard.h). HOOK/SIGNAL CONTEXT data.
#include "agent/runtime/hook_guard.h"

namespace profagent {

constinit thread_local int t_in_agent __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace profagent
