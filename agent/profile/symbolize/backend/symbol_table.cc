// Sorted function-symbol index over one ELF symbol table. Part of libprofagent-symbolize.so.
// Normal (dump-thread) context only.
#include "agent/profile/symbolize/backend/symbol_table.h"

#include <gelf.h>

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

SymbolTable::SymbolTable(Elf* elf, Elf_Scn* symtab) {
  if (elf == nullptr || symtab == nullptr) return;
  GElf_Shdr shdr;
  if (gelf_getshdr(symtab, &shdr) == nullptr || shdr.sh_entsize == 0) return;
  Elf_Data* data = elf_getdata(symtab, nullptr);
  if (data == nullptr) return;
  size_t count = shdr.sh_size / shdr.sh_entsize;
  for (size_t i = 1; i < count; ++i) {
    GElf_Sym sym;
    if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) break;
    if (sym.st_size == 0 || sym.st_shndx == SHN_UNDEF) continue;
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
    if (name == nullptr || name[0] == '\0') continue;
    symbols_.push_back({sym.st_value, sym.st_size, name, binding_rank(sym.st_info)});
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

std::vector<SymbolTable::Symbol>::const_iterator SymbolTable::first_after(uint64_t vaddr) const {
  return std::upper_bound(symbols_.begin(), symbols_.end(), vaddr,
                          [](uint64_t a, const Symbol& s) { return a < s.start; });
}

const char* SymbolTable::lookup(uint64_t vaddr, uint64_t* from, uint64_t* to) const {
  auto next = first_after(vaddr);
  uint64_t skipped_end = 0;  // the furthest end of the symbols passed over (nested, ended)
  auto it = next;
  for (size_t back = 0; it != symbols_.begin() && back < kMaxLookBack; ++back) {
    --it;
    if (vaddr - it->start < it->size) {
      if (from != nullptr) *from = std::max(it->start, skipped_end);
      if (to != nullptr) {
        uint64_t end = it->start + it->size;
        *to = next != symbols_.end() ? std::min(end, next->start) : end;
      }
      return it->name;
    }
    skipped_end = std::max(skipped_end, it->start + it->size);
  }
  return nullptr;
}

bool SymbolTable::gap_around(uint64_t vaddr, uint64_t* from, uint64_t* to) const {
  auto next = first_after(vaddr);
  if (next == symbols_.begin() || next == symbols_.end()) return false;
  // The furthest end among the symbols before (a nested or overlapping one may end later
  // than the last one to start).
  uint64_t end = 0;
  size_t back = 0;
  for (auto it = next; it != symbols_.begin() && back < kMaxLookBack; ++back) {
    --it;
    end = std::max(end, it->start + it->size);
  }
  if (end > vaddr) return false;  // covered after all (lookup would have found it)
  *from = end;
  *to = next->start;
  return true;
}

}  // namespace profagent::symbolize
