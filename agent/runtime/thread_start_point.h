// SIGNAL/HOOK CONTEXT. Whether the agent may start a thread (pthread_create) on the program's
// thread at the point where that thread now is, in a process whose only thread it is: a fork
// child or a started process that has not needed its dump thread yet and now does
// (agent/dump_thread.h, "deferred"): a termination or dump signal, CPU samples to drain, a
// sampled allocation, a signal handler installed, an exit from inside a signal handler.
//
// pthread_create is not async-signal-safe: it allocates (the new thread's TLS vector) and
// takes glibc's stack-cache and TLS locks. With one thread in the process those locks are
// free and the heap is consistent unless this thread is inside the allocator, the loader,
// glibc's thread code or the agent. So the stack is walked (the agent's unwind tables, no
// system call) and the point is accepted only when, below the agent's own frames:
//   - no frame is the agent's, the dynamic loader's, an allocator entry point's (the malloc
//     family the heap hooks pass on to) or inside an allocator library (libjemalloc,
//     libtcmalloc); with an allocator linked into the executable, the interrupted leaf is
//     not in the executable (its allocator code cannot be told from the rest);
//   - glibc frames are only (a) a chain at the top: the function that called the hook, or, at
//     an interrupted point, a wrapper blocked in a system call (read, accept, sleep: its state
//     is on its own stack; the kernel said EINTR, or rewound to restart a blocking call) and
//     (b) the start routines at the bottom (__libc_start_main, start_thread; at most three),
//     perhaps under the executable's entry point itself (_start, told by its address);
//   - the walk reached those start routines, so no frame went unseen: a program's signal
//     handler puts glibc's __restore_rt between program frames, and is refused.
// Anything else (a leaf computing inside glibc, a callback from qsort, a walk cut short, no
// unwind tables, little stack left) is refused: the caller tries again later, or does
// without the thread.
#pragma once

#include <cstdint>

namespace profagent {

// Remembers where glibc's, the dynamic loader's and the main executable's code are (one
// address in each), and the program's own malloc if it brought one (dlsym of the first
// `malloc` in the global scope). Normal context, once at agent start; module ranges are
// looked up in the unwind tables.
void remember_libc_and_loader_code() noexcept;

// The program's own allocator is linked into its executable (found by
// remember_libc_and_loader_code; one in a library of its own, libjemalloc, is told apart):
// points there are refused, as its code cannot be told from the rest, so a process start
// does not defer its dump thread (agent.cc). Async-signal-safe.
bool program_allocator_in_executable() noexcept;

// The entry points of the allocator the heap hooks pass calls on to (up to 12; nullptr
// entries skipped). Normal context, once they are resolved.
void note_allocator_entry_points(const void* const* entries, int count) noexcept;

// The rule above at the point a signal interrupted (its handler's `ucontext`).
// Async-signal-safe; errno preserved.
enum class StartPoint {
  kAccepted,
  kRefused,              // try again later: the thread will have moved on
  kRefusedWhileBlocked   // blocked in a system call where the rule refuses: a retry would
                         // only interrupt that call again, with the same answer
};
StartPoint may_start_thread_at(const void* ucontext) noexcept;

// The rule above for the caller: a hook, at the program's call into it. Hook context.
bool may_start_thread_here() noexcept;

// Where an exit path (exit's atexit handler, the _exit hook) runs, for its final dump.
enum class ExitPoint {
  kNormal,             // a whole walk with no signal frame: dump here, as any exit does
  kHandlerOverSafe,    // in a signal handler that interrupted a point the rule accepts
  kHandlerOverUnsafe,  // in a handler over an unknown point (malloc, the loader, nested)
  kUnknown             // the walk did not reach the bottom and the stack could not be
                       // scanned (no known bounds): a handler may be hidden below
};
// Where the walk stops early (code without unwind information, over 1,024 frames), the live
// stack is scanned for signal frames (their __restore_rt return word): none, or only over
// program code, is kNormal; one over glibc, the loader, an allocator or the agent (a stale one
// too) is kHandlerOverUnsafe.
// With no unwind tables yet (a process in its first milliseconds) the answer is kNormal.
ExitPoint where_exit_runs() noexcept;

}  // namespace profagent
