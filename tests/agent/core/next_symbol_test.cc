// agent/core/next_symbol.h: the table lookup past an object answers what the loader's
// dlsym(RTLD_NEXT) and dlvsym(RTLD_NEXT) answer, for every symbol the C library and the
// loader define, by name alone and with each symbol's own version (from this test program:
// its objects after it are libstdc++, libm, libgcc_s, libc and the loader, their symbols
// versioned, hidden, duplicated across objects, IFUNCs...).
#include "agent/core/next_symbol.h"

#include <dlfcn.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

extern "C" const ElfW(Ehdr) __ehdr_start;

namespace profagent {
namespace {

using next_symbol_detail::Answer;
using next_symbol_detail::look_up_after;

uintptr_t this_program() { return reinterpret_cast<uintptr_t>(&__ehdr_start); }

// Every defined dynamic symbol of a loaded object, with the name of its version ("" when
// none), read from its own tables.
std::vector<std::pair<std::string, std::string>> defined_symbols(const char* soname) {
  void* handle = dlopen(soname, RTLD_NOW | RTLD_NOLOAD);
  EXPECT_NE(handle, nullptr) << soname;
  link_map* map = nullptr;
  EXPECT_EQ(dlinfo(handle, RTLD_DI_LINKMAP, &map), 0);
  dlclose(handle);
  const uint32_t* gnu_hash = nullptr;
  const ElfW(Sym)* symbols = nullptr;
  const char* strings = nullptr;
  const ElfW(Half)* versym = nullptr;
  const ElfW(Verdef)* verdef = nullptr;
  for (const ElfW(Dyn)* d = map->l_ld; d->d_tag != DT_NULL; ++d) {
    // (The loader relocates some entries in place, not DT_VERDEF: an offset is below l_addr.)
    const auto at = d->d_un.d_ptr < map->l_addr ? d->d_un.d_ptr + map->l_addr : d->d_un.d_ptr;
    if (d->d_tag == DT_GNU_HASH) gnu_hash = reinterpret_cast<const uint32_t*>(at);
    if (d->d_tag == DT_SYMTAB) symbols = reinterpret_cast<const ElfW(Sym)*>(at);
    if (d->d_tag == DT_STRTAB) strings = reinterpret_cast<const char*>(at);
    if (d->d_tag == DT_VERSYM) versym = reinterpret_cast<const ElfW(Half)*>(at);
    if (d->d_tag == DT_VERDEF) verdef = reinterpret_cast<const ElfW(Verdef)*>(at);
  }
  EXPECT_TRUE(gnu_hash != nullptr && symbols != nullptr && strings != nullptr) << soname;
  // The symbol count: past the highest bucket's chain end.
  const uint32_t buckets = gnu_hash[0], first = gnu_hash[1], bloom_words = gnu_hash[2];
  const uint32_t* bucket = gnu_hash + 4 + bloom_words * (sizeof(ElfW(Addr)) / 4);
  const uint32_t* chain = bucket + buckets;
  uint32_t last = 0;
  for (uint32_t b = 0; b < buckets; ++b) last = std::max(last, bucket[b]);
  if (last >= first)
    while ((chain[last - first] & 1) == 0) ++last;
  std::vector<std::pair<std::string, std::string>> out;
  for (uint32_t i = first; i <= last && last >= first; ++i) {
    const ElfW(Sym)& s = symbols[i];
    if (s.st_shndx == SHN_UNDEF) continue;
    std::string version;
    if (versym != nullptr && verdef != nullptr) {
      for (const ElfW(Verdef)* v = verdef;;) {
        if (v->vd_ndx == (versym[i] & 0x7fff)) {
          auto* aux = reinterpret_cast<const ElfW(Verdaux)*>(
              reinterpret_cast<const char*>(v) + v->vd_aux);
          version = strings + aux->vda_name;
          break;
        }
        if (v->vd_next == 0) break;
        v = reinterpret_cast<const ElfW(Verdef)*>(reinterpret_cast<const char*>(v) + v->vd_next);
      }
    }
    out.emplace_back(strings + s.st_name, version);
  }
  return out;
}

struct Tally {
  int found = 0, not_found = 0, asked = 0;
};

// One lookup both ways; the table lookup must agree with the loader whenever it answers.
void expect_same_as_loader(const std::string& name, const char* version, Tally& tally) {
  void* ours = nullptr;
  const Answer answer = look_up_after(this_program(), name.c_str(), version, &ours);
  void* loaders = version != nullptr ? dlvsym(RTLD_NEXT, name.c_str(), version)
                                     : dlsym(RTLD_NEXT, name.c_str());
  const std::string what = name + (version != nullptr ? std::string("@") + version : "");
  switch (answer) {
    case Answer::kFound:
      ++tally.found;
      EXPECT_EQ(ours, loaders) << what;
      break;
    case Answer::kNotFound:
      ++tally.not_found;
      EXPECT_EQ(loaders, nullptr) << what;
      break;
    case Answer::kAskTheLoader:
      ++tally.asked;
      break;
  }
}

TEST(NextSymbol, AgreesWithTheLoaderOnEverySymbolOfLibcAndTheLoader) {
  for (const char* soname : {"libc.so.6", "ld-linux-x86-64.so.2", "libm.so.6"}) {
    SCOPED_TRACE(soname);
    Tally by_name, by_version;
    const auto symbols = defined_symbols(soname);
    ASSERT_GT(symbols.size(), 20u);
    for (const auto& [name, version] : symbols) {
      expect_same_as_loader(name, nullptr, by_name);
      if (!version.empty()) expect_same_as_loader(name, version.c_str(), by_version);
    }
    // Nearly all answered by the tables (IFUNCs and thread-locals go to the loader).
    EXPECT_GT(by_name.found, static_cast<int>(symbols.size()) * 8 / 10)
        << by_name.not_found << " not found, " << by_name.asked << " asked";
    EXPECT_GT(by_version.found, static_cast<int>(symbols.size()) * 8 / 10);
  }
}

// From the first object on (RTLD_DEFAULT): this program's own definitions come first (it is
// linked with gtest, and exports nothing the C library defines: malloc is libc's here).
TEST(NextSymbol, TheFirstDefinitionAgreesWithTheLoader) {
  int found = 0;
  const auto symbols = defined_symbols("libc.so.6");
  for (const auto& [name, version] : symbols) {
    void* ours = nullptr;
    const Answer answer = next_symbol_detail::look_up_first(name.c_str(), &ours);
    if (answer == Answer::kAskTheLoader) continue;
    void* loaders = dlsym(RTLD_DEFAULT, name.c_str());
    if (answer == Answer::kFound) {
      ++found;
      EXPECT_EQ(ours, loaders) << name;
    } else {
      EXPECT_EQ(loaders, nullptr) << name;
    }
  }
  EXPECT_GT(found, static_cast<int>(symbols.size()) * 8 / 10);
  EXPECT_EQ(first_symbol("malloc"), dlsym(RTLD_DEFAULT, "malloc"));
  EXPECT_EQ(first_symbol("profagent_no_such_function"), nullptr);
}

TEST(NextSymbol, OldAndNewVersionsOfOneNameAreTold) {
  Tally tally;
  // pthread_cond_wait: GLIBC_2.2.5 (the old condition variable) and GLIBC_2.3.2 (default).
  void* old_one = nullptr;
  void* new_one = nullptr;
  void* by_name = nullptr;
  ASSERT_EQ(look_up_after(this_program(), "pthread_cond_wait", "GLIBC_2.2.5", &old_one),
            Answer::kFound);
  ASSERT_EQ(look_up_after(this_program(), "pthread_cond_wait", "GLIBC_2.3.2", &new_one),
            Answer::kFound);
  ASSERT_EQ(look_up_after(this_program(), "pthread_cond_wait", nullptr, &by_name),
            Answer::kFound);
  EXPECT_NE(old_one, new_one);
  EXPECT_EQ(by_name, new_one);
  EXPECT_EQ(old_one, dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.2.5"));
  expect_same_as_loader("pthread_cond_wait", "GLIBC_9.9", tally);  // no such version
  expect_same_as_loader("profagent_no_such_function", nullptr, tally);
  EXPECT_EQ(tally.not_found, 2);
}

// As the agent's files of hooks do from their constructors: the first lookup at this test
// program's load, while it has one thread, counts the objects next_symbol reads.
__attribute__((constructor)) void first_lookup_at_load() { next_symbol("getpid"); }

// Its answers below come from those objects' tables, with threads running (other tests made
// some), and agree with the loader's.
TEST(NextSymbol, ReadsTheObjectsCountedAtLoadWhateverThreadsRun) {
  ASSERT_GE(next_symbol_detail::listed_objects(), 3);  // this program, libc, the loader
  for (const char* name : {"pthread_mutex_lock", "pthread_create", "execve", "setuid",
                           "popen", "sigaction", "malloc", "clock_gettime"})
    EXPECT_EQ(next_symbol(name), dlsym(RTLD_NEXT, name)) << name;
  EXPECT_EQ(next_symbol("pthread_cond_wait", "GLIBC_2.2.5"),
            dlvsym(RTLD_NEXT, "pthread_cond_wait", "GLIBC_2.2.5"));
  errno = 1234;
  EXPECT_EQ(next_symbol("profagent_no_such_function"), nullptr);
  EXPECT_EQ(errno, 1234);
  // Only those objects: with this program the only one counted, nothing past it is read (and
  // next_symbol asks the loader).
  void* ours = nullptr;
  EXPECT_EQ(look_up_after(this_program(), "pthread_mutex_lock", nullptr, &ours, 1),
            Answer::kNotFound);
  EXPECT_EQ(look_up_after(this_program(), "pthread_mutex_lock", nullptr, &ours), Answer::kFound);
}

TEST(NextSymbol, TheVdsoIsNotSearchedAndAnIfuncGoesToTheLoader) {
  Tally tally;
  expect_same_as_loader("clock_gettime", nullptr, tally);  // libc's, not the vDSO's
  expect_same_as_loader("__vdso_clock_gettime", nullptr, tally);
  EXPECT_EQ(tally.found, 1);
  EXPECT_EQ(tally.not_found, 1);
  void* ours = nullptr;
  EXPECT_EQ(look_up_after(this_program(), "memcpy", nullptr, &ours), Answer::kAskTheLoader);
  EXPECT_EQ(next_symbol("memcpy"), dlsym(RTLD_NEXT, "memcpy"));  // (the loader's answer)
}

TEST(NextSymbol, AnObjectNotLoadedIsLeftToTheLoader) {
  void* ours = nullptr;
  EXPECT_EQ(look_up_after(1, "malloc", nullptr, &ours), Answer::kAskTheLoader);
}

}  // namespace
}  // namespace profagent
