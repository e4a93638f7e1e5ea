// The boundary between the agent and libprofagent-symbolize.so, the private shared object that
// holds everything built on elfutils (libelf, libdw). The agent dlopen()s it with RTLD_LOCAL at
// its first symbolization that the symbol cache cannot answer, so a process that never dumps,
// or whose addresses are all cached, never maps libdw or libelf, and nothing of them ever
// enters the host's global symbol scope. Normal (dump-thread) context only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "agent/profile/symbolize/symbolizer.h"

namespace profagent::symbolize {

// Work counters of the backend since the process started (reported in profile comments).
struct BackendStats {
  uint64_t objects_opened = 0;      // ELF files mapped (each through an O_CLOEXEC descriptor)
  uint64_t debug_files_opened = 0;  // separate debug files found on disk and mapped
  uint64_t dwarf_loaded = 0;        // objects whose DWARF was opened (either way below)
  uint64_t dwarf_decompressed = 0;  // ... by inflating its compressed debug sections
  uint64_t dwarf_copies_read = 0;   // ... from its decompressed copy (dwarf_copy.h)
  uint64_t dwarf_copies_checked = 0;  // copies read whole for their checksum (no mark yet)
  uint64_t dwarf_copies_written = 0;
  uint64_t lookups = 0;             // addresses resolved from ELF symbols and DWARF
  bool libdw_errors_redirected = false;  // libdw's out-of-memory exit leaves libdw instead
  bool libdw_out_of_memory = false;  // libdw ran out of memory: every call fails from then on
};

// 2: lookup reports the range of its answer; 3: open_object takes the DWARF copy directory;
// 4: BackendStats says whether libdw's out-of-memory exit is redirected, and when it ran out;
// 5: BackendStats counts the DWARF copies checked whole.
constexpr uint32_t kBackendAbiVersion = 5;

// Every entry point of the backend. Objects are opaque handles.
struct BackendApi {
  uint32_t abi_version;
  // Maps the ELF file at `path` (its descriptor is closed before this returns: the backend
  // holds no descriptor). `build_id` (lowercase hex, may be "") must match the file's when
  // both are known. nullptr if unreadable, not ELF, or another build. `dwarf_copy_dir`
  // (may be ""): a checked private directory where the decompressed copy of compressed
  // DWARF is read and written (the symbol cache's).
  void* (*open_object)(const char* path, const char* build_id, const char* dwarf_copy_dir);
  // An ELF image copied from process memory (the vDSO).
  void* (*open_image)(const void* bytes, size_t size);
  void (*close_object)(void* object);
  // ELF virtual address of a file offset (through the PT_LOAD segments).
  bool (*file_offset_to_vaddr)(void* object, uint64_t file_offset, uint64_t* vaddr);
  // Frames at an ELF virtual address, innermost inlined frame first; the physical frame's
  // function may stay "" when no symbol covers it. Returns true if a name was found.
  // [*same_from, *same_to): virtual addresses that all get this same answer (a function
  // known by its symbol only, no compile unit covering it), or 0/0.
  bool (*lookup)(void* object, uint64_t vaddr, std::vector<SourceFrame>* frames,
                 bool* has_file_line, uint64_t* same_from, uint64_t* same_to);
  void (*stats)(BackendStats* out);
};

}  // namespace profagent::symbolize

// The one symbol libprofagent-symbolize.so exports.
extern "C" const profagent::symbolize::BackendApi* profagent_symbolize_backend(uint32_t abi_version);
