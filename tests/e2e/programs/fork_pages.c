// Counts the pages of the agent's data that a fork costs. The child, told by its parent that
// the fork handlers on both sides are done, reads /proc/self/pagemap for the agent's writable
// mappings (its data and the anonymous rest of its .bss) and prints the page offsets mapped
// only by this process: right after a fork every page is shared, and one written since by
// either side is exclusive (the child's own copy, or the original the parent left it). The
// parent compares each page's frame number with the one it had before the fork: a page it
// wrote since has a new one (a copy; or a page it touched first since). Frame numbers need
// CAP_SYS_ADMIN: without it the parent prints -1. SIGPROF is held from before the fork on,
// as the kernel sees it (a system call the agent does not see): a sample would write a
// side's buffer. Before the forks the parent burns CPU at the agent's sampling rate and
// allocates (samples in its buffers, heap samples counted), as a shell has when it forks for
// each command; it forked once first, as a shell has too, so its samples start no dump
// thread (agent/dump_thread.h).
// Prints "parent PID", then per fork "pages N: +0x..." (the child's, offsets from the agent's
// data mapping) and "parent pages N: +0x...".
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

enum { kMaxPages = 1024 };

// The pagemap entry of each page of `data` (in order), at most kMaxPages. Returns the count,
// or -1. System calls only (nothing the agent hooks).
static int read_pagemap(const struct range* data, int n, uint64_t* entries) {
  int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int count = 0;
  for (int r = 0; r < n; ++r)
    for (uintptr_t page = data[r].start; page < data[r].end && count < kMaxPages;
         page += 4096) {
      if (syscall(SYS_pread64, fd, &entries[count], 8, (page / 4096) * 8) != 8) return -1;
      ++count;
    }
  syscall(SYS_close, fd);
  return count;
}

// The offset from the start of `data` of its i-th page.
static unsigned long page_offset(const struct range* data, int n, int i) {
  uintptr_t first = data[0].start;
  for (int r = 0; r < n; ++r) {
    int pages = (int)((data[r].end - data[r].start) / 4096);
    if (i < pages) return (unsigned long)(data[r].start + (uintptr_t)i * 4096 - first);
    i -= pages;
  }
  return 0;
}

// Prints "<what> N: +0x..." for the pages flagged in `hit` (N = -1: `known` is false).
static void say_pages(const char* what, const struct range* data, int n, const int* hit,
                      int pages, int known) {
  char out[4096], offsets[3500] = "";
  int count = 0, at = 0;
  for (int i = 0; i < pages; ++i) {
    if (!hit[i]) continue;
    ++count;
    if (at < (int)sizeof offsets - 24)
      at += snprintf(offsets + at, sizeof offsets - at, " +0x%lx", page_offset(data, n, i));
  }
  int used = snprintf(out, sizeof out, "%s %d:%s\n", what, known ? count : -1, offsets);
  syscall(SYS_write, 1, out, used);
}

static uint64_t before[kMaxPages], after[kMaxPages];
static int hit[kMaxPages];

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
    uint64_t prof = 1ull << (SIGPROF - 1);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &prof, NULL, 8);
    int pages = read_pagemap(data, n, before);
    if (pages < 0) return 1;
    pid_t child = fork();
    if (child < 0) return 1;
    if (child == 0) {
      char byte;
      // (System calls and snprintf only from here: nothing the agent hooks.)
      if (syscall(SYS_read, go[0], &byte, 1) != 1) _exit(2);
      if (read_pagemap(data, n, after) != pages) _exit(3);
      for (int i = 0; i < pages; ++i)
        hit[i] = (after[i] >> 63) & 1 && (after[i] >> 56) & 1;  // present, this process's only
      say_pages("pages", data, n, hit, pages, 1);
      _exit(0);
    }
    // The parent, its fork handlers done, while the child waits.
    if (read_pagemap(data, n, after) != pages) return 1;
    const uint64_t kFrame = (1ull << 55) - 1;
    int known = 0;
    for (int i = 0; i < pages; ++i) {
      known |= (before[i] & kFrame) != 0;
      hit[i] = (after[i] >> 63) & 1 && (after[i] & kFrame) != (before[i] & kFrame);
    }
    say_pages("parent pages", data, n, hit, pages, known);
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
