// e2e library: what of libprofagent.so a process has touched, read from its own page table
// (/proc/self/pagemap: bit 63 of an entry is "present", readable without privileges): the
// 64 KiB windows of its code (each one page fault: the kernel maps a file page's 64 KiB
// fault-around window at once) and the pages of its data (each one fault too: a copy of a
// relocated or written page, a zero page). Used by code_windows.
// A dependency of the program, its constructor runs before the agent's (preloaded objects
// are initialised after the program's own libraries): the report it registers with atexit
// then runs after the agent's exit work, which the agent registered after it.
// Only system calls and stack buffers between the measured point and the count: nothing of
// the program's own goes through the agent's hooks (malloc, stdio).
#include "agent_pages.h"

#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "own_maps.h"

// One of the header tables of the ELF file at `path` (`program`: its program headers, else
// its section headers), read into `table`, which holds `max` entries of `entry_size` bytes.
// The number of entries, or -1.
static int read_header_table(const char* path, int program, void* table, int max,
                             size_t entry_size) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  Elf64_Ehdr eh;
  int n = -1;
  if (syscall(SYS_pread64, fd, &eh, sizeof eh, 0) == (long)sizeof eh) {
    const int count = program ? eh.e_phnum : eh.e_shnum;
    const size_t size = program ? eh.e_phentsize : eh.e_shentsize;
    const off_t at = (off_t)(program ? eh.e_phoff : eh.e_shoff);
    if (size == entry_size && count > 0 && count <= max &&
        syscall(SYS_pread64, fd, table, count * size, at) == (long)(count * size))
      n = count;
  }
  syscall(SYS_close, fd);
  return n;
}

// The executable sections of the ELF file at `path`, as [lo, hi) file addresses in `ranges`
// (pairs; the library's text mapping also holds its read-only data, linked without a
// separate code segment: only pages of code are counted). Their number, or -1.
static int code_ranges(const char* path, uint64_t (*ranges)[2], int max) {
  static Elf64_Shdr sh[256];
  const int n = read_header_table(path, 0, sh, 256, sizeof(Elf64_Shdr));
  int count = 0;
  for (int i = 0; i < n && count < max; ++i) {
    if (!(sh[i].sh_flags & SHF_EXECINSTR) || sh[i].sh_size == 0) continue;
    ranges[count][0] = sh[i].sh_addr;
    ranges[count][1] = sh[i].sh_addr + sh[i].sh_size;
    ++count;
  }
  return count > 0 ? count : -1;
}

struct mapping {
  unsigned long lo, hi, offset;
  char perms[5];
  const char* path;
};

// The next mapping of libprofagent.so in the maps text at *cursor, which it advances (cutting
// the text into lines as it goes). 1 if there is one, 0 at the end.
static int next_agent_mapping(char** cursor, struct mapping* m) {
  while (*cursor != NULL && **cursor != '\0') {
    char* line = *cursor;
    char* end = strchr(line, '\n');
    if (end != NULL) *end = '\0';
    *cursor = end != NULL ? end + 1 : NULL;
    m->path = strchr(line, '/');
    if (strstr(line, "libprofagent.so") != NULL && m->path != NULL &&
        sscanf(line, "%lx-%lx %4s %lx", &m->lo, &m->hi, m->perms, &m->offset) == 4)
      return 1;
  }
  return 0;
}

// Whether the page at `page` is present in this process's page table (bit 63 of its pagemap
// entry); -1 if the entry cannot be read.
static int page_present(int pagemap, uintptr_t page) {
  uint64_t entry = 0;
  if (syscall(SYS_pread64, pagemap, &entry, sizeof entry, (off_t)(page / 4096 * 8)) != 8)
    return -1;
  return (int)(entry >> 63);
}

int agent_code_windows(void) {
  char* maps = read_own_maps();
  if (maps == NULL) return -1;
  int pagemap = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return -1;
  int windows = 0;
  uintptr_t last_window = 0;
  struct mapping m;
  for (char* cursor = maps; next_agent_mapping(&cursor, &m);) {
    if (m.perms[2] != 'x') continue;
    uint64_t ranges[16][2];
    const int count = code_ranges(m.path, ranges, 16);
    if (count < 0) return -1;
    for (int r = 0; r < count; ++r) {  // (in address order, as the linker laid them out)
      // (The code segment's file offsets are its addresses in the file: bias = lo - offset.)
      uintptr_t first = m.lo - m.offset + ranges[r][0], last = m.lo - m.offset + ranges[r][1];
      if (first < m.lo) first = m.lo;
      if (last > m.hi) last = m.hi;
      for (uintptr_t page = first & ~(uintptr_t)4095; page < last; page += 4096) {
        const int present = page_present(pagemap, page);
        if (present < 0) return -1;
        uintptr_t window = page >> 16;
        if (present && (windows == 0 || window != last_window)) {
          ++windows;
          last_window = window;
        }
      }
    }
  }
  syscall(SYS_close, pagemap);
  return windows;
}

// The span [*lo, *hi) of the writable segments of the ELF file at `path` (its data, relocated
// or not, and its zero-filled memory), as file addresses. 0 on success.
static int data_span(const char* path, uint64_t* lo, uint64_t* hi) {
  static Elf64_Phdr ph[64];
  const int n = read_header_table(path, 1, ph, 64, sizeof(Elf64_Phdr));
  *lo = UINT64_MAX;
  *hi = 0;
  for (int i = 0; i < n; ++i) {
    if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_W)) continue;
    if (ph[i].p_vaddr < *lo) *lo = ph[i].p_vaddr;
    if (ph[i].p_vaddr + ph[i].p_memsz > *hi) *hi = ph[i].p_vaddr + ph[i].p_memsz;
  }
  return *hi > *lo ? 0 : -1;
}

// The pages of the agent's writable segments present in this process's page table (the load
// bias is the start of its first mapping, the one at file offset 0).
int agent_data_pages(void) {
  char* maps = read_own_maps();
  if (maps == NULL) return -1;
  struct mapping m;
  for (char* cursor = maps; next_agent_mapping(&cursor, &m);) {
    if (m.offset != 0) continue;
    uint64_t data_lo, data_hi;
    if (data_span(m.path, &data_lo, &data_hi) != 0) return -1;
    int pagemap = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) return -1;
    int pages = 0;
    for (uintptr_t page = (m.lo + data_lo) & ~(uintptr_t)4095; page < m.lo + data_hi;
         page += 4096) {
      const int present = page_present(pagemap, page);
      if (present < 0) return -1;
      pages += present;
    }
    syscall(SYS_close, pagemap);
    return pages;
  }
  return -1;
}

void agent_pages_report(const char* what, int count) {
  char line[32];
  int n = snprintf(line, sizeof line, "%s %d\n", what, count);
  if (syscall(SYS_write, 1, line, (size_t)n) != n) syscall(SYS_exit_group, 2);
}

static int g_report_at_exit;

static void report_data_at_exit(void) {
  if (g_report_at_exit) agent_pages_report("data", agent_data_pages());
}

__attribute__((constructor)) static void register_report(void) { atexit(report_data_at_exit); }

void agent_data_pages_at_exit(void) { g_report_at_exit = 1; }
