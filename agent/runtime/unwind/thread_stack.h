// Each thread's own stack bounds, recorded in initial-exec TLS when the thread starts (normal
// context: note_current_thread_stack) and read by the walk (SIGNAL/HOOK CONTEXT:
// current_thread_stack, a plain TLS load) to check every stack read before it is made.
#pragma once

#include <cstdint>

namespace profagent {

// Records the calling thread's stack [lo, hi): pthread_getattr_np, except for the main thread,
// whose top is the end of the page holding __libc_stack_end and whose extent is RLIMIT_STACK
// (glibc's own answer, without the /proc/self/maps read it makes for it). Normal context.
void note_current_thread_stack() noexcept;

// The calling thread's recorded stack, false if it never recorded one (a thread started
// without our pthread_create hook, e.g. by a raw clone). Async-signal-safe.
bool current_thread_stack(uintptr_t* lo, uintptr_t* hi) noexcept;

}  // namespace profagent
