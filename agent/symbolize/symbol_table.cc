// Per-module sorted function-symbol index over libdwfl's symbol table (.symtab when present,
// else .dynsym, merged with MiniDebugInfo), so each lookup is a binary search instead of
// dwfl_module_addrinfo's scan of every symbol. Normal (dump-thread) context only.
#include "agent/symbolize/symbol_table.h"

#include <elfutils/libdwfl.h>

#include <algorithm>

namespace profagent::symbolize {
namespace {

// A containing symbol may start a little before a nested one (rare); look back this far.
constexpr size_t kMaxLookBack = 16;

int binding_rank(unsigned char info) {
  switch (GELF_ST_BIND(info)) {
    case STB_GLOBAL:
      return 3;
    case STB_WEAK:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

SymbolTable::SymbolTable(Dwfl_Module* mod) {
  int count = dwfl_module_getsymtab(mod);
  for (int i = 1; i < count; ++i) {
    GElf_Sym sym;
    GElf_Addr address = 0;
    GElf_Word shndx = 0;
    Elf* elf = nullptr;
    Dwarf_Addr bias = 0;
    const char* name = dwfl_module_getsym_info(mod, i, &sym, &address, &shndx, &elf, &bias);
    if (name == nullptr || name[0] == '\0' || sym.st_size == 0 || shndx == SHN_UNDEF) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    symbols_.push_back({address, sym.st_size, name, binding_rank(sym.st_info)});
  }
  // Aliases at one address: keep the best binding, then the largest size.
  std::stable_sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    if (a.start != b.start) return a.start < b.start;
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.size > b.size;
  });
  symbols_.erase(std::unique(symbols_.begin(), symbols_.end(),
                             [](const Symbol& a, const Symbol& b) { return a.start == b.start; }),
                 symbols_.end());
}

const char* SymbolTable::lookup(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.start; });
  for (size_t back = 0; it != symbols_.begin() && back < kMaxLookBack; ++back) {
    --it;
    if (address - it->start < it->size) return it->name;
  }
  return nullptr;
}

}  // namespace profagent::symbolize
