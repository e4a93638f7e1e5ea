// One elfutils libdwfl session over a live process: module list from /proc/<pid>/maps, ELF
// symbols (.symtab, else .dynsym), and DWARF file:line and inline chains. Normal
// (dump-thread) context only; libdw caches every opened ELF/DWARF file for the session.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "agent/symbolize/symbol_table.h"
#include "agent/symbolize/symbolizer.h"

struct Dwfl;
struct Dwfl_Module;

namespace profagent::symbolize {

class DwflSession {
 public:
  explicit DwflSession(pid_t pid);
  ~DwflSession();
  DwflSession(const DwflSession&) = delete;
  DwflSession& operator=(const DwflSession&) = delete;

  // Fills `frames` innermost inlined frame first (the last one physically contains the code)
  // and returns true when at least one function name was found. The physical frame's
  // `function` may stay "" (then the caller names it). `has_file_line` tells whether the
  // innermost frame has a source file and line.
  bool lookup(uint64_t address, std::vector<SourceFrame>* frames, bool* has_file_line);

 private:
  const SymbolTable& symbols(Dwfl_Module* mod);

  Dwfl* dwfl_ = nullptr;
  std::unordered_map<Dwfl_Module*, std::unique_ptr<SymbolTable>> symbols_;
};

}  // namespace profagent::symbolize
