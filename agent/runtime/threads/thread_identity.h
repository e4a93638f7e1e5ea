// The calling thread's tid and name, cached in initial-exec TLS for the signal handlers and
// hooks (current_tid, current_thread_name in thread_registry.h read them).
// SIGNAL/HOOK CONTEXT for the readers; remember_current_tid runs in normal context.
#pragma once

namespace profagent {

// Caches the calling thread's tid (thread start, agent init on the main thread). The first
// call also registers a fork handler that re-caches it in the child. Threads never seen
// here (raw clone) get a gettid system call per request; a vfork child reads its parent's.
void remember_current_tid() noexcept;
// Some thread was renamed (pthread_setname_np, prctl(PR_SET_NAME)): every thread's cached
// name is re-read at its next use. Async-signal-safe.
void note_thread_renamed() noexcept;

}  // namespace profagent
