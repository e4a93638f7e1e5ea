// The per-module unwind tables of the process: every loaded ELF object's executable range
// and its sorted FrameDesc rows (from .eh_frame), published as one immutable, mmap'ed set.
//
// unwind_tables_refresh() is NORMAL CONTEXT (dl_iterate_phdr, allocation): at agent start
// and on each dump-thread tick. The lookups are SIGNAL/HOOK CONTEXT: lock-free reads of the
// published set; a set or table once published is never unmapped (a replaced one is
// retired and kept), so a walk that loaded the old pointer keeps reading valid memory.
#pragma once

#include <cstddef>
#include <cstdint>

#include "agent/runtime/unwind/frame_desc.h"
#include "agent/runtime/unwind/table_check.h"

namespace profagent {

// page_first_row indexes 4 KiB pages of a module's code.
constexpr int kUnwindPageShift = 12;

struct UnwindModule {
  uintptr_t lo, hi;         // one executable segment [lo, hi)
  uintptr_t base;           // the object's lowest executable address: row PCs are offsets
                            // from it (shared by all its segments' entries)
  const FrameDesc* rows;    // nullptr when the object has no usable .eh_frame_hdr
  uint32_t row_count;
  // For each 4 KiB page from base: the index of the last row starting at or before the
  // page start (so a lookup binary-searches only that page's rows). nullptr with rows.
  const uint32_t* page_first_row;
  uint32_t page_count;      // entries in page_first_row: a lookup never reads past them
  TableCheck* check;        // a cached table's checksum, checked by the dump thread;
                            // nullptr once checked, or if built by this process
  // Identity, to reuse the table across refreshes. Address and headers alone are not enough:
  // another object (a rebuilt plugin) can be loaded where a dlclosed one was, so its
  // fingerprint (of its build id, or of its .eh_frame_hdr search table) must match too.
  uintptr_t load_bias;
  const void* phdr;
  uint64_t fingerprint;
};

struct UnwindModuleSet {
  uint32_t count;
  const uintptr_t* los;    // modules[i].lo, packed: the binary search touches few lines
  UnwindModule modules[];  // sorted by lo, non-overlapping
};

// Re-reads the loaded objects (cheap when none was loaded or unloaded since the last call).
void unwind_tables_refresh() noexcept;

// Publishes a new set of `count` modules sorted by lo (copied), into `storage` when it has
// room (the deferred mapping's, used once: deferred_tables.h), else into memory mapped for
// it; false when that cannot be mapped. For the refresh and the deferred mapping only.
// Async-signal-safe (mmap, atomics, a futex wake-up).
bool publish_unwind_modules(const UnwindModule* sorted, size_t count, void* storage = nullptr,
                            size_t storage_bytes = 0) noexcept;
// The bytes a set of `count` modules takes.
constexpr size_t unwind_module_set_bytes(size_t count) noexcept {
  return ((sizeof(UnwindModuleSet) + count * sizeof(UnwindModule) + 63) & ~size_t{63}) +
         count * sizeof(uintptr_t);
}

// At start: when every loaded object's table is in the unwind cache (unwind_cache.h: a
// refresh would then map files and build nothing; a build reads a library's whole
// .eh_frame, milliseconds), notes them for a deferred mapping (deferred_tables.h: the first
// walk maps them) and maps nothing. kCachedNotDeferred: all cached, but too many objects or
// too long a path for the deferred table (the caller refreshes now). A file that then fails
// to load is built after all. Normal context.
enum class DeferredTables { kNotAllCached, kDeferred, kCachedNotDeferred };
DeferredTables unwind_tables_defer_cached() noexcept;

// How many FDEs the loaded objects whose table is not in the unwind cache list in all (what
// a refresh now would build: ~1 ms per few thousand), counted up to just past `limit`, or
// UINT64_MAX when a built table could not be kept or found again (the cache off, unusable,
// not writable or under a file size limit; an object without a build id; out of memory).
// Normal context.
uint64_t unwind_tables_entries_to_build(uint64_t limit) noexcept;

// unwind_tables_refresh(), unless a refresh runs now on another thread (the dump thread
// building the start's tables): then false, at once. Normal context.
bool unwind_tables_refresh_if_idle() noexcept;

// In a forked child (only the forking thread survives): re-makes the refresh lock. Normal
// context.
void unwind_tables_after_fork_child() noexcept;

// The current set (never null after the first refresh; may be null before). Async-signal-safe.
const UnwindModuleSet* unwind_modules() noexcept;

// The module whose executable range holds `pc`, or nullptr. Async-signal-safe.
const UnwindModule* find_unwind_module(const UnwindModuleSet* set, uintptr_t pc) noexcept;

// The row covering `pc` in `m` (pc inside m's range), or nullptr when none does (below the
// first row, or no table). Async-signal-safe.
const FrameDesc* find_frame_desc(const UnwindModule& m, uintptr_t pc) noexcept;

// Set by a walk that waits for the first tables (wait_for_unwind_tables): the dump thread
// builds them at once instead of after its start grace. Async-signal-safe.
void want_unwind_tables() noexcept;
bool unwind_tables_wanted() noexcept;
// When the first set was published (monotonic ns; 0 before). Async-signal-safe.
int64_t first_unwind_tables_nanos() noexcept;

// Sleeps (a futex on the publication count, which every publication wakes) until a set of
// tables is published or the monotonic deadline passes; true if there is one. A waiting
// thread gives its CPU up, so the dump thread that builds them is not kept waiting behind it.
// Async-signal-safe.
bool wait_for_first_unwind_tables(int64_t deadline_nanos) noexcept;

// Called by the walk when a PC fell in no module: the next refresh does a full re-scan even
// if the loader's counters did not move. Async-signal-safe.
void note_unknown_pc() noexcept;
// True while such a PC waits for the next refresh. Async-signal-safe.
bool unknown_pc_noted() noexcept;
// Checks the checksum of every published cached table not checked yet (normal context: the
// dump thread, right after it starts and at each wake-up, so the program's start does not
// pay for it), then publishes the set anew: checked tables without their check (a lookup
// reads no check state), failed ones built anew and their cache files replaced.
void unwind_tables_check_pending() noexcept;

}  // namespace profagent
