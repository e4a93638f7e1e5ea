// e2e program: a parent that waits 400 ms, then forks a child that burns ~150 ms of CPU and
// ends with exit(0) (so it writes its profiles). Prints "start S fork F child P" (CLOCK_REALTIME
// nanoseconds at main and just before the fork, the child's pid) once the child has ended.
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static void burn_in_late_child(void) {
  struct timespec cpu;
  do {
    for (int i = 0; i < 100000; ++i) sink += (unsigned long)i * 7;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
  } while (cpu.tv_nsec < 150000000 && cpu.tv_sec == 0);
}

int main(void) {
  long long start = now_ns();
  struct timespec wait = {0, 400 * 1000 * 1000};
  nanosleep(&wait, NULL);
  long long fork_at = now_ns();
  pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    burn_in_late_child();
    return 0;
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return 1;
  printf("start %lld fork %lld child %d\n", start, fork_at, (int)child);
  return 0;
}
