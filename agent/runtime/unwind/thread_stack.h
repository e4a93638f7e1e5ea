// Each thread's own stack bounds, recorded in initial-exec TLS when the thread starts (normal
// context: note_current_thread_stack) and read by the walk (SIGNAL/HOOK CONTEXT:
// current_thread_stack, a plain TLS load) to check every stack read before it is made.
#pragma once

#include <cstdint>

namespace profagent {

// Records the calling thread's stack [lo, hi) (pthread_getattr_np; for the main thread glibc
// derives it from [stack] in /proc/self/maps and RLIMIT_STACK). Normal context.
void note_current_thread_stack() noexcept;

// The calling thread's recorded stack, false if it never recorded one (a thread started
// without our pthread_create hook, e.g. by a raw clone). Async-signal-safe.
bool current_thread_stack(uintptr_t* lo, uintptr_t* hi) noexcept;

}  // namespace profagent
