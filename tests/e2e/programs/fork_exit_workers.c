// Prefork-style workers: forks N children that each burn CPU in worker_burn and end with
// _exit(0) (or _Exit(0) for odd ones); also a vfork child that ends with _exit(0) without
// exec. Prints "workers done, failures F".
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void worker_burn(void) {
  for (unsigned long i = 0; i < 60000000ul; ++i) sink += i * 3;
}

int main(int argc, char** argv) {
  int n = argc > 1 ? atoi(argv[1]) : 4;
  int failures = 0;
  for (int i = 0; i < n; ++i) {
    pid_t pid = fork();
    if (pid == 0) {
      worker_burn();
      if (i % 2) _Exit(0);
      _exit(0);
    }
    if (pid < 0) ++failures;
  }
  pid_t v = vfork();
  if (v == 0) _exit(0);
  if (v < 0) ++failures;
  int status;
  while (wait(&status) > 0)
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failures;
  printf("workers done, failures %d\n", failures);
  return 0;
}
