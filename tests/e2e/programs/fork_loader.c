// e2e program: a single-threaded parent that forks from its start and keeps forking while
// the agent's own threads use the dynamic loader: the dump thread's table checks, ticks and
// periodic dumps, and the unwind tables it builds inside dl_iterate_phdr for each library
// this program dlopens (with the agent's caches off, that takes milliseconds). Each child
// walks the loaded objects with dl_iterate_phdr (as a C++ throw or a dlopen does), then
// kills itself with SIGKILL (no exit dump: the parent can fork quickly); a child stuck on a
// loader lock copied from the parent dies of its alarm instead and is counted as failed.
// Usage: fork_loader MILLISECONDS_PER_LIBRARY [LIBRARY...]; prints "forks N failures F".
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile double sink;

static int count_object(struct dl_phdr_info* info, size_t size, void* data) {
  (void)info;
  (void)size;
  ++*(int*)data;
  return 0;
}

__attribute__((noinline)) static void some_work(void) {
  for (int k = 0; k < 20000; ++k) sink += k * 0.5;  // CPU samples keep the dump thread ticking
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int forks, failures;

static void fork_for(double ms) {
  double end = now_ms() + ms;
  do {
    some_work();
    pid_t pid = fork();
    if (pid < 0) exit(2);
    if (pid == 0) {
      alarm(3);
      int objects = 0;
      dl_iterate_phdr(count_object, &objects);
      if (objects == 0) _exit(3);
      raise(SIGKILL);
    }
    int status = 0;
    ++forks;
    if (waitpid(pid, &status, 0) != pid || !WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
      ++failures;
  } while (now_ms() < end);
}

int main(int argc, char** argv) {
  double ms = argc > 1 ? atof(argv[1]) : 200;
  fork_for(ms);
  for (int i = 2; i < argc; ++i) {
    if (dlopen(argv[i], RTLD_NOW | RTLD_LOCAL) == NULL) {
      printf("cannot load %s\n", argv[i]);
      return 2;
    }
    fork_for(ms);
  }
  printf("forks %d failures %d\n", forks, failures);
  return failures == 0 ? 0 : 1;
}
