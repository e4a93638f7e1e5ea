// Sorted function-symbol index over one ELF symbol table (.symtab when the file or its debug
// file has one, else .dynsym), so each lookup is a binary search. Part of
// libprofagent-symbolize.so. Normal (dump-thread) context only.
#pragma once

#include <libelf.h>

#include <cstdint>
#include <vector>

namespace profagent::symbolize {

class SymbolTable {
 public:
  SymbolTable() = default;
  // Reads every defined, sized function symbol of the section `symtab` of `elf` (either may
  // be nullptr: empty table). Names point into the Elf's data and live as long as it does.
  SymbolTable(Elf* elf, Elf_Scn* symtab);

  // Name of the function symbol whose [start, start + size) contains `vaddr` (the innermost,
  // when symbols nest), or nullptr. When asked, [*from, *to): the addresses around `vaddr`
  // that get this same name (the symbol's range less any other symbol inside it).
  const char* lookup(uint64_t vaddr, uint64_t* from = nullptr, uint64_t* to = nullptr) const;
  // For an address no symbol covers: [*from, *to), between the end of the symbol before it
  // and the start of the one after it, where no symbol covers any address either. False when
  // there is no symbol on one side (the gap would be unbounded).
  bool gap_around(uint64_t vaddr, uint64_t* from, uint64_t* to) const;
  bool empty() const { return symbols_.empty(); }

 private:
  struct Symbol {
    uint64_t start;
    uint64_t size;
    const char* name;
    int rank;  // binding preference among aliases: global > weak > local
  };
  std::vector<Symbol> symbols_;  // sorted by start, one per start address
  // The first symbol starting after `vaddr` (end() if none).
  std::vector<Symbol>::const_iterator first_after(uint64_t vaddr) const;
};

}  // namespace profagent::symbolize
