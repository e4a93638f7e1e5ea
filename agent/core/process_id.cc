// The pid cached for the agent's start (process_id.h). SIGNAL-SAFE (a thread-local).
#include "agent/core/process_id.h"

namespace profagent {

constinit thread_local pid_t t_start_pid __attribute__((tls_model("initial-exec"))) = 0;

}  // namespace profagent
