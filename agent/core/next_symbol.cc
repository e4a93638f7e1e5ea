// The function behind a hook, from the objects' own GNU hash tables (see next_symbol.h).
// NORMAL CONTEXT: no allocation; the table lookup takes no lock, the fallback is dlsym's.
#include "agent/core/next_symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/auxv.h>
#include <sys/single_threaded.h>

#include <atomic>
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

// The name of the object's version with index `ndx`, nullptr if it defines none. Its base
// version (the object's own name, VER_FLG_BASE) has none: the loader records no name for it,
// so a lookup by version never matches it.
PROFAGENT_START_PATH const char* version_name(const Tables& t, ElfW(Half) ndx) {
  for (const ElfW(Verdef)* def = t.verdef; def != nullptr;) {
    if (def->vd_ndx == ndx) {
      if ((def->vd_flags & VER_FLG_BASE) != 0) return nullptr;
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
// version rules: defined, of a type a lookup may find, of that name. (Its binding is looked
// at once the object's candidate is chosen: a local one ends the search in that object.)
PROFAGENT_START_PATH bool may_match(const Tables& t, const ElfW(Sym)& sym, const char* name) {
  const int type = ELF64_ST_TYPE(sym.st_info);
  if (sym.st_value == 0 && sym.st_shndx != SHN_ABS && type != STT_TLS) return false;
  if (sym.st_shndx == SHN_UNDEF && sym.st_value == 0) return false;
  if (type != STT_NOTYPE && type != STT_OBJECT && type != STT_FUNC && type != STT_COMMON &&
      type != STT_TLS && type != STT_GNU_IFUNC)
    return false;
  return strcmp(t.strings + sym.st_name, name) == 0;
}

// The object's chosen candidate, as the loader takes it: a global or weak definition is the
// answer, a local one is ignored (the search goes on in the next object), one the loader
// turns into an address itself is left to it.
enum class InObject { kFound, kAbsent, kAskTheLoader };

PROFAGENT_START_PATH InObject chosen(const ElfW(Sym)& sym) {
  if (ELF64_ST_BIND(sym.st_info) == STB_LOCAL) return InObject::kAbsent;
  return needs_the_loader(sym) ? InObject::kAskTheLoader : InObject::kFound;
}

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
          return chosen(sym);
        }
      } else if (t.versym != nullptr && (tag & 0x7fff) >= 2) {
        if ((tag & 0x8000) == 0 && versions++ == 0) versioned = &sym;
      } else {
        *found = &sym;
        return chosen(sym);
      }
    }
    if ((entry & 1) != 0) break;
  }
  if (versions != 1) return InObject::kAbsent;
  *found = versioned;
  return chosen(*versioned);
}

}  // namespace

namespace {

// The search from `map` on, through `count` objects of the loader's list at most.
PROFAGENT_START_PATH
Answer look_up_from(const link_map* map, int count, const char* name, const char* version,
                    void** found) {
  const uint32_t hash = gnu_hash_of(name);
  // (The vDSO is on the loader's list but not in its search scope: dlsym finds nothing there.)
  const uintptr_t vdso = getauxval(AT_SYSINFO_EHDR);
  for (; map != nullptr && count > 0; map = map->l_next, --count) {
    if (vdso != 0 && map->l_addr == vdso) continue;
    const Tables t = tables_of(map);
    if (t.gnu_hash == nullptr) {
      if (t.has_sysv_hash) return Answer::kAskTheLoader;  // (an old object: not read here)
      continue;  // no table: the loader skips it too
    }
    if (t.symbols == nullptr || t.strings == nullptr) return Answer::kAskTheLoader;
    const ElfW(Sym)* sym = nullptr;
    switch (find_in(t, name, hash, version, &sym)) {
      case InObject::kFound:  // (an absolute symbol's value is its address)
        *found = reinterpret_cast<void*>((sym->st_shndx == SHN_ABS ? 0 : t.bias) + sym->st_value);
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
Answer look_up_after(uintptr_t after, const char* name, const char* version, void** found,
                     int objects) noexcept {
  const link_map* map = _r_debug.r_map;
  while (map != nullptr && objects > 0 && map->l_addr != after) {
    map = map->l_next;
    --objects;
  }
  if (map == nullptr || objects == 0) return Answer::kAskTheLoader;
  return look_up_from(map->l_next, objects - 1, name, version, found);
}

PROFAGENT_START_PATH
Answer look_up_first(const char* name, void** found, int objects) noexcept {
  return look_up_from(_r_debug.r_map, objects, name, nullptr, found);
}

// How many objects of the loader's list the lookups read (0: none, ask dlsym): those there
// when the agent first looked while the process had one thread and the list was whole (the
// program's start). The loader appends an object it loads at the end of its list and never
// unloads one a process started with, so these entries stay as they are whatever another
// thread loads meanwhile, and a walk never reaches one being added; an object loaded later (a
// dlopen'ed plugin, RTLD_LOCAL or not) is left to dlsym.
namespace {
constinit std::atomic<int> g_listed{0};
}  // namespace

PROFAGENT_START_PATH int listed_objects() noexcept {
  if (const int n = g_listed.load(std::memory_order_acquire); n != 0) return n;
  if (__libc_single_threaded == 0 || _r_debug.r_state != r_debug::RT_CONSISTENT) return 0;
  int n = 0;
  for (const link_map* map = _r_debug.r_map; map != nullptr; map = map->l_next) ++n;
  g_listed.store(n, std::memory_order_release);
  return n;
}

}  // namespace next_symbol_detail

// (A name none of the objects defines is asked of the loader too, in both: its answer is the
// one that counts, and such a lookup is rare.)
PROFAGENT_START_PATH
void* first_symbol(const char* name) noexcept {
  const int saved = errno;
  void* found = nullptr;
  const int objects = next_symbol_detail::listed_objects();
  if (objects == 0 || next_symbol_detail::look_up_first(name, &found, objects) !=
                          next_symbol_detail::Answer::kFound)
    found = dlsym(RTLD_DEFAULT, name);
  errno = saved;
  return found;
}

PROFAGENT_START_PATH
void* next_symbol(const char* name, const char* version) noexcept {
  using next_symbol_detail::Answer;
  const int saved = errno;
  void* found = nullptr;
  const int objects = next_symbol_detail::listed_objects();
  const auto self = reinterpret_cast<uintptr_t>(&__ehdr_start);
  if (objects == 0 ||
      next_symbol_detail::look_up_after(self, name, version, &found, objects) != Answer::kFound)
    found = version != nullptr ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
  errno = saved;
  return found;
}

}  // namespace profagent
