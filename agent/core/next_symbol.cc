// The function behind a hook, from the objects' own GNU hash tables (see next_symbol.h).
// NORMAL CONTEXT: no allocation; the table lookup takes no lock, the fallback is dlsym's.
#include "agent/core/next_symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/single_threaded.h>

#include <cerrno>
#include <cstring>

#include "agent/core/code_layout.h"

// The linker's symbol for this object's own ELF header: its address is the object's load
// bias (its first segment is at address 0), which the loader keeps as the object's l_addr.
extern "C" const ElfW(Ehdr) __ehdr_start;

namespace profagent {
namespace next_symbol_detail {
namespace {

// One object's dynamic symbol tables, as the loader reads them.
struct Tables {
  uintptr_t bias = 0;
  const uint32_t* gnu_hash = nullptr;
  const ElfW(Sym)* symbols = nullptr;
  const char* strings = nullptr;
  const ElfW(Half)* versym = nullptr;    // nullptr: the object has no versions
  const ElfW(Verdef)* verdef = nullptr;  // its version definitions
  bool has_sysv_hash = false;
};

// The loader relocates some of an object's dynamic entries in place (the hash tables, symbol
// and string tables, DT_VERSYM) but not others (DT_VERDEF), nor any of the vDSO's: an offset
// is below the object's base.
PROFAGENT_START_PATH uintptr_t address_in(const link_map* map, ElfW(Addr) value) {
  return value < map->l_addr ? value + map->l_addr : value;
}

PROFAGENT_START_PATH Tables tables_of(const link_map* map) {
  Tables t;
  t.bias = map->l_addr;
  if (map->l_ld == nullptr) return t;
  for (const ElfW(Dyn)* d = map->l_ld; d->d_tag != DT_NULL; ++d) {
    const uintptr_t at = address_in(map, d->d_un.d_ptr);
    switch (d->d_tag) {
      case DT_GNU_HASH: t.gnu_hash = reinterpret_cast<const uint32_t*>(at); break;
      case DT_HASH: t.has_sysv_hash = true; break;
      case DT_SYMTAB: t.symbols = reinterpret_cast<const ElfW(Sym)*>(at); break;
      case DT_STRTAB: t.strings = reinterpret_cast<const char*>(at); break;
      case DT_VERSYM: t.versym = reinterpret_cast<const ElfW(Half)*>(at); break;
      case DT_VERDEF: t.verdef = reinterpret_cast<const ElfW(Verdef)*>(at); break;
      default: break;
    }
  }
  return t;
}

PROFAGENT_START_PATH uint32_t gnu_hash_of(const char* name) {
  uint32_t h = 5381;
  for (const unsigned char* c = reinterpret_cast<const unsigned char*>(name); *c != 0; ++c)
    h = h * 33 + *c;
  return h;
}

// The name of the object's version with index `ndx` (its definitions; index 1 is the
// object's own name), nullptr if it defines none.
PROFAGENT_START_PATH const char* version_name(const Tables& t, ElfW(Half) ndx) {
  for (const ElfW(Verdef)* def = t.verdef; def != nullptr;) {
    if (def->vd_ndx == ndx) {
      const auto* aux = reinterpret_cast<const ElfW(Verdaux)*>(
          reinterpret_cast<const char*>(def) + def->vd_aux);
      return t.strings + aux->vda_name;
    }
    if (def->vd_next == 0) break;
    def = reinterpret_cast<const ElfW(Verdef)*>(reinterpret_cast<const char*>(def) +
                                                def->vd_next);
  }
  return nullptr;
}

// A definition the loader itself must turn into an address, or that it handles apart: an
// IFUNC (its resolver runs), a thread-local (the block's address), a unique symbol.
PROFAGENT_START_PATH bool needs_the_loader(const ElfW(Sym)& sym) {
  const int type = ELF64_ST_TYPE(sym.st_info);
  return type == STT_GNU_IFUNC || type == STT_TLS ||
         ELF64_ST_BIND(sym.st_info) == STB_GNU_UNIQUE ||
         (sym.st_shndx == SHN_UNDEF && sym.st_value != 0);  // (an executable's PLT address)
}

// The loader's check_match for one candidate whose hash matched (dl-lookup.c), up to the
// version rules: defined, of a type a lookup may find, not local, of that name.
PROFAGENT_START_PATH bool may_match(const Tables& t, const ElfW(Sym)& sym, const char* name) {
  const int type = ELF64_ST_TYPE(sym.st_info);
  if (sym.st_value == 0 && type != STT_TLS) return false;
  if (sym.st_shndx == SHN_UNDEF && sym.st_value == 0) return false;
  if (type != STT_NOTYPE && type != STT_OBJECT && type != STT_FUNC && type != STT_COMMON &&
      type != STT_TLS && type != STT_GNU_IFUNC)
    return false;
  if (ELF64_ST_BIND(sym.st_info) == STB_LOCAL) return false;
  return strcmp(t.strings + sym.st_name, name) == 0;
}

enum class InObject { kFound, kAbsent, kAskTheLoader };

// One object's definition of `name`, by the loader's rules: with a version, the symbol of
// exactly that version (dlvsym); without, an unversioned symbol, else the one version that
// is not hidden (dlsym: the newest, public interface).
PROFAGENT_START_PATH InObject find_in(const Tables& t, const char* name, uint32_t hash,
                                      const char* version, const ElfW(Sym)** found) {
  const uint32_t buckets_count = t.gnu_hash[0], first_symbol = t.gnu_hash[1];
  const uint32_t bloom_words = t.gnu_hash[2], bloom_shift = t.gnu_hash[3];
  if (buckets_count == 0 || bloom_words == 0) return InObject::kAbsent;
  const auto* bloom = reinterpret_cast<const ElfW(Addr)*>(t.gnu_hash + 4);
  const auto* buckets = reinterpret_cast<const uint32_t*>(bloom + bloom_words);
  const uint32_t* chain = buckets + buckets_count;
  constexpr uint32_t kWordBits = sizeof(ElfW(Addr)) * 8;
  const ElfW(Addr) word = bloom[(hash / kWordBits) & (bloom_words - 1)];
  const ElfW(Addr) bits = (ElfW(Addr){1} << (hash % kWordBits)) |
                          (ElfW(Addr){1} << ((hash >> bloom_shift) % kWordBits));
  if ((word & bits) != bits) return InObject::kAbsent;
  uint32_t index = buckets[hash % buckets_count];
  if (index < first_symbol) return InObject::kAbsent;
  const ElfW(Sym)* versioned = nullptr;
  int versions = 0;
  for (;; ++index) {
    const uint32_t entry = chain[index - first_symbol];
    if (((entry ^ hash) >> 1) == 0 && may_match(t, t.symbols[index], name)) {
      const ElfW(Sym)& sym = t.symbols[index];
      const ElfW(Half) tag = t.versym != nullptr ? t.versym[index] : 0;
      if (version != nullptr) {
        const char* defined = t.versym != nullptr ? version_name(t, tag & 0x7fff) : version;
        if (defined != nullptr && strcmp(defined, version) == 0) {
          *found = &sym;
          return needs_the_loader(sym) ? InObject::kAskTheLoader : InObject::kFound;
        }
      } else if (t.versym != nullptr && (tag & 0x7fff) >= 2) {
        if ((tag & 0x8000) == 0 && versions++ == 0) versioned = &sym;
      } else {
        *found = &sym;
        return needs_the_loader(sym) ? InObject::kAskTheLoader : InObject::kFound;
      }
    }
    if ((entry & 1) != 0) break;
  }
  if (versions != 1) return InObject::kAbsent;
  *found = versioned;
  return needs_the_loader(*versioned) ? InObject::kAskTheLoader : InObject::kFound;
}

}  // namespace

namespace {

// The search from `map` on, through the end of the loader's list.
PROFAGENT_START_PATH
Answer look_up_from(const link_map* map, const char* name, const char* version, void** found) {
  const uint32_t hash = gnu_hash_of(name);
  // (The vDSO is on the loader's list but not in its search scope: dlsym finds nothing there.)
  const uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
  for (; map != nullptr; map = map->l_next) {
    if (vdso != 0 && map->l_addr == vdso) continue;
    const Tables t = tables_of(map);
    if (t.gnu_hash == nullptr) {
      if (t.has_sysv_hash) return Answer::kAskTheLoader;  // (an old object: not read here)
      continue;  // no table: the loader skips it too
    }
    if (t.symbols == nullptr || t.strings == nullptr) return Answer::kAskTheLoader;
    const ElfW(Sym)* sym = nullptr;
    switch (find_in(t, name, hash, version, &sym)) {
      case InObject::kFound:
        *found = reinterpret_cast<void*>(t.bias + sym->st_value);
        return Answer::kFound;
      case InObject::kAskTheLoader:
        return Answer::kAskTheLoader;
      case InObject::kAbsent:
        break;
    }
  }
  return Answer::kNotFound;
}

}  // namespace

PROFAGENT_START_PATH
Answer look_up_after(uintptr_t after, const char* name, const char* version,
                     void** found) noexcept {
  const link_map* map = _r_debug.r_map;
  while (map != nullptr && map->l_addr != after) map = map->l_next;
  if (map == nullptr) return Answer::kAskTheLoader;
  return look_up_from(map->l_next, name, version, found);
}

PROFAGENT_START_PATH
Answer look_up_first(const char* name, void** found) noexcept {
  return look_up_from(_r_debug.r_map, name, nullptr, found);
}

}  // namespace next_symbol_detail

namespace {

// Whether the loader's list may be read without its lock: no other thread could be changing
// it (the process never had one), and no change is half done.
PROFAGENT_START_PATH bool list_is_still() {
  return __libc_single_threaded != 0 && _r_debug.r_state == r_debug::RT_CONSISTENT;
}

}  // namespace

// (A name none of the objects defines is asked of the loader too, in both: its answer is the
// one that counts, and such a lookup is rare.)
PROFAGENT_START_PATH
void* first_symbol(const char* name) noexcept {
  const int saved = errno;
  void* found = nullptr;
  if (!list_is_still() ||
      next_symbol_detail::look_up_first(name, &found) != next_symbol_detail::Answer::kFound)
    found = dlsym(RTLD_DEFAULT, name);
  errno = saved;
  return found;
}

PROFAGENT_START_PATH
void* next_symbol(const char* name, const char* version) noexcept {
  using next_symbol_detail::Answer;
  const int saved = errno;
  void* found = nullptr;
  if (!list_is_still() ||
      next_symbol_detail::look_up_after(reinterpret_cast<uintptr_t>(&__ehdr_start), name,
                                        version, &found) != Answer::kFound)
    found = version != nullptr ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
  errno = saved;
  return found;
}

}  // namespace profagent
