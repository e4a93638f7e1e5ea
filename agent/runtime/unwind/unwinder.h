// Stack capture with the agent's own unwind tables (agent/runtime/unwind/: dwarf_cfi builds them,
// unwind_tables publishes them, stack_walk walks). SIGNAL/HOOK CONTEXT: every capture
// function is async-signal-safe (no allocation, no locks, no descriptors, errno preserved)
// and writes into caller-provided arrays; stack use under 1.3 KiB (see stack_walk.h). Before
// the first tables (2 ms after start, tens of ms on a loaded machine) unwind_from_signal reads
// each PC's rule from its object's .eh_frame (fde_lookup.h: slower, ~2.8 KiB of stack), so
// do unwind_from_hook and unwind_from_signal_without_tables; unwind_thread_from_registers
// returns nothing.
//
// Addresses come out as pprof location addresses (pprof-semantics.md §6.1): the interrupted
// PC of a signal sample exactly, every return address minus one.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profagent {

// Deepest stack any collector records (pprof-semantics.md: CPU 64; we use 64 for all kinds).
constexpr int kMaxFrames = 64;

// Records the main thread's stack bounds and the agent's own code. Call once at start. The
// first unwind tables are built by the first unwind_tables_refresh (the dump thread's, right
// after it starts: off the program's start). Normal context.
void unwinder_init() noexcept;

// Re-reads the loaded objects' unwind tables (cheap when nothing was loaded or unloaded).
// The dump thread calls it on every tick. Normal context (see unwind_tables.h).
void unwind_tables_refresh() noexcept;

// Waits until the first unwind tables are published, asking the dump thread to build them at
// once (want_unwind_tables, a wake-up); false after `timeout_nanos`. Sleeps on a futex the
// publication wakes, never on a lock: the CPU it gives up lets the dump thread in at once
// (polling with sched_yield on a machine whose CPUs the program kept busy left it queued for
// the scheduler's whole slice, 1-4 ms). Before the first tables a walk from another
// thread's registers (unwind_thread_from_registers) returns nothing. Normal or hook context.
bool wait_for_unwind_tables(int64_t timeout_nanos) noexcept;

// Whether walks have their tables now: the published set, or the cached tables the start
// deferred, mapped by this call (deferred_tables.h) when the caller's stack has `room` for a
// walk (else only the set already published). For code that looks the set up itself before
// it walks (thread_start_point.cc). Async-signal-safe.
bool unwind_tables_for_walk(size_t room) noexcept;

// In a forked child: the refresh lock is made anew (the walk itself needs nothing).
void unwinder_after_fork_child() noexcept;

// The calling thread is ending: its walks' cache goes back to the process
// (thread_cache_slots.h). A walk on it later goes without. Async-signal-safe.
void unwinder_thread_exiting() noexcept;

// Unwinds the thread interrupted by a signal, from the handler's ucontext. Returns the number
// of frames written (0 if nothing could be unwound).
int unwind_from_signal(void* ucontext, uintptr_t* pcs, int max_frames) noexcept;
// The same walk as before the first tables (every rule read from the objects' .eh_frame),
// whether or not they exist: for tests that hold it to the table walk and to libunwind.
int unwind_from_signal_without_tables(void* ucontext, uintptr_t* pcs, int max_frames) noexcept;

// The same walk with the agent's own frames kept (a sample drops them): for a handler that
// must know whether the interrupted code was inside the agent (thread_start_point.h). Before
// the first tables, or with too little stack for the walk, returns 0.
int unwind_every_frame_from_signal(void* ucontext, uintptr_t* pcs, int max_frames) noexcept;
// And from the caller (its own frames and the agent's kept; a signal frame on the way is
// walked through, its glibc trampoline appearing as a frame; `first_ucontext`, if not null,
// gets the address of the first such frame's ucontext, 0 if none). Before the first tables,
// or with too little stack for the walk, returns 0.
int unwind_every_frame_from_here(uintptr_t* pcs, int max_frames,
                                 uintptr_t* first_ucontext = nullptr) noexcept;

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

// True if `pc` lies inside libc's code. Normal context: the first call finds libc's code
// (dl_iterate_phdr, under the fork gate).
bool is_libc_pc(uintptr_t pc) noexcept;

// True if the frame `lookup` (a return address - 1, as walks write them) is the kernel's
// return into glibc's signal trampoline (__restore_rt): a signal frame, under the handler's
// frames. Async-signal-safe.
bool is_signal_return_frame(uintptr_t lookup) noexcept;

// The first frame of what an agent signal handler interrupted, in a stack walked from a
// thread that waits inside that handler (the termination handler, waiting for the dump):
// the index right after the signal frame under the agent's frames; 0 when the stack does not
// start inside an agent handler.
int first_frame_below_agent_handler(const uintptr_t* pcs, int depth) noexcept;

}  // namespace profagent
