// e2e program: threads allocate non-stop (at PROFAGENT_HEAP_RATE=1 every allocation unwinds,
// and fast CPU sampling unwinds them all the time) while the main thread forks children
// that burn a little CPU, allocate and exit. A fork that lands while
// another thread is inside the unwinder must not leave the child deadlocked.
// Usage: fork_while_unwinding [children]
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;

static void* allocate_forever(void* arg) {
  (void)arg;
  while (!stop) {
    void* p = malloc(64);
    free(p);
  }
  return NULL;
}

int main(int argc, char** argv) {
  int children = argc > 1 ? atoi(argv[1]) : 100;
  pthread_t t[3];
  for (int i = 0; i < 3; ++i) pthread_create(&t[i], NULL, allocate_forever, NULL);
  int failures = 0;
  for (int i = 0; i < children; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      // A few ms of CPU: the child's own CPU samples unwind (once with libunwind's stepping path
      // and its global cache lock; now with the agent's lock-free walker).
      volatile unsigned long x = 0;
      for (unsigned long j = 0; j < 3000000; ++j) x += j;
      for (int j = 0; j < 100; ++j) free(malloc(128));
      _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
      ++failures;
  }
  stop = 1;
  for (int i = 0; i < 3; ++i) pthread_join(t[i], NULL);
  printf("children %d failures %d\n", children, failures);
  return failures == 0 ? 0 : 1;
}
