// Per-module sorted function-symbol index over libdwfl's symbol table (.symtab when present,
// else .dynsym, merged with MiniDebugInfo), so each lookup is a binary search instead of
// dwfl_module_addrinfo's scan of every symbol. Normal (dump-thread) context only.
#pragma once

#include <cstdint>
#include <vector>

struct Dwfl_Module;

namespace profagent::symbolize {

class SymbolTable {
 public:
  // Reads every defined, sized function symbol of `mod` once. Names point into libdwfl's
  // ELF data and stay valid while the owning Dwfl lives.
  explicit SymbolTable(Dwfl_Module* mod);

  // Name of the function symbol whose [start, start + size) contains `address`, or nullptr.
  const char* lookup(uint64_t address) const;

 private:
  struct Symbol {
    uint64_t start;
    uint64_t size;
    const char* name;
    int rank;  // binding preference among aliases: global > weak > local
  };
  std::vector<Symbol> symbols_;  // sorted by start, one per start address
};

}  // namespace profagent::symbolize
