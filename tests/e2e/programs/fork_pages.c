// Counts the pages of the agent's data that a fork costs: its child, told by its parent that
// the fork handlers on both sides are done, reads /proc/self/pagemap for the agent's writable
// mappings (its data and the anonymous rest of its .bss) and prints the page offsets mapped
// only by this process. Right after a fork every page is shared; one written since by either
// side (the child's own copy, or the original the parent left it by copying) is exclusive.
// Before the forks the parent burns CPU at the agent's sampling rate and allocates (samples in
// its buffers, heap samples counted), as a shell has when it forks for each command; it forked
// once first, as a shell has too, so its samples start no dump thread (agent/dump_thread.h).
// Prints "parent PID", then "pages N: +0x... +0x..." (offsets from the agent's data mapping),
// one line per fork.
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static void* volatile kept;

static void burn_ms(int ms) {
  struct timespec t0, t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  do {
    for (int i = 0; i < 10000; ++i) sink += (uint64_t)i * i;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

struct range { uintptr_t start, end; };

// The agent's writable mappings: its file's rw-p one and the anonymous ones that follow it.
static int agent_data(struct range* out, int max) {
  FILE* f = fopen("/proc/self/maps", "re");
  if (f == NULL) return 0;
  char line[512];
  int n = 0;
  uintptr_t last_end = 0;
  while (fgets(line, sizeof line, f) != NULL && n < max) {
    unsigned long start, end;
    char perms[8] = "";
    int path_at = 0;
    if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &path_at) < 3) continue;
    const char* path = line + path_at;
    int ours = strstr(path, "libprofagent.so") != NULL;
    int anonymous = *path == '\n' || *path == '\0';
    if (strcmp(perms, "rw-p") == 0 && (ours || (anonymous && n > 0 && start == last_end))) {
      out[n].start = start;
      out[n].end = end;
      ++n;
      last_end = end;
    } else if (n > 0 && start != last_end) {
      break;
    }
  }
  fclose(f);
  return n;
}

// Prints "<what> N: +0x..." for the pages of `data` mapped only by this process. System
// calls and snprintf only (nothing the agent hooks). Returns 0, or non-zero on an error.
static int print_own_pages(const char* what, const struct range* data, int n) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 3;
  char out[4096], offsets[3500] = "";
  int count = 0, at = 0;
  for (int r = 0; r < n; ++r) {
    for (uintptr_t page = data[r].start; page < data[r].end; page += 4096) {
      uint64_t entry = 0;
      if (syscall(SYS_pread64, fd, &entry, sizeof entry, (page / 4096) * 8) != 8) return 4;
      int present = (entry >> 63) & 1, exclusive = (entry >> 56) & 1;
      if (!present || !exclusive) continue;
      ++count;
      if (at < (int)sizeof offsets - 24)
        at += snprintf(offsets + at, sizeof offsets - at, " +0x%lx",
                       (unsigned long)(page - data[0].start));
    }
  }
  syscall(SYS_close, fd);
  int used = snprintf(out, sizeof out, "%s %d:%s\n", what, count, offsets);
  syscall(SYS_write, 1, out, used);
  return 0;
}

int main(void) {
  struct range data[8];
  printf("parent %d\n", (int)getpid());
  fflush(stdout);
  pid_t first = fork();
  if (first == 0) _exit(0);
  if (first < 0 || waitpid(first, NULL, 0) != first) return 1;
  burn_ms(60);
  for (int i = 0; i < 2000; ++i) {  // heap samples
    kept = malloc(4096 + i);
    free(kept);
  }
  int n = agent_data(data, 8);
  if (n == 0) {
    puts("no agent data mapping");
    return 1;
  }
  for (int fork_no = 0; fork_no < 3; ++fork_no) {
    burn_ms(20);
    int go[2];
    if (pipe(go) != 0) return 1;
    fflush(stdout);
    // SIGPROF held from the fork on, as the kernel sees it (a system call the agent does not
    // see): a sample would write a side's buffer. The child's new timer starts unheld.
    uint64_t prof = 1ull << (SIGPROF - 1);
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      char byte;
      // (System calls only from here: nothing the agent hooks.)
      syscall(SYS_rt_sigprocmask, SIG_BLOCK, &prof, NULL, 8);
      if (syscall(SYS_read, go[0], &byte, 1) != 1) _exit(2);
      _exit(print_own_pages("pages", data, n));
    }
    // The parent, its fork handlers done, while the child waits: the pages it wrote since.
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &prof, NULL, 8);
    if (print_own_pages("parent pages", data, n) != 0) return 1;
    syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &prof, NULL, 8);
    if (write(go[1], "g", 1) != 1) return 1;
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return 1;
    close(go[0]);
    close(go[1]);
  }
  return 0;
}
