// e2e program: how many 64 KiB windows of libprofagent.so's code, and how many pages of its
// data, a process has touched, read from its own page table (/proc/self/pagemap: bit 63 of an
// entry is "present", readable without privileges). Each code window is one page fault (the
// kernel maps a file page's 64 KiB fault-around window at once), paid again by every process
// a shell starts and by every fork child, whose page table starts empty for the agent's code
// (agent/core/code_layout.h). Each data page is one fault too (a copy of a relocated or
// written page, a zero page), in every process.
//   start  prints "windows N" for this process, from main: what the agent's start touched
//   fork   forks; the child prints "windows N" (what the agent's fork handlers touched since
//          the fork) and ends with a raw exit_group; the parent waits for it
//   data   prints "data N" from a destructor, which runs after the agent's exit work (its
//          atexit handler): the pages of the agent's data (relocated data, .data, .bss and
//          the rest of its zero-filled memory) that its start and its exit touched
//   linger sleeps 200 ms and prints nothing: a run that outlives the agent's start grace, so
//          the unwind tables of every object it maps are in the cache for the next runs
// Only system calls and stack buffers between the measured point and the count: nothing of
// the program's own goes through the agent's hooks (malloc, stdio).
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "own_maps.h"

// The span [*lo, *hi) of the executable sections of the ELF file at `path`, as file addresses
// (the library's text mapping also holds its read-only data, linked without a separate code
// segment: only pages of code are counted). 0 on success.
static int code_span(const char* path, uint64_t* lo, uint64_t* hi) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  Elf64_Ehdr eh;
  static Elf64_Shdr sh[256];
  int ok = syscall(SYS_pread64, fd, &eh, sizeof eh, 0) == (long)sizeof eh &&
           eh.e_shentsize == sizeof(Elf64_Shdr) && eh.e_shnum > 0 && eh.e_shnum <= 256 &&
           syscall(SYS_pread64, fd, sh, eh.e_shnum * sizeof(Elf64_Shdr), (off_t)eh.e_shoff) ==
               (long)(eh.e_shnum * sizeof(Elf64_Shdr));
  syscall(SYS_close, fd);
  if (!ok) return -1;
  *lo = UINT64_MAX;
  *hi = 0;
  for (int i = 0; i < eh.e_shnum; ++i) {
    if (!(sh[i].sh_flags & SHF_EXECINSTR) || sh[i].sh_size == 0) continue;
    if (sh[i].sh_addr < *lo) *lo = sh[i].sh_addr;
    if (sh[i].sh_addr + sh[i].sh_size > *hi) *hi = sh[i].sh_addr + sh[i].sh_size;
  }
  return *hi > *lo ? 0 : -1;
}

static int windows_of_agent_code(void) {
  char* maps = read_own_maps();
  if (maps == NULL) return -1;
  int pagemap = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap < 0) return -1;
  int windows = 0;
  uintptr_t last_window = 0;
  for (char* line = maps; *line != '\0';) {
    char* end = strchr(line, '\n');
    if (end != NULL) *end = '\0';
    unsigned long lo, hi, offset;
    char perms[5];
    const char* path = strchr(line, '/');
    uint64_t code_lo, code_hi;
    if (strstr(line, "libprofagent.so") != NULL &&
        sscanf(line, "%lx-%lx %4s %lx", &lo, &hi, perms, &offset) == 4 && perms[2] == 'x') {
      if (path == NULL || code_span(path, &code_lo, &code_hi) != 0) return -1;
      // (The code segment's file offsets are its addresses in the file: bias = lo - offset.)
      uintptr_t first = lo - offset + code_lo, last = lo - offset + code_hi;
      if (first < lo) first = lo;
      if (last > hi) last = hi;
      for (uintptr_t page = first & ~(uintptr_t)4095; page < last; page += 4096) {
        uint64_t entry = 0;
        if (syscall(SYS_pread64, pagemap, &entry, sizeof entry, (off_t)(page / 4096 * 8)) != 8)
          return -1;
        uintptr_t window = page >> 16;
        if ((entry >> 63) != 0 && (windows == 0 || window != last_window)) {
          ++windows;
          last_window = window;
        }
      }
    }
    if (end == NULL) break;
    line = end + 1;
  }
  syscall(SYS_close, pagemap);
  return windows;
}

