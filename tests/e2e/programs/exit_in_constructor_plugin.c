// A library whose constructor burns CPU in burn_in_constructor for 0.3 s, then calls
// exit(3): the exit dump then runs on a thread that holds the loader's lock (it is inside
// dlopen). Loaded by exit_in_constructor.
#include <stdlib.h>
#include <time.h>

volatile unsigned long plugin_sink;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void burn_in_constructor(double seconds) {
  double end = now() + seconds;
  unsigned long x = 1;
  while (now() < end)
    for (int i = 0; i < 100000; ++i) x = x * 6364136223846793005ul + 1442695040888963407ul;
  plugin_sink = x;
}

__attribute__((constructor)) static void exit_while_loading(void) {
  burn_in_constructor(0.3);
  exit(3);
}
