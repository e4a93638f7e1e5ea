// Stack capture with libunwind. SIGNAL/HOOK CONTEXT: both capture functions are
// async-signal-safe (no allocation, no locks the host can hold; libunwind uses its
// per-thread cache and its own mmap'ed memory), and write into caller-provided arrays.
//
// Addresses come out as pprof location addresses (pprof-semantics.md §6.1): the interrupted
// PC of a signal sample exactly, every return address minus one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profagent {

// Deepest stack any collector records (pprof-semantics.md: CPU 64; we use 64 for all kinds).
constexpr int kMaxFrames = 64;

// fork() safety. Debian's libunwind keeps its cache under a global pthread mutex: a fork while
// another thread is mid-unwind would leave that mutex locked forever in the child. The
// prepare step stops new unwinds (they return 0 frames: a lost sample) and waits (bounded)
// for those in flight; after_fork re-opens in the parent and the child. Normal context
// (pthread_atfork handlers); async-signal-safe.
void unwinder_prepare_fork() noexcept;
void unwinder_after_fork() noexcept;

// Prepares libunwind outside any handler (caching policy, first unwind to fill its caches and
// resolve lazy bindings). Call once at start and once in a forked child. Normal context.
void unwinder_init() noexcept;

// Unwinds the thread interrupted by a signal, from the handler's ucontext. Returns the number
// of frames written (0 if nothing could be unwound).
int unwind_from_signal(void* ucontext, uintptr_t* pcs, int max_frames) noexcept;

// Unwinds the calling thread from the caller of the hook, dropping every leading frame that
// belongs to libprofagent.so (hooks, trampolines). Returns the number of frames written.
int unwind_from_hook(uintptr_t* pcs, int max_frames) noexcept;

// Unwinds ANOTHER thread of this process from its registers (e.g. read from
// /proc/self/task/TID/syscall while it is blocked in a system call). Reads that thread's
// memory only through process_vm_readv on our own pid (an unmapped address is EFAULT, never
// a fault), in small batched reads. `bp` is 0 when unknown. The first frame is `pc` exactly,
// then every return address minus one. Returns the number of frames written. Async-signal-
// safe; no locks, no allocation, no descriptors.
int unwind_thread_from_registers(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t* pcs,
                                 int max_frames) noexcept;

// True if `pc` lies inside libprofagent.so's own code.
bool is_agent_pc(uintptr_t pc) noexcept;

// True if `pc` lies inside libunwind's code. A lock hook called from there (libunwind's own
// cache lock, taken for the program's C++ exceptions or another unwind) must pass straight
// through: recording would unwind again while libunwind holds that lock.
bool is_unwinder_pc(uintptr_t pc) noexcept;

}  // namespace profagent