// The span [*lo, *hi) of the writable segments of the ELF file at `path` (its data, relocated
// or not, and its zero-filled memory), as file addresses. 0 on success.
static int data_span(const char* path, uint64_t* lo, uint64_t* hi) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  Elf64_Ehdr eh;
  static Elf64_Phdr ph[64];
  int ok = syscall(SYS_pread64, fd, &eh, sizeof eh, 0) == (long)sizeof eh &&
           eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum > 0 && eh.e_phnum <= 64 &&
           syscall(SYS_pread64, fd, ph, eh.e_phnum * sizeof(Elf64_Phdr), (off_t)eh.e_phoff) ==
               (long)(eh.e_phnum * sizeof(Elf64_Phdr));
  syscall(SYS_close, fd);
  if (!ok) return -1;
  *lo = UINT64_MAX;
  *hi = 0;
  for (int i = 0; i < eh.e_phnum; ++i) {
    if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_W)) continue;
    if (ph[i].p_vaddr < *lo) *lo = ph[i].p_vaddr;
    if (ph[i].p_vaddr + ph[i].p_memsz > *hi) *hi = ph[i].p_vaddr + ph[i].p_memsz;
  }
  return *hi > *lo ? 0 : -1;
}

// The pages of the agent's writable segments present in this process's page table (the load
// bias is the start of its first mapping, the one at file offset 0).
static int pages_of_agent_data(void) {
  char* maps = read_own_maps();
  if (maps == NULL) return -1;
  for (char* line = maps; *line != '\0';) {
    char* end = strchr(line, '\n');
    if (end != NULL) *end = '\0';
    unsigned long lo, hi, offset;
    char perms[5];
    const char* path = strchr(line, '/');
    if (strstr(line, "libprofagent.so") != NULL &&
        sscanf(line, "%lx-%lx %4s %lx", &lo, &hi, perms, &offset) == 4 && offset == 0) {
      uint64_t data_lo, data_hi;
      if (path == NULL || data_span(path, &data_lo, &data_hi) != 0) return -1;
      int pagemap =
          (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
      if (pagemap < 0) return -1;
      int pages = 0;
      for (uintptr_t page = (lo + data_lo) & ~(uintptr_t)4095; page < lo + data_hi;
           page += 4096) {
        uint64_t entry = 0;
        if (syscall(SYS_pread64, pagemap, &entry, sizeof entry, (off_t)(page / 4096 * 8)) != 8)
          return -1;
        pages += (int)(entry >> 63);
      }
      syscall(SYS_close, pagemap);
      return pages;
    }
    if (end == NULL) break;
    line = end + 1;
  }
  return -1;
}

static void report(const char* what, int count) {
  char line[32];
  int n = snprintf(line, sizeof line, "%s %d\n", what, count);
  if (syscall(SYS_write, 1, line, (size_t)n) != n) syscall(SYS_exit_group, 2);
}

static int g_count_data_at_exit;

__attribute__((destructor)) static void count_data_at_exit(void) {
  if (g_count_data_at_exit) report("data", pages_of_agent_data());
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "linger") == 0) {
    struct timespec pause = {0, 200 * 1000 * 1000};
    nanosleep(&pause, NULL);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "fork") == 0) {
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      report("windows", windows_of_agent_code());
      syscall(SYS_exit_group, 0);
    }
    int status;
    return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? 0 : 1;
  }
  if (argc > 1 && strcmp(argv[1], "data") == 0) {
    g_count_data_at_exit = 1;
    return 0;
  }
  report("windows", windows_of_agent_code());
  return 0;
}
