// Per-thread memory for the stack walk's PC cache (stack_walk.cc), in slots of a process-wide
// table mapped 256 slots at a time, when a walk first needs one of them. SIGNAL/HOOK-SAFE:
// system calls (mmap) and atomics only, no allocation, no lock; errno is kept.
//
// The cache used to live in initial-exec TLS (4.5 KiB of every thread's static TLS). There it
// sat between the agent's small thread-locals (the hook depth, the heap sampler's countdown,
// the cached tid), which a shell writes in every fork, on two pages: each fork cost the shell
// and its child a copy-on-write fault more, and every process one TLS page more at its start.
// A thread that never walks now owns no slot; one that walks takes the lowest free slot once,
// and gives it back when it ends (agent_thread_exiting). The chunks come to a fork child as
// zero pages (MADV_WIPEONFORK): its thread takes its slot, now empty, again at its next walk.
#pragma once

#include <cstddef>

namespace profagent {

constexpr int kThreadCacheSlots = 4096;

// The calling thread's slot of `bytes` (one size for the whole process, at most
// kThreadCacheSlotBytes), 64-byte aligned and zeroed when first claimed; nullptr when none can
// be had (all taken, out of address space, or given back at the thread's exit): the walk then
// goes without its cache. (A signal landing while its thread claims a slot may make that
// walk claim a second one, never given back: a slot, at most once per thread.)
void* thread_cache_slot(size_t bytes) noexcept;
// The PC cache's size (stack_walk.cc checks it fits): slots are packed 4.5 KiB apart.
constexpr size_t kThreadCacheSlotBytes = 4544;

// Gives the calling thread's slot back, for good (the thread is ending).
void release_thread_cache_slot() noexcept;

}  // namespace profagent
