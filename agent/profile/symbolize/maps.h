// /proc/<pid>/maps reading and parsing into pprof mappings (executable lines only, main
// executable first). Normal (dump-thread) context only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/profile/symbolize/symbolizer.h"

namespace profagent::symbolize {

// One line of /proc/<pid>/maps.
struct MapsEntry {
  uint64_t start = 0;
  uint64_t limit = 0;  // exclusive
  uint64_t offset = 0;
  uint64_t inode = 0;
  std::string perms;  // "r-xp"
  std::string name;   // path with " (deleted)" removed, pseudo name, or ""
  bool deleted = false;
};

// Reads a whole (proc) file; false if it cannot be opened or read.
bool read_text_file(const std::string& path, std::string* out);

// "/proc/<pid>", or "/proc/thread-self" for pid 0 (works after the main thread ended).
std::string proc_dir(pid_t pid);

// Path of the process's main executable (readlink /proc/<pid>/exe, " (deleted)" removed);
// "" if unreadable.
std::string main_executable_path(pid_t pid);

// Parses every well-formed line; malformed lines are skipped.
std::vector<MapsEntry> parse_maps(std::string_view text);

// The pprof mappings: executable lines, inode-0 lines without a name dropped, the main
// executable's lines first (otherwise in maps order). `source` gets, for each mapping, the
// index of its entry in `entries`.
std::vector<MappingInfo> executable_mappings(const std::vector<MapsEntry>& entries,
                                             const std::string& exe_path,
                                             std::vector<size_t>* source);

// Basename of a mapping's file name ("[vdso]" stays as it is).
std::string mapping_basename(const std::string& filename);

}  // namespace profagent::symbolize
