// In-process symbolization at dump time (never in a handler): mappings from /proc/self/maps
// with GNU build ids; each address first from the persistent symbol cache (by build id and
// file offset), else from the private elfutils backend (libprofagent-symbolize.so, loaded on
// first need): function names from .symtab or .dynsym (C++ demangled), file:line and inline
// frames from DWARF of the compile unit holding the address. Normal context only; not
// thread-safe (the dump path owns one instance under the dump lock).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace profagent {

// One executable mapping of the process, as pprof's Mapping wants it.
struct MappingInfo {
  uint64_t start = 0;    // memory_start
  uint64_t limit = 0;    // memory_limit, exclusive
  uint64_t offset = 0;   // file_offset of `start`
  std::string filename;  // path, " (deleted)" removed; or a pseudo name like "[vdso]"
  std::string build_id;  // lowercase hex of NT_GNU_BUILD_ID, "" if none
};

// One source-level frame at an address.
struct SourceFrame {
  std::string function;     // demangled display name, or "module+0xoffset" if unknown
  std::string system_name;  // mangled / linker name ("" -> same as function)
  std::string file;         // "" if unknown
  int64_t line = 0;         // 0 if unknown
  int64_t start_line = 0;   // line of the function's declaration, 0 if unknown
};

struct ResolvedAddress {
  int mapping_index = -1;  // index into mappings(), -1 if no mapping contains the address
  // Innermost inlined frame first; the last one physically contains the code. Never empty:
  // an unnamed address gets one frame named "module+0xoffset" (or "0xaddr" outside any
  // mapping) with symbolized == false.
  std::vector<SourceFrame> frames;
  bool symbolized = false;  // a real function name was found
  bool has_file_line = false;
};

class Symbolizer {
 public:
  // Symbolizes this process (pid 0), or another live process (tests use that to symbolize
  // fixture executables they start). `symbol_cache_dir` "" = no persistent cache.
  explicit Symbolizer(pid_t pid = 0, const std::string& symbol_cache_dir = "");
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Re-reads /proc/<pid>/maps; rebuilds the module list only if it changed (dlopen/dlclose).
  // Does nothing while the mappings are held (below).
  void refresh();

  // Refreshes once (unless `refresh_first` is false: a symbolizer constructed just now),
  // then holds the mappings until release_mappings(): one dump reads /proc/<pid>/maps once
  // for all the profiles it encodes (taken before the hold).
  void hold_mappings(bool refresh_first = true);
  void release_mappings();

  // Executable mappings, the main executable first.
  const std::vector<MappingInfo>& mappings() const;

  // Resolves one pprof location address (already call-site adjusted). Cached per address
  // for the life of the process, until the mapping holding it changes (a dlopen elsewhere
  // keeps it; the reference stays valid until then).
  const ResolvedAddress& resolve(uint64_t address);
  // Addresses answered and kept (at most kMaxResolved: dropped at the next refresh past it).
  size_t resolved_count() const;
  static constexpr size_t kMaxResolved = 200'000;

  // Writes what this process learned to the persistent symbol cache (after each dump).
  void save_cache();

  // One self-accounting line: cache hits and misses, files and DWARF the backend read.
  std::string stats_line() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace profagent
