/* Event-loop threads (threads e2e test): two threads each loop "work 20 us, then poll a
 * silent pipe for 1 ms" for the number of seconds given (default 5), counting poll calls that
 * fail with EINTR. They are often running when a snapshot is taken and often re-enter poll
 * right after: a snapshot request that is not tied to their running would land in the poll.
 * With the argument "stdin" it runs until stdin reaches end of file instead (the test then
 * decides how long, e.g. until enough dumps were written).
 * Prints "eintr=N rounds=M"; exits 0 if N is 0, else 1. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_pipe[2];
static atomic_int g_stop, g_eintr, g_rounds;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) void event_loop(void) {
  while (!atomic_load(&g_stop)) {
    double start = now();
    while (now() - start < 20e-6) {
    }
    struct pollfd p = {g_pipe[0], POLLIN, 0};
    if (poll(&p, 1, 1) < 0 && errno == EINTR) atomic_fetch_add(&g_eintr, 1);
    atomic_fetch_add(&g_rounds, 1);
  }
}

static void* run(void* unused) {
  (void)unused;
  pthread_setname_np(pthread_self(), "event-loop");
  event_loop();
  return NULL;
}

int main(int argc, char** argv) {
  int until_eof = argc > 1 && strcmp(argv[1], "stdin") == 0;
  int seconds = argc > 1 && !until_eof ? atoi(argv[1]) : 5;
  if (pipe(g_pipe) != 0) return 2;
  pthread_t threads[2];
  for (int i = 0; i < 2; ++i) pthread_create(&threads[i], NULL, run, NULL);
  if (until_eof) {
    char buf[256];
    for (;;) {
      ssize_t n = read(0, buf, sizeof buf);
      if (n == 0 || (n < 0 && errno != EINTR)) break;
    }
  } else {
    sleep((unsigned)seconds);
  }
  atomic_store(&g_stop, 1);
  for (int i = 0; i < 2; ++i) pthread_join(threads[i], NULL);
  printf("eintr=%d rounds=%d\n", atomic_load(&g_eintr), atomic_load(&g_rounds));
  return atomic_load(&g_eintr) == 0 ? 0 : 1;
}
