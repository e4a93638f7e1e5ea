// Redirecting libdw's error() (see libdw_oom.h). Part of libprofagent-symbolize.so; normal
// (dump-thread) context only.
#include "agent/profile/symbolize/backend/libdw_oom.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace profagent::symbolize {
namespace {

std::atomic<LibdwEscape*> g_escape{nullptr};  // backend calls are serialized by the agent
std::atomic<pid_t> g_escape_tid{0};
std::atomic<bool> g_gave_up{false};

pid_t own_tid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

#if defined(__x86_64__)
constexpr uint32_t kJumpSlot = R_X86_64_JUMP_SLOT;
constexpr uint32_t kGlobDat = R_X86_64_GLOB_DAT;
#elif defined(__aarch64__)
constexpr uint32_t kJumpSlot = R_AARCH64_JUMP_SLOT;
constexpr uint32_t kGlobDat = R_AARCH64_GLOB_DAT;
#endif

// What libdw calls instead of glibc's error().
extern "C" void profagent_libdw_error(int status, int errnum, const char* format, ...) {
  LibdwEscape* escape = g_escape.load(std::memory_order_acquire);
  if (escape != nullptr && g_escape_tid.load(std::memory_order_relaxed) == own_tid())
    siglongjmp(escape->at, 1);
  // Not ours: glibc's error(), as it would have run.
  fflush(stdout);
  fprintf(stderr, "%s: ", program_invocation_name);
  va_list args;
  va_start(args, format);
  vfprintf(stderr, format, args);
  va_end(args);
  if (errnum != 0) fprintf(stderr, ": %s", strerror(errnum));
  fputc('\n', stderr);
  fflush(stderr);
  if (status != 0) exit(status);
}

struct Search {
  const void* own_code;   // an address in this backend
  bool backend_seen = false;
  bool loaded_by_us = false;
  dl_phdr_info libdw{};
};

int find_libdw(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<Search*>(data);
  const auto own = reinterpret_cast<uintptr_t>(s->own_code);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && own >= info->dlpi_addr + ph.p_vaddr &&
        own < info->dlpi_addr + ph.p_vaddr + ph.p_memsz)
      s->backend_seen = true;
  }
  const char* name = info->dlpi_name != nullptr ? strrchr(info->dlpi_name, '/') : nullptr;
  if (name != nullptr && strcmp(name + 1, "libdw.so.1") == 0) {
    // Objects are listed in load order: loaded after this backend, it came with it.
    s->loaded_by_us = s->backend_seen;
    s->libdw = *info;
    return 1;
  }
  return 0;
}

// A dynamic entry's address: the loader may have relocated it in place.
uintptr_t dynamic_address(uintptr_t value, uintptr_t base) {
  return value < base ? value + base : value;
}

}  // namespace

bool redirect_libdw_errors() noexcept {
#if defined(__x86_64__) || defined(__aarch64__)
  Search search;
  search.own_code = reinterpret_cast<const void*>(&profagent_libdw_error);
  dl_iterate_phdr(find_libdw, &search);
  if (!search.loaded_by_us) return false;
  const dl_phdr_info& lib = search.libdw;
  const ElfW(Dyn)* dynamic = nullptr;
  uintptr_t relro_from = 0, relro_to = 0;
  for (int i = 0; i < lib.dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = lib.dlpi_phdr[i];
    if (ph.p_type == PT_DYNAMIC)
      dynamic = reinterpret_cast<const ElfW(Dyn)*>(lib.dlpi_addr + ph.p_vaddr);
    if (ph.p_type == PT_GNU_RELRO) {
      relro_from = lib.dlpi_addr + ph.p_vaddr;
      relro_to = relro_from + ph.p_memsz;
    }
  }
  if (dynamic == nullptr) return false;
  const uintptr_t base = lib.dlpi_addr;
  const ElfW(Sym)* symbols = nullptr;
  const char* strings = nullptr;
  const ElfW(Rela)* tables[2] = {nullptr, nullptr};
  size_t sizes[2] = {0, 0};
  for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d) {
    const uintptr_t at = dynamic_address(d->d_un.d_ptr, base);
    switch (d->d_tag) {
      case DT_SYMTAB: symbols = reinterpret_cast<const ElfW(Sym)*>(at); break;
      case DT_STRTAB: strings = reinterpret_cast<const char*>(at); break;
      case DT_JMPREL: tables[0] = reinterpret_cast<const ElfW(Rela)*>(at); break;
      case DT_PLTRELSZ: sizes[0] = d->d_un.d_val; break;
      case DT_RELA: tables[1] = reinterpret_cast<const ElfW(Rela)*>(at); break;
      case DT_RELASZ: sizes[1] = d->d_un.d_val; break;
      default: break;
    }
  }
  if (symbols == nullptr || strings == nullptr) return false;
  // The loader made read-only only the whole pages of PT_GNU_RELRO (its end rounded down,
  // _dl_protect_relro): a slot past them is writable, and its page is left as it is.
  const uintptr_t page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  relro_from &= ~(page_size - 1);
  relro_to &= ~(page_size - 1);
  bool redirected = false;
  for (int t = 0; t < 2; ++t) {
    if (tables[t] == nullptr) continue;
    for (size_t i = 0; i < sizes[t] / sizeof(ElfW(Rela)); ++i) {
      const ElfW(Rela)& r = tables[t][i];
      const uint32_t type = ELF64_R_TYPE(r.r_info);
      if (type != kJumpSlot && type != kGlobDat) continue;
      if (strcmp(strings + symbols[ELF64_R_SYM(r.r_info)].st_name, "error") != 0) continue;
      auto* slot = reinterpret_cast<void**>(base + r.r_offset);
      const auto at = reinterpret_cast<uintptr_t>(slot);
      const bool read_only = at >= relro_from && at < relro_to;  // (BIND_NOW: made read-only)
      void* page = reinterpret_cast<void*>(at & ~(page_size - 1));
      if (read_only && mprotect(page, page_size, PROT_READ | PROT_WRITE) != 0) continue;
      __atomic_store_n(slot, reinterpret_cast<void*>(&profagent_libdw_error), __ATOMIC_RELEASE);
      if (read_only) mprotect(page, page_size, PROT_READ);
      redirected = true;
    }
  }
  return redirected;
#else
  return false;
#endif
}

bool libdw_gave_up() noexcept { return g_gave_up.load(std::memory_order_acquire); }

void enter_libdw_escape(LibdwEscape* escape) noexcept {
  g_escape_tid.store(own_tid(), std::memory_order_relaxed);
  g_escape.store(escape, std::memory_order_release);
}

void leave_libdw_escape() noexcept {
  g_escape.store(nullptr, std::memory_order_release);
  g_escape_tid.store(0, std::memory_order_relaxed);
}

void note_libdw_gave_up() noexcept {
  leave_libdw_escape();
  g_gave_up.store(true, std::memory_order_release);
}

}  // namespace profagent::symbolize
