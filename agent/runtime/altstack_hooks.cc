// HOOK CONTEXT. Interposes sigaltstack to remember each thread's alternate signal stack
// (agent/runtime/signal_stack_room.h): with SS_AUTODISARM the kernel clears it while a
// handler runs on it, and an agent handler or hook arriving then must still know how little
// room is left there. The call itself is the system call, unchanged; errno is its own.
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent/runtime/signal_stack_room.h"

extern "C" __attribute__((visibility("default"))) int sigaltstack(const stack_t* ss,
                                                                 stack_t* old) noexcept {
  int rc = static_cast<int>(syscall(SYS_sigaltstack, ss, old));
  if (rc == 0 && ss != nullptr) {
    // What the kernel now has (not *ss: `old` may be the same object, already overwritten).
    int saved = errno;
    stack_t now;
    if (syscall(SYS_sigaltstack, nullptr, &now) == 0) profagent::note_current_altstack(now);
    errno = saved;
  }
  return rc;
}
