// e2e program: how many 64 KiB windows of libprofagent.so's code a process has touched, read
// from its own page table (/proc/self/pagemap: bit 63 of an entry is "present", readable
// without privileges). Each window is one page fault (the kernel maps a file page's 64 KiB
// fault-around window at once), paid again by every process a shell starts and by every
// fork child, whose page table starts empty for the agent's code (agent/core/code_layout.h).
//   start  prints "windows N" for this process, from main: what the agent's start touched
//   fork   forks; the child prints "windows N" (what the agent's fork handlers touched since
//          the fork) and ends with a raw exit_group; the parent waits for it
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

static void report(int windows) {
  char line[32];
  int n = snprintf(line, sizeof line, "windows %d\n", windows);
  if (syscall(SYS_write, 1, line, (size_t)n) != n) syscall(SYS_exit_group, 2);
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
      report(windows_of_agent_code());
      syscall(SYS_exit_group, 0);
    }
    int status;
    return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0
               ? 0 : 1;
  }
  report(windows_of_agent_code());
  return 0;
}
