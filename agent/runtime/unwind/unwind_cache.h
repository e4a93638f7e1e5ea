// A persistent cache of built unwind tables, keyed by the object's GNU build id, so the
// hundredth process that loads libc maps libc's table instead of interpreting its .eh_frame
// again (every process of a shell script pays that build otherwise). Files live beside the
// symbol cache (PROFAGENT_SYMBOL_CACHE; "" = off), named <build-id>.unwind, written to a
// temporary name and renamed; a file that does not check out (size, header) is ignored and
// rebuilt (its page index is bounded at each lookup, not read at load); its checksum is
// checked by the dump thread soon after the table is mapped (table_check.h), and a table
// that fails it is withdrawn and rebuilt. A directory that cannot be written is skipped
// silently.
// NORMAL CONTEXT (called from the table refresh; load_unwind_table_at also from a walk); the
// tables it returns are never freed and are read by the walk in signal/hook context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/runtime/unwind/frame_desc.h"
#include "agent/runtime/unwind/table_check.h"

namespace profagent {

// The directory (made on the first store if missing); "" turns the cache off.
void set_unwind_cache_dir(const std::string& dir);

// Lowercase hex of the NT_GNU_BUILD_ID note among a loaded object's program headers, or "".
std::string loaded_build_id(uintptr_t load_bias, const void* phdrs, int phnum);

struct CachedTable {
  const FrameDesc* rows = nullptr;
  uint32_t row_count = 0;
  const uint32_t* page_first_row = nullptr;  // `pages` entries
  TableCheck* check = nullptr;  // its checksum, checked by the dump thread; nullptr: checked
};

// The cached table of `build_id` for an object whose executable span is `span` bytes with
// `pages` index entries; rows == nullptr when there is none that checks out.
CachedTable load_unwind_table(const std::string& build_id, uint64_t span, size_t pages);

// The same from the file at `path`, in a directory the caller found usable: no allocation,
// no lock, only system calls (open, fstat, pread, mmap, close), so a walk may map a table in
// a signal handler or a hook (deferred_tables.h). The descriptor lives only inside the call.
CachedTable load_unwind_table_at(const char* path, uint64_t span, size_t pages) noexcept;

// Stores a freshly built table (best effort).
void store_unwind_table(const std::string& build_id, uint64_t span, const FrameDesc* rows,
                        uint32_t row_count, const uint32_t* page_first_row, size_t pages);

// How many table files this process has written: the symbol cache, whose directory bound
// counts them, looks at the bound after a change (symbol_cache.h). Thread-safe.
uint64_t unwind_tables_stored() noexcept;

// The cache file of a build id ("" when the cache is off or there is no build id).
std::string unwind_cache_path(const std::string& build_id);

// Whether the cache is on, its directory exists, is ours, private and writable (by the
// effective uid), and no file size limit applies: a table built now would be stored. Normal
// context.
bool unwind_cache_writable();

// Whether a table for `build_id` is there to load (a file in a usable cache directory; its
// contents are checked when loaded).
bool unwind_table_cached(const std::string& build_id);

}  // namespace profagent
