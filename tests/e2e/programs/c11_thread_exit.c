// A C11-threads program (thrd_create, which glibc starts through an internal pthread_create
// no interposer sees): c11_burn uses ~0.3 s of CPU and returns 42 to thrd_join; c11_exits
// ends with thrd_exit(-7); c11_sleeper still sleeps when main exits. The agent must profile
// the burner (its CPU timer) and write the threads profile at exit (two threads), and
// thrd_join must see 42 and -7.
#include <stdio.h>
#include <stdlib.h>
#include <threads.h>
#include <time.h>

static double thread_cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int c11_burn(void* arg) {
  (void)arg;
  volatile unsigned long x = 0;
  double until = thread_cpu_seconds() + 0.3;
  while (thread_cpu_seconds() < until)
    for (int i = 0; i < 10000; ++i) x = x * 31 + (unsigned long)i;
  return 42;
}

// Ends through thrd_exit with a negative result (unwinding through the agent's trampoline).
static int c11_exits(void* arg) {
  (void)arg;
  thrd_exit(-7);
}

static int c11_sleeper(void* arg) {
  (void)arg;
  struct timespec long_time = {60, 0};
  for (;;) thrd_sleep(&long_time, NULL);
  return 0;
}

int main(void) {
  thrd_t burner, sleeper;
  if (thrd_create(&burner, c11_burn, NULL) != thrd_success) return 2;
  int result = 0;
  if (thrd_join(burner, &result) != thrd_success) return 3;
  thrd_t exits;
  int exited = 0;
  if (thrd_create(&exits, c11_exits, NULL) != thrd_success) return 5;
  if (thrd_join(exits, &exited) != thrd_success) return 6;
  if (thrd_create(&sleeper, c11_sleeper, NULL) != thrd_success) return 4;
  struct timespec pause = {0, 50 * 1000 * 1000};
  thrd_sleep(&pause, NULL);
  printf("joined %d %d\n", result, exited);
  exit(0);
}
