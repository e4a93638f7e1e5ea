// The decompressed DWARF copy: for an object whose debug sections are compressed (glibc's
// separate debug info, anything linked with --compress-debug-sections), opening its DWARF
// with libdw inflates every debug section (~37 ms for libc), whatever address is wanted. The
// first process that pays this writes the sections a lookup reads (.debug_info, _abbrev,
// _aranges, _line, _line_str, _str, _str_offsets, _addr, _ranges, _rnglists, _types),
// uncompressed, as a small ELF image `<dir>/<build id>.dwarf` next to the symbol cache; a
// later process maps that file (page cache, shared) and libdw reads only the compile unit it
// needs. Same rules as the cache's other files: per user (0600, owned by us, no symlink),
// written to a temporary name and renamed, checksummed with the build id in a trailer (a
// corrupt, truncated or foreign file is ignored and rewritten), at most kMaxCopyBytes (a
// quarter of the directory bound), every failure silent. A copy checked whole gets a mark,
// `<dir>/<build id>.dwarf.ok` (the file's device, inode, size, modification and status-change
// times and checksum): a later open that finds the mark matching skips reading the whole copy. Part
// of libprofagent-symbolize.so.
// Normal (dump-thread) context only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "agent/profile/symbolize/backend/mapped_elf.h"

namespace profagent::symbolize {

constexpr uint64_t kMaxCopyBytes = 16ull << 20;

// Whether `file` has DWARF in compressed sections (worth a copy), and nothing the copy could
// not carry (a .gnu_debugaltlink / .debug_sup supplementary file).
bool dwarf_copy_worthwhile(const MappedElf& file);

// The checked copy for `build_id` in `dir`, or nullptr (missing, not ours, corrupt,
// truncated, or another build id's). `checked_whole` (if not null): whether the whole copy
// was read for its checksum (no matching mark).
std::unique_ptr<MappedElf> load_dwarf_copy(const std::string& dir, const std::string& build_id,
                                           bool* checked_whole = nullptr);

// Writes the copy of `source`'s debug sections (decompressing any still compressed; libdw
// has already done so for a file it opened). False (and nothing left on disk) on any failure
// or when the copy would exceed kMaxCopyBytes.
bool write_dwarf_copy(const std::string& dir, const std::string& build_id,
                      const MappedElf& source);

// The file name of the copy (for tests and eviction).
std::string dwarf_copy_path(const std::string& dir, const std::string& build_id);

}  // namespace profagent::symbolize
