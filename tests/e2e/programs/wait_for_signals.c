// e2e program: a long-running process that works (CPU in a named function) until its stdin
// is closed, then prints what it did and exits with status 3. Prints "ready" once started.
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) static void steady_work(void) {
  for (unsigned long i = 0; i < 2000000; ++i) sink += i * i;
}

int main(void) {
  printf("ready\n");
  fflush(stdout);
  unsigned long rounds = 0;
  for (;;) {
    steady_work();
    ++rounds;
    struct pollfd p = {0, POLLIN, 0};
    if (poll(&p, 1, 0) > 0) {
      char buf[64];
      if (read(0, buf, sizeof buf) <= 0) break;
    }
  }
  printf("done %s\n", rounds > 0 ? "with work" : "without work");
  return 3;
}
