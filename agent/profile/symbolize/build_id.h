// GNU build ids (NT_GNU_BUILD_ID notes) of mapped ELF files, read with libelf from the file,
// or from the process's memory when the file is gone (deleted library, memfd). Normal
// (dump-thread) context only.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace profagent::symbolize {

// Lowercase hex of `len` bytes.
std::string to_hex(const unsigned char* bytes, size_t len);

// Whether a build id may name a cache file (`<id>.sym`, `<id>.dwarf`): lowercase hex, 1 to
// kMaxBuildIdChars characters, so nothing else ever reaches a path. Pure function.
constexpr size_t kMaxBuildIdChars = 128;
bool is_build_id_name(const std::string& id);

// Build id of the ELF file at `path`; "" if unreadable, not ELF, or without the note.
std::string build_id_from_file(const std::string& path);

// Build id of the ELF object whose header (file offset 0) is mapped at `base` in process
// `pid` (0 = this process), read through /proc/<pid>/mem; "" on any failure.
std::string build_id_from_memory(pid_t pid, uint64_t base);

}  // namespace profagent::symbolize
