// e2e program: a parent that burns CPU, then forks children without exec; each child burns
// CPU in its own function and exits normally; one child is started with vfork+exec and one
// with posix_spawn (both run this program again with "leaf"). Usage: fork_storm [children]
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char** environ;
static volatile unsigned long sink;

__attribute__((noinline)) static void burn(unsigned long n) {
  for (unsigned long i = 0; i < n; ++i) sink += i ^ (i >> 3);
}
__attribute__((noinline)) void parent_work(void) { burn(300000000UL); }
__attribute__((noinline)) void child_work(void) { burn(200000000UL); }
static double thread_cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
/* A fixed CPU time (0.3 s), not a fixed work: an exec'ed leaf must live long enough for its
 * own sampler to take samples, however fast the machine. */
__attribute__((noinline)) void leaf_work(void) {
  do burn(1000000UL);
  while (thread_cpu_seconds() < 0.3);
}

int main(int argc, char** argv) {
  if (argc > 1 && strcmp(argv[1], "leaf") == 0) {
    leaf_work();
    return 0;
  }
  int children = argc > 1 ? atoi(argv[1]) : 4;
  parent_work();
  for (int i = 0; i < children; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      child_work();
      exit(0);
    }
  }
  pid_t v = vfork();
  if (v == 0) {
    execl("/proc/self/exe", argv[0], "leaf", (char*)NULL);
    _exit(127);
  }
  pid_t spawned;
  char* spawn_argv[] = {argv[0], "leaf", NULL};
  if (posix_spawn(&spawned, "/proc/self/exe", NULL, NULL, spawn_argv, environ) != 0) return 2;
  int failures = 0, status;
  while (wait(&status) > 0)
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  printf("children done, failures %d\n", failures);
  return failures == 0 ? 0 : 1;
}
