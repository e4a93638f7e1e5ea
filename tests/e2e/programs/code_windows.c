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
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "own_maps.h"

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
    unsigned long lo, hi;
    char perms[5];
    if (strstr(line, "libprofagent.so") != NULL &&
        sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) == 3 && perms[2] == 'x') {
      for (uintptr_t page = lo; page < hi; page += 4096) {
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
