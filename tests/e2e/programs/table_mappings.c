// e2e program: how many cached unwind tables (files named *.unwind, agent/runtime/unwind/
// unwind_cache.h) the process has mapped, read from /proc/self/maps with raw system calls
// (nothing goes through the agent's hooks before the count):
//   count    prints "tables N" from main and returns
//   walk     prints "before N", then allocates a 4 MiB block in allocate_here (with
//            PROFAGENT_HEAP_RATE=1 a sampled allocation: the hook walks the stack), prints
//            "after N" and returns (the block kept: the exit dump writes it)
//   linger   sleeps 200 ms and prints nothing: a run that outlives the agent's start grace,
//            so the tables of every object it maps are in the cache for the next runs
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "own_maps.h"

static void* volatile kept;

static int mapped_tables(void) {
  char* maps = read_own_maps();
  if (maps == NULL) return -1;
  int tables = 0;
  for (char* line = maps; *line != '\0';) {
    char* end = strchr(line, '\n');
    if (end != NULL) *end = '\0';
    size_t n = strlen(line);
    if (n > 7 && strcmp(line + n - 7, ".unwind") == 0) ++tables;
    if (end == NULL) break;
    line = end + 1;
  }
  return tables;
}

static void say(const char* what, int n) {
  char line[48];
  int len = snprintf(line, sizeof line, "%s %d\n", what, n);
  if (syscall(SYS_write, 1, line, (size_t)len) != len) syscall(SYS_exit_group, 2);
}

__attribute__((noinline)) static void allocate_here(void) {
  kept = malloc(4 << 20);
  if (kept == NULL) syscall(SYS_exit_group, 3);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "count";
  if (strcmp(mode, "linger") == 0) {
    struct timespec nap = {0, 200 * 1000000L};
    nanosleep(&nap, NULL);
    return 0;
  }
  if (strcmp(mode, "walk") == 0) {
    say("before", mapped_tables());
    allocate_here();
    say("after", mapped_tables());
    return 0;
  }
  say("tables", mapped_tables());
  return 0;
}
