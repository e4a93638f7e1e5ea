// The deferred mapping of the cached unwind tables. A process whose every loaded object has
// its table in the unwind cache (unwind_cache.h), and whose only thread is the program's,
// maps none of them at start: the start notes what a refresh would map (each object's
// executable segments, its identity and its cache file's path; unwind_tables.h) and the first
// walk that needs them, or the program's first pthread_create, maps and publishes them then.
// A process that never walks (a shell's `true`, `basename`, `test`) maps none: ~60 us and
// five mappings less at every start on the VM of 2026-12-06, paid by every command of a
// shell loop.
//
// defer_unwind_tables runs in NORMAL CONTEXT at start; the rest is SIGNAL/HOOK-SAFE: a fixed
// table in .bss, atomics, and system calls (open, fstat, pread, mmap, close) through
// load_unwind_table_at. The mapping holds a descriptor for a moment only while the process
// has no other thread (a second thread could take or close that number meanwhile: the
// agent's descriptors never take a number the program may count on), never in a vfork child
// (whose memory is its parent's); otherwise walks go on without tables, as before the first
// tables of any process, and the dump thread maps them in its refresh.
#pragma once

#include <cstddef>
#include <cstdint>

namespace profagent {

constexpr int kMaxDeferredObjects = 32;
constexpr int kMaxDeferredSegments = 4;  // executable segments of one object
constexpr size_t kMaxDeferredPath = 320;

// What the refresh would publish for one object, and where its table is.
struct DeferredObject {
  uintptr_t base;  // its lowest executable address (rows are offsets from it)
  uintptr_t span;  // up to its highest executable address
  size_t pages;  // page index entries of its table
  uintptr_t load_bias;
  const void* phdr;
  uint64_t fingerprint;
  int segment_count;
  uintptr_t segment_lo[kMaxDeferredSegments];
  uintptr_t segment_hi[kMaxDeferredSegments];
  char path[kMaxDeferredPath];  // its cache file
};

// The table the start fills in place (kMaxDeferredObjects entries: no list allocated, nothing
// copied), or nullptr once tables were deferred (and not cancelled since). Normal context,
// at start.
DeferredObject* deferred_objects_to_fill() noexcept;
// At start, once the first `count` entries of that table are filled in with the objects whose
// tables the cache holds: they wait for the first walk. False (nothing deferred) when there
// are more than fit. Normal context.
bool defer_unwind_tables(int count) noexcept;

// Whether tables wait to be mapped. Async-signal-safe.
bool unwind_tables_deferred() noexcept;

// Whether the start deferred the tables and no set of them is published: they wait, are being
// mapped, or their mapping failed (a file gone or damaged since the start looked; the walks
// then read their rules from .eh_frame and the dump thread's refresh builds the tables).
// Async-signal-safe.
bool deferred_unwind_tables_unpublished() noexcept;

// Maps the waiting tables and publishes them, if they wait and this process may hold a
// descriptor for a moment (no other thread, not a vfork child); only one call maps, a call
// made meanwhile (a signal handler over a hook's mapping) goes without. True if a set is
// published now. A table that fails to load leaves the set unpublished for good: walks go
// on without tables (rules read from .eh_frame), the exit of a handler counts as one from an
// unknown point, and the dump thread, once something starts it (a thread the program makes,
// a dump signal), builds what is missing. Async-signal-safe.
bool map_deferred_unwind_tables() noexcept;

// How long the deferred mapping took (ns of the monotonic clock; 0 when none was made): a
// one-off of the walk that made it (the self-accounting says so apart from the per-sample
// cost). Async-signal-safe.
int64_t deferred_tables_mapping_nanos() noexcept;

// A refresh publishes a set of its own: nothing deferred is mapped after it.
void cancel_deferred_unwind_tables() noexcept;


}  // namespace profagent
