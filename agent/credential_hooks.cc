// HOOK CONTEXT. Interposes the calls after which a process may no longer open or make what
// its start user could: a change of its user (setuid, seteuid, setreuid, setresuid,
// setfsuid: the cache's files are its start user's, 0600 in a 0700 directory) or of its root
// (chroot). Before the real function runs:
// - cached unwind tables that wait for the first walk (agent/runtime/unwind/deferred_tables.h)
//   are mapped, while they still can be (system calls only: setuid may be called from a
//   signal handler);
// - the output directory is made if nothing made it yet (a root master whose dump thread
//   waits: its worker, become `nobody`, could not make it), only at a point where the agent
//   may run normal code (the thread-start rule, agent/runtime/thread_start_point.h: not in a
//   handler over malloc, not in a vfork child).
// errno is the call's. The real functions are looked up when the library loads (a vfork
// child may make these calls, and must not call dlsym).
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/core/code_layout.h"
#include "agent/core/fork_child.h"
#include "agent/core/running_flag.h"
#include "agent/runtime/hook_guard.h"
#include "agent/runtime/real_functions.h"
#include "agent/runtime/thread_start_point.h"
#include "agent/runtime/unwind/deferred_tables.h"

#define PROFAGENT_HOOK extern "C" __attribute__((visibility("default")))

namespace {

using OneIdFn = int (*)(uid_t);
using TwoIdsFn = int (*)(uid_t, uid_t);
using ThreeIdsFn = int (*)(uid_t, uid_t, uid_t);
using PathFn = int (*)(const char*);

struct Functions {
  OneIdFn setuid, seteuid, setfsuid;
  TwoIdsFn setreuid;
  ThreeIdsFn setresuid;
  PathFn chroot;
};
PROFAGENT_START_PATH void fill(Functions& f) {
  profagent::next_function("setuid", &f.setuid);
  profagent::next_function("seteuid", &f.seteuid);
  profagent::next_function("setfsuid", &f.setfsuid);
  profagent::next_function("setreuid", &f.setreuid);
  profagent::next_function("setresuid", &f.setresuid);
  profagent::next_function("chroot", &f.chroot);
}

constinit profagent::RealFunctions<Functions> g_real{fill};

__attribute__((constructor(102))) PROFAGENT_START_PATH void resolve_at_load() { g_real.resolve(); }

// What the process's start user must do before it becomes another (no-op when done).
void before_the_switch() {
  profagent::map_deferred_unwind_tables();  // (keeps errno; a no-op when nothing waits)
  if (!profagent::agent_running() || profagent::shares_its_parents_memory() ||
      profagent::in_agent())
    return;
  const int saved = errno;
  if (profagent::may_start_thread_here()) profagent::prepare_profile_directory();
  errno = saved;
}

}  // namespace

PROFAGENT_HOOK int setuid(uid_t uid) noexcept {
  before_the_switch();
  return g_real.get().setuid(uid);
}

PROFAGENT_HOOK int seteuid(uid_t euid) noexcept {
  before_the_switch();
  return g_real.get().seteuid(euid);
}

PROFAGENT_HOOK int setreuid(uid_t ruid, uid_t euid) noexcept {
  before_the_switch();
  return g_real.get().setreuid(ruid, euid);
}

PROFAGENT_HOOK int setresuid(uid_t ruid, uid_t euid, uid_t suid) noexcept {
  before_the_switch();
  return g_real.get().setresuid(ruid, euid, suid);
}

PROFAGENT_HOOK int setfsuid(uid_t fsuid) noexcept {
  before_the_switch();
  return g_real.get().setfsuid(fsuid);
}

PROFAGENT_HOOK int chroot(const char* path) noexcept {
  before_the_switch();
  return g_real.get().chroot(path);
}
